"""Autoencoder: a scikit-learn transformer that learns a code of its input by
reconstructing it (seed 002, section 9; seed 003, section 11.2).

The network is an encoder of dense layers whose last layer is the code, and
a decoder that mirrors it (or has the sizes given) back to the input's
width. The loss matches the data: half the squared error with a linear
output for real-valued data, binary cross-entropy with a logistic output
for data in [0, 1] (seed 002, section 9). The kinds combine:

- denoising (seed 003, 11.2.2): the encoder sees the input corrupted during
  training only, by Gaussian noise or by masking (each input zeroed with
  probability ``noise_level``, the others left as they are); the loss
  compares the reconstruction with the clean input;
- sparse (seed 003, 11.2.1): an L1 penalty on the code, or a KL divergence
  between a target activation and each code unit's mean activation over the
  batch (logistic code);
- contractive (seed 003, 11.2.3): the squared Frobenius norm of each encoder
  layer's Jacobian with respect to its own input, computed exactly in
  closed form (src/ops/penalty.c); for a one-layer encoder that is the
  encoder's Jacobian, for deeper ones the sum over layers;
- tied weights: each decoder layer uses the transpose of its mirror encoder
  layer's weight, one shared parameter trained by both uses;
- layer-wise pre-training (seed 002, section 9): each encoder layer is first
  trained as a one-layer autoencoder of the codes of the layer below, then
  the whole stack is fine-tuned.

The core runs it: penalties are added terms of the graph's one loss node,
so the training machinery of the MLPs (adam, sgd, lbfgs, schedules, early
stopping, sample weights, progress, threads, pickling, divergence) applies
unchanged.
"""

import copy
import warnings

import numpy as np
from scipy.special import expit
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from dagnet import _core
from dagnet._threads import quiet_blas
from dagnet.neural_network._base import ACTIVATIONS, BaseMLP, _check_option, _check_range, \
    _is_int, store_params
from dagnet.neural_network._generative import (check_codes, check_decoder_output,
                                               check_layer_stacks, layer_list,
                                               resolve_input_shape, validate_dense)
from dagnet.nn.dense import Dense

LOSSES = ("squared_error", "binary_cross_entropy")
NOISES = (None, "gaussian", "mask")
SPARSITIES = (None, "l1", "kl")
PRETRAINS = (None, "layerwise")
DENSE_ONLY = ("tied_weights", "contractive", "pretrain")


def _sizes(name, value):
    """An int or a sequence of ints > 0, as a list."""
    sizes = [value] if not hasattr(value, "__iter__") else list(value)
    if not sizes or not all(_is_int(h) and h > 0 for h in sizes):
        raise ValueError(f"The '{name}' parameter of {{est}} must be an int or a non-empty "
                         f"sequence of ints > 0. Got {value!r} instead.")
    return sizes


class Autoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseMLP):
    """Autoencoder: learns a code of X by reconstructing X; ``transform``
    gives the code, ``inverse_transform`` decodes one, ``predict`` gives the
    reconstruction and ``score_samples`` each sample's reconstruction error
    (negated: lower means more unusual, for anomaly detection).

    The core computes in float32: X may be float32 or float64 (or ints),
    dense or scipy.sparse (densified), with values within float32's range;
    transform, inverse_transform and predict return float32 for float32
    input and float64 otherwise, score_samples and score float64.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(32,)
        Units of the encoder's layers; the last is the code.
    decoder_layer_sizes : sequence of int or None, default=None
        Units of the decoder's hidden layers (its output has the input's
        width). None mirrors the encoder: (64, 16) decodes through (64,).
    encoder_layers, decoder_layers : list of dagnet.nn layers, or None
        Any layer stack instead of the dense layers, for instance
        convolutions: each row is reshaped to ``input_shape``, the encoder's
        output (flattened) is the code, and the decoder maps the code (in
        the encoder's output shape) to as many values as a row has, its
        last layer linear (the loss adds the logistic for
        'binary_cross_entropy'). decoder_layers=None: one Dense layer from the
        code to the input. hidden_layer_sizes, decoder_layer_sizes and
        activation then do not apply, nor do tied_weights, contractive and
        pretrain, which need the dense encoder.
    input_shape : tuple of int or None, default=None
        The shape each row is read as by the encoder layers, e.g. (1, 8, 8)
        (one entry may be -1); None: the rows as they are.
    activation : str, default='relu'
        Activation of the hidden layers (scikit-learn's 'identity',
        'logistic', 'tanh', 'relu', or any of dagnet's).
    code_activation : str, default='identity'
        Activation of the code layer; 'logistic' for ``sparsity='kl'``.
    loss : {'squared_error', 'binary_cross_entropy'}, default='squared_error'
        Half the squared error with a linear output layer, or binary
        cross-entropy with a logistic output (data in [0, 1]).
    tied_weights : bool, default=False
        Decoder layers use the transposed weights of their mirror encoder
        layers (needs the mirrored decoder).
    noise : {None, 'gaussian', 'mask'}, default=None
        Corruption of the input during training (denoising autoencoder).
    noise_level : float, default=0.1
        Standard deviation of the Gaussian noise, or the probability that
        masking zeroes an input.
    sparsity : {None, 'l1', 'kl'}, default=None
        Penalty on the code: ``sparsity_weight`` times the batch mean of
        sum |h| ('l1'), or times sum_j KL(sparsity_target || mean_j) ('kl').
    sparsity_weight : float, default=1e-3
    sparsity_target : float, default=0.05
        The target mean activation rho of 'kl'.
    contractive : float, default=0.0
        Weight of the contractive penalty: the batch mean of the squared
        Frobenius norm of the encoder's Jacobian ||dh/dx||_F^2, exact, in
        closed form. With several encoder layers it is the sum over layers
        of each layer's Jacobian with respect to its own input (a layer-wise
        penalty; the norm of the whole encoder's Jacobian, a product of the
        layers', is not that sum). Needs activations fused into dense layers:
        not 'gelu' or 'silu'.
    pretrain : {None, 'layerwise'}, default=None
        'layerwise' trains each encoder layer (with its mirror decoder
        layer) as a one-layer autoencoder of the codes below, with the same
        solver settings, before fine-tuning the stack (needs the mirrored
        decoder).
    solver, alpha, batch_size, learning_rate, learning_rate_init, power_t,
    max_iter, shuffle, random_state, tol, verbose, warm_start, momentum,
    nesterovs_momentum, early_stopping, validation_fraction, beta_1, beta_2,
    epsilon, n_iter_no_change, max_fun, early_stopping_metric,
    schedule_adam, n_threads :
        As in :class:`dagnet.MLPRegressor`. Early stopping's score is
        ``score`` (the negative mean squared reconstruction error).

    Attributes
    ----------
    coefs_ : list of ndarray
        Weights of the encoder's layers, then of the decoder's own (none
        with tied weights: those are the encoder's, transposed).
    intercepts_ : list of ndarray
        Biases of every layer, encoder then decoder.
    n_components_ : int
        Width of the code.
    out_activation_ : str
        'identity' or 'logistic', from the loss.
    loss_, loss_curve_, best_loss_, n_iter_, t_, validation_scores_,
    best_validation_score_, n_features_in_, feature_names_in_ :
        As in :class:`dagnet.MLPRegressor`; the losses include the penalties.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from dagnet import Autoencoder
    >>> X = load_digits().data / 16
    >>> ae = Autoencoder((64, 16), loss="binary_cross_entropy", max_iter=30,
    ...                  random_state=0).fit(X)
    >>> ae.transform(X[:3]).shape
    (3, 16)
    >>> ae.get_feature_names_out()[:2].tolist()
    ['autoencoder0', 'autoencoder1']
    >>> bool(ae.score(X) > -0.03)  # mean squared error per pixel below 0.03
    True
    """

    dropout = 0.0          # BaseMLP's options an autoencoder does not offer
    normalization = None

    def __init__(self, hidden_layer_sizes=(32,), *, decoder_layer_sizes=None,
                 encoder_layers=None, decoder_layers=None, input_shape=None, activation="relu",
                 code_activation="identity", loss="squared_error", tied_weights=False,
                 noise=None, noise_level=0.1, sparsity=None, sparsity_weight=1e-3,
                 sparsity_target=0.05, contractive=0.0, pretrain=None, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 early_stopping_metric="score", schedule_adam=False, n_threads=None):
        store_params(self, locals())

    # --- the parameters ----------------------------------------------------------

    def _check_extra_params(self):
        _check_option("code_activation", self.code_activation, ACTIVATIONS)
        _check_option("loss", self.loss, LOSSES)
        _check_option("noise", self.noise, NOISES)
        _check_option("sparsity", self.sparsity, SPARSITIES)
        _check_option("pretrain", self.pretrain, PRETRAINS)
        _check_range("noise_level", self.noise_level, 0, 1 if self.noise == "mask" else None,
                     high_closed=False)
        _check_range("sparsity_weight", self.sparsity_weight, 0, None)
        _check_range("sparsity_target", self.sparsity_target, 0, 1, False, False)
        _check_range("contractive", self.contractive, 0, None)
        if not isinstance(self.tied_weights, (bool, np.bool_)):
            raise ValueError(f"The 'tied_weights' parameter of {{est}} must be an instance of "
                             f"'bool'. Got {self.tied_weights!r} instead.")
        if self.decoder_layer_sizes is not None:
            _sizes("decoder_layer_sizes", self.decoder_layer_sizes)
            if self.tied_weights or self.pretrain:
                raise ValueError("tied_weights and pretrain='layerwise' need the decoder that "
                                 "mirrors the encoder; leave decoder_layer_sizes=None")
        self._check_layer_params()
        if self.sparsity == "kl" and ACTIVATIONS[self.code_activation] != "sigmoid":
            raise ValueError("sparsity='kl' compares mean activations with a target in (0, 1); "
                             "use code_activation='logistic'")
        if self.contractive > 0:
            for act in (self.activation, self.code_activation):
                if not _core.act_fusable(ACTIVATIONS[act]):
                    raise ValueError(f"the contractive penalty needs activations whose "
                                     f"derivative follows from their output; {act!r} does not"
                                     f": use 'relu', 'tanh', 'logistic', 'softplus', ...")

    def _check_layer_params(self):
        """encoder, decoder and input_shape."""
        if not check_layer_stacks(self):
            return
        used = [name for name in DENSE_ONLY if getattr(self, name)]
        if used:
            raise ValueError(f"{', '.join(used)} need the dense encoder of hidden_layer_sizes; "
                             f"with encoder_layers leave them at their defaults")

    def _core_loss(self):
        return self.loss

    def _out_activation(self):
        return "logistic" if self.loss == "binary_cross_entropy" else "identity"

    def _stratify_split(self):
        return False

    def _architecture(self, hidden, n_features, n_out, target_shape, seed):
        arch = super()._architecture(hidden, n_features, n_out, target_shape, seed)
        if self.encoder_layers is not None:
            arch.update(input_shape=resolve_input_shape(self.input_shape, arch["n_features"]),
                        encoder_layers=copy.deepcopy(layer_list("encoder_layers", self.encoder_layers)),
                        decoder_layers=(None if self.decoder_layers is None else
                                        copy.deepcopy(layer_list("decoder_layers",
                                                                 self.decoder_layers))))
        dec = (hidden[-2::-1] if self.decoder_layer_sizes is None
               else _sizes("decoder_layer_sizes", self.decoder_layer_sizes))
        arch.update(decoder=list(dec), code_activation=ACTIVATIONS[self.code_activation],
                    tied=bool(self.tied_weights), noise=self.noise,
                    noise_level=float(self.noise_level), sparsity=self.sparsity,
                    sparsity_weight=float(self.sparsity_weight),
                    sparsity_target=float(self.sparsity_target),
                    contractive=float(self.contractive))
        return arch

    # --- the network -------------------------------------------------------------

    @staticmethod
    def _layer_acts(arch):
        """Activations of the encoder's layers and of the decoder's."""
        enc = [arch["activation"]] * (len(arch["hidden"]) - 1) + [arch["code_activation"]]
        return enc, [arch["activation"]] * len(arch["decoder"]) + ["identity"]

    @staticmethod
    def _emit_decoder(g, h, arch, encoders):
        """Decoder layers dense_L... from the code h; with `encoders` (the
        encoder's dense nodes) tied to their transposed weights."""
        init = dict(kernel_initializer="sklearn", kernel_scale=arch["factor"],
                    bias_initializer="sklearn", bias_scale=arch["factor"])
        L = len(arch["hidden"])
        units = arch["decoder"] + [arch["n_features"]]
        for j, (u, act) in enumerate(zip(units, Autoencoder._layer_acts(arch)[1])):
            name = f"dense_{L + j}"
            if encoders is None:
                h = Dense(u, activation=act, name=name, **init).emit(g, [h])
            else:
                e = encoders[L - 1 - j]
                h = g.add_node("linear_tied", [h, e], units=u, act=act,
                               b_init="sklearn", b_scale=arch["factor"])
                g.set_name(h, name)
        return h

    @staticmethod
    def _emit_input(arch):
        """A graph with the inputs X, target, sample_weight, and X corrupted
        as arch asks: (graph, X, weights, the encoder's input)."""
        g = _core.Graph()
        x, t, w = (g.add_input(shape) for shape in ((arch["n_features"],),) * 2 + ((1,),))
        for node, name in ((x, "X"), (t, "target"), (w, "sample_weight")):
            g.set_name(node, name)
        h = x
        if arch["noise"] is not None and arch["noise_level"] > 0:
            h = (g.add_node("gaussian_noise", [x], scale=arch["noise_level"])
                 if arch["noise"] == "gaussian"
                 else g.add_node("masking_noise", [x], rate=arch["noise_level"]))
            g.set_name(h, "noise")
        return g, x, w, h

    @staticmethod
    def _emit_loss(g, arch, x, w, out, code, terms):
        """The sparsity penalty on the code, the outputs (reconstruction,
        code) and the loss of out against X plus the penalties; compiles."""
        if arch["sparsity"] == "l1":
            terms.append(g.add_node("l1_penalty", [code, w], scale=arch["sparsity_weight"]))
        elif arch["sparsity"] == "kl":
            terms.append(g.add_node("kl_sparsity", [code, w], scale=arch["sparsity_weight"],
                                    rate=arch["sparsity_target"]))
        g.set_outputs([out, code])
        while len(terms) > 1:
            terms = [g.add_node("add", terms[:2])] + terms[2:]
        # the clean input is the target: the target input stays unused (the
        # estimators' convention of inputs X, target, weights), and training
        # copies each batch's rows once
        g.set_name(g.add_node("loss", [out, x, w] + terms, loss=arch["loss"]), "loss")
        g.compile(arch["seed"])
        return g

    @staticmethod
    def _emit_layer_decoder(g, h, arch):
        """The decoder layers (or one Dense layer) from the code h in the
        encoder's output shape, flattened to the input's width."""
        n = arch["n_features"]
        if arch["decoder_layers"] is None:
            if len(g.infer_shape(h)[0]) != 1:
                h = g.add_node("reshape", [h], shape=(-1,))
            return Dense(n, name="dense_out").emit(g, [h])
        for layer in copy.deepcopy(arch["decoder_layers"]):
            h = layer.emit(g, [h])
        shape = g.infer_shape(h)[0]
        check_decoder_output(shape, n)
        return h if len(shape) == 1 else g.add_node("reshape", [h], shape=(-1,))

    @staticmethod
    def _make_graph(arch):
        """X -> corruption -> encoder -> code -> decoder -> loss(., X) plus
        the penalties (weighted by the sample weights as the loss is);
        outputs the reconstruction and the code."""
        if "encoder_layers" in arch:
            return Autoencoder._make_layer_graph(arch)
        g, x, w, h = Autoencoder._emit_input(arch)
        init = dict(kernel_initializer="sklearn", kernel_scale=arch["factor"],
                    bias_initializer="sklearn", bias_scale=arch["factor"])
        encoders, terms = [], []
        for i, (units, act) in enumerate(zip(arch["hidden"], Autoencoder._layer_acts(arch)[0])):
            below, h = h, Dense(units, activation=act, name=f"dense_{i}", **init).emit(g, [h])
            encoders.append(h)
            if arch["contractive"] > 0:
                terms.append(g.add_node("contractive", [h, below, w], scale=arch["contractive"],
                                        act=act, alpha=1.0 if act == "elu" else 0.01))
        out = Autoencoder._emit_decoder(g, h, arch, encoders if arch["tied"] else None)
        return Autoencoder._emit_loss(g, arch, x, w, out, h, terms)

    @staticmethod
    def _make_layer_graph(arch):
        """The graph of encoder and decoder layers: rows reshaped to
        input_shape, the code flattened; records the code's shape in arch."""
        g, x, w, h = Autoencoder._emit_input(arch)
        if tuple(arch["input_shape"]) != (arch["n_features"],):
            h = g.add_node("reshape", [h], shape=arch["input_shape"])
            g.set_name(h, "image")
        for layer in copy.deepcopy(arch["encoder_layers"]):
            h = layer.emit(g, [h])
        arch["code_shape"] = tuple(g.infer_shape(h)[0])
        code = h if len(arch["code_shape"]) == 1 else g.add_node("reshape", [h], shape=(-1,))
        g.set_name(code, "code")
        out = Autoencoder._emit_layer_decoder(g, h, arch)
        return Autoencoder._emit_loss(g, arch, x, w, out, code, [])

    def _bind_views(self):
        """coefs_ and intercepts_ as views of the core's parameters, in the
        order of the layers."""
        params = [(name, value) for name, _, value, _, _ in self._graph.params()]
        self._coef_views = [v for name, v in params if name.endswith(".weight")]
        self._intercept_views = [v for name, v in params if name.endswith(".bias")]
        self.coefs_ = list(self._coef_views)
        self.intercepts_ = list(self._intercept_views)

    # --- data and fitting --------------------------------------------------------

    def _validate_input(self, X, y, incremental, reset):
        # the core's float32 copy, which is also the target (one copy of X)
        X = validate_dense(self, X, reset=reset)[0]
        if self.loss == "binary_cross_entropy" and (X.min(initial=0) < 0 or X.max(initial=0) > 1):
            raise ValueError("loss='binary_cross_entropy' reconstructs data in [0, 1]; scale X "
                             "into [0, 1] (e.g. MinMaxScaler) or use loss='squared_error'")
        return X, X

    def _checked(self, X):
        """Fitted, and X checked: (X as float32 for the core, the dtype of
        outputs computed from X)."""
        check_is_fitted(self)
        return validate_dense(self, X, reset=False)

    def _apply_class_weight(self, y, sw):
        return sw

    def _targets(self, X):
        if self.encoder_layers is None:
            self.n_components_ = int(_sizes("hidden_layer_sizes", self.hidden_layer_sizes)[-1])
        return X, X.shape[1], (X.shape[1],)

    def _initialize(self, hidden, n_features, n_out, tshape):
        super()._initialize(hidden, n_features, n_out, tshape)
        if "code_shape" in self._arch:
            self.n_components_ = int(np.prod(self._arch["code_shape"]))
        if self.pretrain == "layerwise" and hasattr(self, "_pretrain_data"):
            self._pretrain(*self._pretrain_data)

    def fit(self, X, y=None, sample_weight=None):
        """Fit the autoencoder to X (y is ignored); sample_weight weights
        each sample's reconstruction loss."""
        self._pretrain_data = (X, sample_weight)
        try:
            return self._fit(X, None, sample_weight=sample_weight)
        finally:
            del self._pretrain_data

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y=None, sample_weight=None):
        """One epoch over X with 'sgd' or 'adam' (y is ignored; no
        pre-training)."""
        return self._fit(X, None, sample_weight=sample_weight, incremental=True)

    def _pretrain(self, X, sample_weight):
        """Seed 002, section 9: layer i is trained as a one-layer autoencoder
        of the codes of layers 0..i-1 (with the same settings; the input's
        loss for the first layer, squared error on the codes above it, the
        sparsity penalty on the code layer only); its weights start the
        encoder layer i and the mirror decoder layer."""
        hidden = self._arch["hidden"]
        L = len(hidden)
        params = dict(self.get_params(), pretrain=None, warm_start=False, verbose=False)
        codes = X
        for i, units in enumerate(hidden):
            last = i == L - 1
            shallow = Autoencoder(**dict(
                params, hidden_layer_sizes=(units,),
                code_activation=self.code_activation if last else self.activation,
                loss=self.loss if i == 0 else "squared_error",
                sparsity=self.sparsity if last else None))
            with warnings.catch_warnings():  # fine-tuning follows: only its warnings count
                warnings.simplefilter("ignore", ConvergenceWarning)
                shallow.fit(codes, sample_weight=sample_weight)
            self._coef_views[i][...] = shallow.coefs_[0]
            self._intercept_views[i][...] = shallow.intercepts_[0]
            self._intercept_views[2 * L - 1 - i][...] = shallow.intercepts_[1]
            if not self.tied_weights:
                self._coef_views[2 * L - 1 - i][...] = shallow.coefs_[1]
            codes = shallow.transform(codes)

    # --- using the fitted model --------------------------------------------------

    def _output(self, X, k, dtype=np.float64):
        """Output k (0 the reconstruction before the output activation, 1
        the code) for checked float32 X, in dtype."""
        self._sync_params()
        nt = self._nthreads()
        with quiet_blas(nt):
            out = self._graph.predict([X, None, None], k, chunk=1024, nthreads=nt)
        return out.astype(dtype)

    def _reconstruct(self, X, dtype=np.float64):
        return self._activate(self._output(X, 0, dtype))

    def _activate(self, out):
        """The output activation on the decoder's output."""
        return expit(out) if self.loss == "binary_cross_entropy" else out

    def transform(self, X):
        """The code of X, shape (n_samples, n_components_): float32 for
        float32 X, float64 otherwise."""
        X, dtype = self._checked(X)
        return self._output(X, 1, dtype)

    def predict(self, X):
        """The reconstruction of X: float32 for float32 X, float64
        otherwise."""
        X, dtype = self._checked(X)
        return self._reconstruct(X, dtype)

    def inverse_transform(self, X):
        """Decode codes X (n_samples, n_components_), dense or sparse, into
        the input space: float32 for float32 X, float64 otherwise."""
        check_is_fitted(self)
        X, dtype = check_codes(X, self.n_components_, "codes")
        self._sync_params()
        arch = self._arch
        g = _core.Graph()
        code = g.add_input((self.n_components_,))
        if "code_shape" in arch:
            if len(arch["code_shape"]) != 1:
                code = g.add_node("reshape", [code], shape=arch["code_shape"])
            g.set_outputs([self._emit_layer_decoder(g, code, arch)])
        else:
            g.set_outputs([self._emit_decoder(g, code, arch, None)])
        g.compile(0)
        main = {name: value for name, _, value, _, _ in self._graph.params()}
        L = len(arch["hidden"])
        for name, _, value, _, _ in g.params():
            tied = arch["tied"] and name.endswith(".weight")
            if tied:
                layer = int(name.split(".")[0].split("_")[1])
                value[...] = main[f"dense_{2 * L - 1 - layer}.weight"].T
            else:
                value[...] = main[name]
        nt = self._nthreads()
        with quiet_blas(nt):
            out = g.predict([X], 0, chunk=1024, nthreads=nt).astype(dtype)
        return self._activate(out)

    def score_samples(self, X):
        """Minus each sample's mean squared reconstruction error (higher is
        more typical of the training data), in float64."""
        X = self._checked(X)[0]
        return -np.mean((self._reconstruct(X) - X) ** 2, axis=1)

    def _score_dense(self, X, y, sample_weight):
        err = np.mean((self._reconstruct(X) - X) ** 2, axis=1)
        return -float(np.average(err, weights=sample_weight))

    def score(self, X, y=None, sample_weight=None):
        """Minus the mean squared reconstruction error per feature, averaged
        over the samples (weighted by sample_weight)."""
        X = self._checked(X)[0]
        sw = self._check_sample_weight(sample_weight, X.shape[0])
        return self._score_dense(X, None, sw)

    @property
    def _n_features_out(self):
        return self.n_components_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
