"""What NeuralNetClassifier and NeuralNetRegressor need for sequences:
the features' steps and the mask of their padded steps (read from the
network's own Masking or Embedding(mask_zero=True) layer), the check of
token ids against an Embedding, and the loss of per-step targets on the
real steps only (dagnet/neural_network/_neural_net.py uses them)."""

import copy

import numpy as np

from dagnet import _core
from dagnet._validation import check_sample_weight
from dagnet.nn.base import Input, InputLayer, _is_int
from dagnet.nn.model import _topological_layers
from dagnet.nn.recurrent import Embedding

HEAD = "output"  # the name of the output layer the estimators add

def _feature_nodes(template, sample_shape):
    """The input node and the features node (the hidden network's output) of
    a copy of the template."""
    kind, spec = copy.deepcopy(template)
    if kind == "layers":
        x = h = Input(tuple(sample_shape), name="X")
        for layer in spec:
            h = layer(h)
        return x, h
    return spec


def _emit_plain(root):
    """Emit root and its ancestors into a new core graph as Model._emit does,
    masks included, without binding weights (only shapes and masks are
    read). Returns the graph, the core ids and masks of the nodes, the first
    node that made each mask, and the first core id of root's layer."""
    g = _core.Graph()
    ids, masks, makers, first = {}, {}, {}, 0
    for n in _topological_layers([root]):
        if isinstance(n.layer, InputLayer):
            ids[id(n)] = g.add_input(n.layer.shape)
            continue
        first = g.n_nodes
        ids[id(n)], mask = n.layer.emit_masked(
            g, [ids[id(p)] for p in n.inputs], [masks.get(id(p)) for p in n.inputs])
        masks[id(n)] = mask
        if mask is not None:
            makers.setdefault(mask, n)
    return g, ids, masks, makers, first


def _inspect_network(template, sample_shape):
    """The per-sample shape of the features and a small core graph whose
    output is the mask (T,) of their steps, 1 real and 0 padded (None when the
    features carry no mask). The mask graph holds only the layers up to the
    one that makes the mask (Masking, Embedding(mask_zero=True)), which must
    read X through layers without weights: the mask of the data must not
    depend on weights that training changes."""
    _, h = _feature_nodes(template, sample_shape)
    g, ids, masks, makers, _ = _emit_plain(h)
    g.set_outputs([ids[id(h)]])
    g.compile(0)
    shape = tuple(g.node_shape(ids[id(h)])[0])
    mask = masks.get(id(h))
    if mask is None:
        return shape, None
    maker = makers[mask]
    mg, _, mmasks, _, first = _emit_plain(maker)
    mg.set_outputs([mmasks[id(maker)]])
    mg.compile(0)
    if any(node < first for _, node, _, _, _ in mg.params()):
        raise ValueError(f"layer {maker.layer.name!r} marks the padded steps of sequences that "
                         f"layers with weights computed; put Masking or Embedding(mask_zero="
                         f"True) before any layer with weights, so that the padding is read "
                         f"from X")
    return shape, mg


def _token_layers(template):
    """The Embedding layers that read X itself (its values are token ids)."""
    kind, spec = template
    if kind == "layers":
        return [spec[0]] if spec and isinstance(spec[0], Embedding) else []
    x, h = spec
    return [n.layer for n in _topological_layers([h])
            if isinstance(n.layer, Embedding) and any(p is x for p in n.inputs)]


def _check_token_ids(X, layers):
    """Token ids must be whole numbers in [0, vocab_size) of each Embedding
    reading them (the core would give an unknown id a row of zeros)."""
    for layer in layers:
        vocab = layer.vocab_size
        if not _is_int(vocab) or X.size == 0:
            continue  # a bad vocab_size is the layer's error, at build
        low, high = float(X.min()), float(X.max())
        whole = bool(np.array_equal(X, np.floor(X)))
        if low < 0 or high >= vocab or not whole:
            kind = "" if whole else ", not all whole numbers"
            raise ValueError(f"X holds token ids from {low:g} to {high:g}{kind}; layer "
                             f"{layer.name!r} (Embedding) takes whole numbers in [0, {vocab}) "
                             f"(0 for padding with mask_zero=True): map the tokens into that "
                             f"range or raise its vocab_size")


def _masked_loss(loss, target_shape):
    """The loss of per-step targets (T, k) on the real steps only, as a loss
    callable of Model._emit: the prediction and the target are multiplied by
    the output's mask (T, 1) before the loss, so a padded step adds exactly 0
    to the loss and to every gradient. Without a mask, the plain loss."""
    steps = int(target_shape[0])

    def add_loss(g, out_ids, masks):
        pred, mask = out_ids[0], masks[0]
        t = g.add_input(target_shape)
        g.set_name(t, "target")
        w = g.add_input((1,))
        g.set_name(w, "sample_weight")
        if mask is not None:
            col = g.add_node("reshape", [mask], shape=(steps, 1))
            pred = g.add_node("mul", [pred, col])
            g.set_name(pred, HEAD + ".masked")
            t = g.add_node("mul", [t, col])
            g.set_name(t, "target.masked")
        g.set_name(g.add_node("loss", [pred, t, w], loss=loss), "loss")

    add_loss.takes_masks = True
    return add_loss


def _shape_of(y):
    """The shape of y (array-like) without numpy's array functions, which
    some array-likes refuse; () when y is ragged (its checks say so)."""
    shape = getattr(y, "shape", None)
    if shape is None:
        try:
            shape = np.asarray(y).shape
        except (TypeError, ValueError):
            shape = ()
    return tuple(shape)


def _weights_per_step(sample_weight, real):
    """Per-sequence weights (n,) repeated on the real steps, or None."""
    if sample_weight is None:
        return None
    sw = check_sample_weight(sample_weight, real.shape[0])
    return np.broadcast_to(sw[:, None], real.shape)[real]
