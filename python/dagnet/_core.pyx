# cython: language_level=3, boundscheck=False, wraparound=False
"""The binding of dagnet's C core: thin, with numpy buffers in and out, the
GIL released around every call that computes, and C status codes turned into
Python exceptions (ValueError, TypeError, MemoryError, RuntimeError,
FloatingPointError) carrying the core's message."""

import threading

import numpy as np
cimport numpy as cnp
from libc.stdint cimport int64_t, uint64_t, uint32_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy
from dagnet._core cimport *

cnp.import_array()

_EXCEPTIONS = {
    DN_ERR_INVALID: ValueError,
    DN_ERR_TYPE: TypeError,
    DN_ERR_NOMEM: MemoryError,
    DN_ERR_STATE: RuntimeError,
    DN_ERR_NUMERIC: FloatingPointError,
    DN_ERR_UNSUPPORTED: RuntimeError,
    DN_ERR_INTERNAL: RuntimeError,
}


cdef int check(dn_status s) except -1:
    if s == DN_OK:
        return 0
    msg = dn_last_error().decode("utf-8", "replace")
    raise _EXCEPTIONS.get(s, RuntimeError)(msg)


OP_NAMES = [dn_op_name(<dn_op>i).decode() for i in range(DN_OP_COUNT)]
AXIS_ALL = DN_AXIS_ALL
MAX_DIMS = DN_MAX_DIMS


cdef dn_shape make_shape(dims) except *:
    cdef dn_shape s
    dims = tuple(int(d) for d in dims)
    if len(dims) > DN_MAX_DIMS:
        raise ValueError(f"a shape has at most {DN_MAX_DIMS} dimensions, got {dims}")
    if any(not -2**63 <= d < 2**63 for d in dims):
        raise ValueError(f"the sizes of a shape must fit in 64 bits, got {dims}")
    s.ndim = len(dims)
    for i in range(DN_MAX_DIMS):
        s.dims[i] = dims[i] if i < len(dims) else 0
    return s


cdef tuple shape_tuple(const dn_shape *s):
    return tuple(int(s.dims[i]) for i in range(s.ndim))


cdef cnp.ndarray as_f32(x, name="array"):
    """A C-contiguous float32 array (converted once when needed)."""
    try:
        return np.ascontiguousarray(x, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be convertible to a float32 array: {e}") from None


cdef cnp.ndarray view_of(float *ptr, tuple shape, object owner, bint writable):
    """A numpy array over core memory, keeping `owner` alive."""
    cdef cnp.npy_intp dims[8]
    for i, d in enumerate(shape):
        dims[i] = d
    cdef cnp.ndarray arr = cnp.PyArray_SimpleNewFromData(len(shape), dims, cnp.NPY_FLOAT32, ptr)
    cnp.Py_INCREF(owner)
    cnp.PyArray_SetBaseObject(arr, owner)
    if not writable:
        arr.setflags(write=False)
    return arr


def act_names():
    return ["identity", "relu", "leaky_relu", "elu", "sigmoid", "tanh", "softplus", "gelu", "silu"]


def act_fusable(str name):
    cdef dn_act a
    check(dn_act_from_name(name.encode(), &a))
    return bool(dn_act_fusable(a))


def int_tuple(str key, value, int n):
    """An int, or a sequence of n ints (a pair (h, w); padding (top, bottom,
    left, right), where a pair (h, w) means (h, h, w, w))."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * n
    v = tuple(int(x) for x in value)
    if n == 4 and len(v) == 2:
        v = (v[0], v[0], v[1], v[1])
    if len(v) != n:
        raise ValueError(f"'{key}' takes an int or {n} ints, got {value!r}")
    return v


cdef dn_attrs make_attrs(dict kw) except *:
    cdef dn_attrs a
    cdef dn_act act
    cdef dn_loss loss
    cdef dn_init init
    dn_attrs_default(&a)
    for key, value in kw.items():
        try:
            if key == "units": a.units = int(value)
            elif key == "use_bias": a.use_bias = int(bool(value))
            elif key == "act":
                check(dn_act_from_name(str(value).encode(), &act)); a.act = act
            elif key == "alpha": a.alpha = float(value)
            elif key == "scale": a.scale = float(value)
            elif key == "rate": a.rate = float(value)
            elif key == "eps": a.eps = float(value)
            elif key == "momentum": a.momentum = float(value)
            elif key == "axis": a.axis = int(value)
            elif key == "keepdims": a.keepdims = int(bool(value))
            elif key == "start": a.start = int(value)
            elif key == "stop": a.stop = int(value)
            elif key == "shape": a.shape = make_shape(value)
            elif key == "loss":
                check(dn_loss_from_name(str(value).encode(), &loss)); a.loss = loss
            elif key == "trans_a": a.trans_a = int(bool(value))
            elif key == "trans_b": a.trans_b = int(bool(value))
            elif key == "w_init":
                check(dn_init_from_name(str(value).encode(), &init)); a.w_init = init
            elif key == "w_scale": a.w_scale = float(value)
            elif key == "b_init":
                check(dn_init_from_name(str(value).encode(), &init)); a.b_init = init
            elif key == "b_scale": a.b_scale = float(value)
            elif key in ("kernel", "stride", "dilation", "out_pad", "factor"):
                v = int_tuple(key, value, 2)
                if key == "kernel": a.kernel[0], a.kernel[1] = v
                elif key == "stride": a.stride[0], a.stride[1] = v
                elif key == "dilation": a.dilation[0], a.dilation[1] = v
                elif key == "out_pad": a.out_pad[0], a.out_pad[1] = v
                else: a.factor[0], a.factor[1] = v
            elif key == "pad":
                v = int_tuple(key, value, 4)
                a.pad[0], a.pad[1], a.pad[2], a.pad[3] = v
            elif key == "groups": a.groups = int(value)
            elif key == "count_pad": a.count_pad = int(bool(value))
            else:
                raise TypeError(f"unknown node setting '{key}'")
        except OverflowError:
            raise ValueError(f"node setting '{key}' = {value!r} is out of range") from None
    return a


cdef dn_optim_config make_optim(str name, dict kw) except *:
    cdef dn_optim_kind kind
    cdef dn_optim_config c
    check(dn_optim_from_name(name.encode(), &kind))
    dn_optim_default(&c, kind)
    for key, value in kw.items():
        if key == "lr": c.lr = float(value)
        elif key == "momentum": c.momentum = float(value)
        elif key == "beta1": c.beta1 = float(value)
        elif key == "beta2": c.beta2 = float(value)
        elif key == "eps": c.eps = float(value)
        elif key == "rho": c.rho = float(value)
        elif key == "weight_decay": c.weight_decay = float(value)
        elif key == "l2": c.l2 = float(value)
        elif key == "l1": c.l1 = float(value)
        elif key == "reg_per_sample": c.reg_per_sample = int(bool(value))
        elif key == "max_norm": c.max_norm = float(value)
        elif key == "clip_norm": c.clip_norm = float(value)
        elif key == "clip_value": c.clip_value = float(value)
        else:
            raise TypeError(f"unknown optimiser setting '{key}'")
    check(dn_optim_check(&c))
    return c


cdef dn_augment_config make_augment(dict kw) except *:
    """The config from settings shift (int), flip (bool), rotation (degrees)
    and fill (float), each 0 when absent."""
    unknown = set(kw) - {"shift", "flip", "rotation", "fill"}
    if unknown:
        raise TypeError(f"unknown augmentation settings {sorted(unknown)}; use shift, flip, "
                        f"rotation and fill")
    cdef dn_augment_config c
    c.max_shift = kw.get("shift", 0)
    c.flip = kw.get("flip", False)
    c.max_degrees = kw.get("rotation", 0.0)
    c.fill_value = kw.get("fill", 0.0)
    return c


cdef const float **input_pointers(list conv) except NULL:
    """A malloc'd array of the data pointers of conv's arrays (None gives
    NULL), for the core's run functions; the caller frees it."""
    cdef int n = len(conv)
    cdef const float **ptrs = <const float **>malloc(max(n, 1) * sizeof(float *))
    cdef cnp.ndarray a
    if ptrs == NULL:
        raise MemoryError("out of memory")
    for k in range(n):
        if conv[k] is None:
            ptrs[k] = NULL
        else:
            a = conv[k]
            ptrs[k] = <const float *>cnp.PyArray_DATA(a)
    return ptrs


cdef class Graph:
    """A graph in the C core: add inputs and nodes, compile, run, train.

    Runs share the graph's buffers, so each run function holds the graph's
    lock: threads may call predict, objective and train_epoch on one graph
    at the same time (they take turns). A forward followed by its backward
    is two calls: threads that interleave such pairs need their own lock."""
    cdef dn_graph_t *g
    cdef public bint compiled
    cdef list _run_inputs  # the last forward's input arrays: backward reads them
    cdef list _grad_shapes # the output shapes of the last run when it was a
                           # forward(grad=True), the gradients backward takes; else None
    cdef object _lock      # one run at a time: runs share the graph's buffers

    def __cinit__(self):
        check(dn_graph_new(&self.g))
        self.compiled = False
        self._lock = threading.Lock()

    def __dealloc__(self):
        dn_graph_free(self.g)

    def add_input(self, shape):
        cdef dn_shape s = make_shape(shape)
        cdef int node
        check(dn_graph_add_input(self.g, &s, &node))
        return node

    def add_node(self, str op, inputs, **attrs):
        if op not in OP_NAMES or op == "input":
            raise ValueError(f"unknown op '{op}'; use one of {OP_NAMES[1:]}")
        cdef int ins[8]
        cdef int node
        inputs = list(inputs)
        if len(inputs) > DN_MAX_INPUTS:
            raise ValueError(f"a node takes at most {DN_MAX_INPUTS} inputs, got {len(inputs)}")
        for i, v in enumerate(inputs):
            ins[i] = int(v)
        cdef dn_attrs a = make_attrs(attrs)
        cdef int opi = OP_NAMES.index(op)
        check(dn_graph_add_node(self.g, <dn_op>opi, ins, len(inputs), &a, &node))
        return node

    def add_split(self, int input, int axis, sizes):
        """Split `input` along `axis` into parts of `sizes`; returns their ids."""
        sizes = [int(v) for v in sizes]
        if not 1 <= len(sizes) <= 256:
            raise ValueError("a split has 1 to 256 parts")
        cdef int64_t sz[256]
        cdef int ids[256]
        for i, v in enumerate(sizes):
            sz[i] = v
        check(dn_graph_add_split(self.g, input, axis, sz, len(sizes), ids))
        return [ids[i] for i in range(len(sizes))]

    def set_input(self, int node, int slot, int src):
        check(dn_graph_set_input(self.g, node, slot, src))

    def set_name(self, int node, str name):
        check(dn_graph_set_name(self.g, node, name.encode()))

    def set_outputs(self, nodes):
        nodes = [int(v) for v in nodes]
        cdef int ids[64]
        if not 1 <= len(nodes) <= 64:
            raise ValueError("a graph has 1 to 64 outputs")
        for i, v in enumerate(nodes):
            ids[i] = v
        check(dn_graph_set_outputs(self.g, ids, len(nodes)))

    def share_params(self, int node, int src):
        """Make node use src's parameters (the same op applied again, its
        weights shared); compile checks that their shapes agree."""
        check(dn_graph_share_params(self.g, node, src))

    def set_trainable(self, int node, bint trainable):
        """Freeze a node's parameters (False) or let them train (True); a
        frozen node runs as at inference. Before or after compile."""
        check(dn_graph_set_trainable(self.g, node, trainable))

    def compile(self, uint64_t seed=0):
        cdef dn_status s
        with nogil:
            s = dn_graph_compile(self.g, seed)
        check(s)
        self.compiled = True

    @property
    def n_inputs(self):
        return dn_graph_num_inputs(self.g)

    @property
    def n_outputs(self):
        return dn_graph_num_outputs(self.g)

    @property
    def n_nodes(self):
        return dn_graph_num_nodes(self.g)

    @property
    def grad_shapes(self):
        """The shapes of the gradients backward takes: those of the outputs
        of the last run when it was a forward(grad=True), else None."""
        return None if self._grad_shapes is None else list(self._grad_shapes)

    def input_node(self, int k):
        return dn_graph_input_node(self.g, k)

    def output_node(self, int k):
        return dn_graph_output_node(self.g, k)

    def order(self):
        cdef const int *o = dn_graph_order(self.g)
        if o == NULL:
            raise RuntimeError("compile the graph before asking for its order")
        return [o[i] for i in range(dn_graph_num_nodes(self.g))]

    def node_shape(self, int node):
        """(per-sample shape, batched) of a node after compile."""
        cdef dn_shape s
        cdef int batched
        check(dn_graph_node_shape(self.g, node, &s, &batched))
        return shape_tuple(&s), bool(batched)

    def infer_shape(self, int node):
        """(per-sample shape, batched) of a node while building: its ancestors'
        shapes are inferred as compile would (after compile, node_shape)."""
        cdef dn_shape s
        cdef int batched
        check(dn_graph_infer_shape(self.g, node, &s, &batched))
        return shape_tuple(&s), bool(batched)

    def set_augment(self, int input=0, **settings):
        """Augment input ``input`` (images (C, H, W)) in every later
        train_epoch; settings as augment_images' (shift, flip, rotation,
        fill); none, or all zero, switches augmentation off."""
        cdef dn_augment_config c = make_augment(settings)
        check(dn_graph_set_augment(self.g, input, &c))

    def params(self):
        """[(name, node, value view, grad view or None, trainable)]; the value
        views are writable and the next run sees writes."""
        cdef dn_param_info info
        out = []
        for k in range(dn_graph_num_params(self.g)):
            check(dn_graph_param(self.g, k, &info))
            shape = shape_tuple(&info.shape)
            value = view_of(info.value, shape, self, True)
            grad = view_of(info.grad, shape, self, False) if info.grad != NULL else None
            out.append((info.name.decode(), info.node, value, grad, bool(info.trainable)))
        return out

    cdef list _input_arrays(self, arrays, int64_t *n_out, bint allow_none):
        cdef object a
        ni = dn_graph_num_inputs(self.g)
        arrays = list(arrays)
        if len(arrays) != ni:
            raise ValueError(f"the graph has {ni} inputs, {len(arrays)} arrays were given")
        conv = []
        n = -1
        for k, x in enumerate(arrays):
            if x is None:
                if not allow_none:
                    raise ValueError(f"input {k} is None")
                conv.append(None)
                continue
            a = as_f32(x, f"input {k}")
            shape, _ = self.node_shape(dn_graph_input_node(self.g, k))
            if a.ndim != len(shape) + 1 or tuple(a.shape[1:]) != shape:
                raise ValueError(f"input {k} must have shape (n_samples, {', '.join(map(str, shape))})"
                                 f"; got {a.shape}")
            if n >= 0 and a.shape[0] != n:
                raise ValueError(f"inputs have different numbers of samples: {n} and {a.shape[0]}")
            n = a.shape[0]
            conv.append(a)
        n_out[0] = n
        return conv

    def forward(self, inputs, bint training=False, bint grad=False, int nthreads=0):
        """Run forward on a batch; returns copies of the outputs. A None input
        is allowed when the outputs do not depend on it."""
        cdef int64_t n
        conv = self._input_arrays(inputs, &n, True)
        if n < 0:
            raise ValueError("at least one input array is needed")
        cdef const float **ptrs = input_pointers(conv)
        cdef int flags = (DN_RUN_TRAINING if training else 0) | (DN_RUN_GRAD if grad else 0)
        cdef dn_status s
        cdef const float *data
        cdef int64_t numel
        outs = []
        try:
            with self._lock:  # the outputs are copied before another run
                self._grad_shapes = None
                with nogil:
                    s = dn_graph_forward(self.g, ptrs, n, flags, nthreads)
                check(s)
                self._run_inputs = conv
                for k in range(dn_graph_num_outputs(self.g)):
                    check(dn_graph_output(self.g, k, &data, &numel))
                    shape, batched = self.node_shape(dn_graph_output_node(self.g, k))
                    full = ((n,) + shape) if batched else shape
                    out = np.empty(full, dtype=np.float32)
                    if out.size != numel:
                        raise RuntimeError(f"output {k} holds {numel} values, not the "
                                           f"{out.size} of shape {full}; report this dagnet bug")
                    if numel:
                        memcpy(cnp.PyArray_DATA(out), data, numel * sizeof(float))
                    outs.append(out)
                if grad:
                    self._grad_shapes = [out.shape for out in outs]
        finally:
            free(ptrs)
        return outs

    def backward(self, grad_outputs=None, int nthreads=0):
        """Backward after forward(grad=True), which must be the graph's last
        run. grad_outputs is None (all zero) or a list of one array per
        output, each of that output's shape in that forward (None: zero).
        Returns the input gradients (None for inputs that reach no output)."""
        cdef int no = dn_graph_num_outputs(self.g)
        if grad_outputs is not None:
            if not isinstance(grad_outputs, (list, tuple)):
                raise TypeError(f"grad_outputs must be a list with one array (or None) per "
                                f"output, got {type(grad_outputs).__name__}")
            if len(grad_outputs) != no:
                raise ValueError(f"the graph has {no} output(s) but {len(grad_outputs)} "
                                 f"gradient(s) were given; give one array (or None) per output")
        cdef const float **ptrs = <const float **>malloc(max(no, 1) * sizeof(float *))
        cdef cnp.ndarray a
        cdef dn_status s
        cdef const float *data
        cdef int64_t numel
        keep = []
        try:
            with self._lock:
                if self._grad_shapes is None:
                    raise RuntimeError("backward needs a forward(..., grad=True) as the graph's "
                                       "last run; run forward on the batch first")
                for k in range(no):
                    gk = None if grad_outputs is None else grad_outputs[k]
                    ptrs[k] = NULL
                    if gk is None:
                        continue
                    a = as_f32(gk, f"grad_outputs[{k}]")
                    want = self._grad_shapes[k]
                    check(dn_graph_output(self.g, k, &data, &numel))
                    if np.shape(gk) != want or a.size != numel:
                        raise ValueError(f"grad_outputs[{k}] must have shape {want}, the shape of "
                                         f"output {k} in the last forward; got {np.shape(gk)}")
                    keep.append(a)
                    ptrs[k] = <const float *>cnp.PyArray_DATA(a)
                with nogil:
                    s = dn_graph_backward(self.g, ptrs, nthreads)
            check(s)
        finally:
            free(ptrs)
        grads = []
        for k in range(dn_graph_num_inputs(self.g)):
            s = dn_graph_input_grad(self.g, k, &data, &numel)
            if s != DN_OK:
                grads.append(None)
                continue
            shape, _ = self.node_shape(dn_graph_input_node(self.g, k))
            out = np.empty((numel // max(1, int(np.prod(shape))) if shape else numel,) + shape,
                           dtype=np.float32)
            if numel:
                memcpy(cnp.PyArray_DATA(out), data, numel * sizeof(float))
            grads.append(out)
        return grads

    def predict(self, inputs, int k=0, int64_t chunk=1024, int nthreads=0):
        """Output k over all samples in inference mode, in chunks."""
        cdef int64_t n
        cdef int no = dn_graph_num_outputs(self.g)
        if not 0 <= k < no:
            raise ValueError(f"output {k} does not exist: the graph has {no} output(s)")
        conv = self._input_arrays(inputs, &n, True)
        shape, batched = self.node_shape(dn_graph_output_node(self.g, k))
        out = np.empty((max(n, 0),) + shape, dtype=np.float32)
        cdef const float **ptrs = input_pointers(conv)
        cdef float *dst = <float *>cnp.PyArray_DATA(out)
        cdef dn_status s
        try:
            with self._lock:
                self._grad_shapes = None
                with nogil:
                    s = dn_graph_predict(self.g, ptrs, n, k, dst, chunk, nthreads)
            check(s)
        finally:
            free(ptrs)
        return out

    @property
    def activation_bytes(self):
        return dn_graph_activation_bytes(self.g)

    def set_optimizer(self, str name, **settings):
        cdef dn_optim_config c = make_optim(name, settings)
        check(dn_graph_set_optimizer(self.g, &c))

    def set_lr(self, float lr):
        check(dn_graph_set_lr(self.g, lr))

    @property
    def step_count(self):
        return dn_graph_step_count(self.g)

    @property
    def epoch_count(self):
        return dn_graph_epoch_count(self.g)

    def step_threads(self, int64_t n, int nthreads=0):
        """The threads a run of n samples uses when given nthreads."""
        return dn_graph_step_threads(self.g, n, nthreads)

    @property
    def last_reg_loss(self):
        """The regulariser's part of the last epoch's mean loss."""
        return dn_graph_last_reg_loss(self.g)

    @property
    def param_floats(self):
        return dn_graph_param_floats(self.g)

    def param_offsets(self):
        """[(offset, size, trainable)] of each parameter in the arena layout
        that objective() gradients and optimizer_state() slots follow."""
        cdef dn_param_info info
        out = []
        for k in range(dn_graph_num_params(self.g)):
            check(dn_graph_param(self.g, k, &info))
            size = 1
            for d in shape_tuple(&info.shape):
                size *= d
            out.append((info.offset, size, bool(info.trainable)))
        return out

    def optimizer_state(self):
        """The optimiser's state as a writable (slots, param_floats) view."""
        cdef float *state
        cdef int64_t nf
        check(dn_graph_optim_state(self.g, &state, &nf))
        pf = max(dn_graph_param_floats(self.g), 1)
        if nf == 0:
            return np.zeros((0, pf), dtype=np.float32)
        return view_of(state, (nf // pf, pf), self, True)

    def set_counters(self, int64_t steps, int64_t epochs):
        check(dn_graph_set_counters(self.g, steps, epochs))

    @property
    def run_count(self):
        """Runs made so far; the random numbers of a training run are keyed by
        it. Saved with the parameters and set on a rebuilt graph, training
        continues bit for bit."""
        return int(dn_graph_run_count(self.g))

    @run_count.setter
    def run_count(self, runs):
        if not isinstance(runs, (int, np.integer)) or isinstance(runs, bool) \
                or not 0 <= runs < 2**64:
            raise ValueError(f"run_count must be an int in [0, 2**64), got {runs!r}")
        with self._lock:
            check(dn_graph_set_run_count(self.g, <uint64_t>runs))

    def objective(self, data, int64_t chunk=1024, double l2=0.0, bint reg_per_sample=False,
                  bint grad=True, int nthreads=0):
        """(value, gradient in arena layout or None) of the loss over all
        samples in inference mode, plus the L2 term; see dn_graph_objective."""
        cdef int64_t n
        conv = self._input_arrays(data, &n, True)
        if n < 0:
            raise ValueError("at least one input array is needed")
        cdef const float **ptrs = input_pointers(conv)
        cdef cnp.ndarray g_out = np.zeros(max(dn_graph_param_floats(self.g), 1), dtype=np.float32)
        cdef float *gp = <float *>cnp.PyArray_DATA(g_out) if grad else NULL
        cdef double value = 0
        cdef dn_status s
        try:
            with self._lock:
                self._grad_shapes = None
                with nogil:
                    s = dn_graph_objective(self.g, ptrs, n, chunk, l2, reg_per_sample, nthreads,
                                           &value, gp)
            check(s)
        finally:
            free(ptrs)
        return value, (g_out[:dn_graph_param_floats(self.g)] if grad else None)

    def train_epoch(self, data, int64_t batch_size, bint shuffle=True, int nthreads=0):
        """One epoch over full arrays (one per input; None fills ones);
        returns the epoch's mean loss."""
        cdef int64_t n
        conv = self._input_arrays(data, &n, True)
        if n < 0:
            raise ValueError("at least one input array is needed")
        cdef const float **ptrs = input_pointers(conv)
        cdef double loss = 0
        cdef dn_status s
        try:
            with self._lock:
                self._grad_shapes = None
                with nogil:
                    s = dn_graph_train_epoch(self.g, ptrs, n, batch_size, shuffle, nthreads, &loss)
            check(s)
        finally:
            free(ptrs)
        return loss


# --- augmentation (include/dagnet/augment.h) -------------------------------------

cdef cnp.ndarray _images(X):
    cdef cnp.ndarray x = as_f32(X, "X")
    if x.ndim != 4:
        raise ValueError(f"X must hold images of shape (n_samples, C, H, W), got shape "
                         f"{np.shape(x)}; reshape flat images first, e.g. X.reshape(-1, 1, 8, 8)")
    return x


def augment_draws(rows, uint64_t seed=0, uint64_t epoch=0, **settings):
    """The transforms drawn for data-set rows ``rows`` (ints) in ``epoch``:
    a dict of arrays flip (bool), degrees, dy and dx. Settings: shift (int),
    flip (bool), rotation (degrees), fill."""
    cdef dn_augment_config c = make_augment(settings)
    cdef dn_augment_draw t
    r = np.asarray(rows, dtype=np.int64).reshape(-1)
    out = {"flip": np.zeros(r.size, bool), "degrees": np.zeros(r.size, np.float32),
           "dy": np.zeros(r.size, np.int64), "dx": np.zeros(r.size, np.int64)}
    for i in range(r.size):
        dn_augment_draw_sample(&c, seed, epoch, r[i], &t)
        out["flip"][i], out["degrees"][i], out["dy"][i], out["dx"][i] = t.flip, t.degrees, t.dy, t.dx
    return out


def augment_images(X, uint64_t seed=0, uint64_t epoch=0, rows=None, int nthreads=0,
                   **settings):
    """The images (n, C, H, W) as training epoch ``epoch`` of a graph with
    this ``seed`` sees them: sample i transformed with the draws of data-set
    row rows[i] (default i). Settings: shift (int), flip (bool), rotation
    (degrees), fill (the value of pixels from outside)."""
    cdef dn_augment_config c = make_augment(settings)
    cdef cnp.ndarray x = _images(X)
    cdef cnp.ndarray r
    cdef const int64_t *rp = NULL
    cdef int64_t m = x.shape[0]
    if rows is not None:
        r = np.ascontiguousarray(rows, dtype=np.int64)
        if r.ndim != 1 or (r.size and (r.min() < 0 or r.max() >= x.shape[0])):
            raise ValueError(f"rows must be a 1-D array of row numbers in [0, {x.shape[0]})")
        rp = <const int64_t *>cnp.PyArray_DATA(r)
        m = r.shape[0]
    cdef cnp.ndarray out = np.empty((m, x.shape[1], x.shape[2], x.shape[3]), dtype=np.float32)
    cdef dn_status s
    with nogil:
        s = dn_augment_batch(&c, <const float *>cnp.PyArray_DATA(x), rp, m, x.shape[1],
                             x.shape[2], x.shape[3], seed, epoch,
                             <float *>cnp.PyArray_DATA(out), nthreads)
    check(s)
    return out


def augment_apply(X, flip, degrees, dy, dx, float fill=0.0, bint reference=False):
    """Sample i of the images X (n, C, H, W) flipped when flip[i], rotated
    by degrees[i] and shifted by (dy[i], dx[i]): the transform itself, with
    given instead of drawn settings."""
    cdef cnp.ndarray x = _images(X)
    cdef int64_t n = x.shape[0], chw = x.shape[1] * x.shape[2] * x.shape[3]
    params = [np.broadcast_to(np.asarray(v), (n,)) for v in (flip, degrees, dy, dx)]
    if not np.all(np.isfinite(params[1].astype(np.float64))):
        raise ValueError("degrees must be finite angles")
    cdef cnp.ndarray out = np.empty_like(x)
    cdef const float *src = <const float *>cnp.PyArray_DATA(x)
    cdef float *dst = <float *>cnp.PyArray_DATA(out)
    cdef dn_augment_draw t
    cdef int64_t i
    for i in range(n):
        t.flip, t.degrees, t.dy, t.dx = (bool(params[0][i]), float(params[1][i]),
                                         int(params[2][i]), int(params[3][i]))
        if reference:
            dn_augment_apply_ref(&t, fill, src + i * chw, x.shape[1], x.shape[2], x.shape[3],
                                 dst + i * chw)
        else:
            dn_augment_apply(&t, fill, src + i * chw, x.shape[1], x.shape[2], x.shape[3],
                             dst + i * chw)
    return out


# --- kernels and tools, for tests and benchmarks ---------------------------------

def sgemm(A, B, C=None, *, bint trans_a=False, bint trans_b=False, float alpha=1.0,
          float beta=0.0, bias=None, str act="identity", float act_alpha=0.01,
          int nthreads=0, bint reference=False):
    """C = act(alpha op(A) op(B) + beta C + bias); returns C (a new array
    when C is None)."""
    cdef cnp.ndarray a = as_f32(A, "A"), b = as_f32(B, "B"), c, bb
    if A is C or B is C:
        raise ValueError("C must not be A or B")
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError("A and B must be 2-D")
    cdef int64_t M = a.shape[1] if trans_a else a.shape[0]
    cdef int64_t K = a.shape[0] if trans_a else a.shape[1]
    cdef int64_t K2 = b.shape[1] if trans_b else b.shape[0]
    cdef int64_t N = b.shape[0] if trans_b else b.shape[1]
    if K != K2:
        raise ValueError(f"inner dimensions differ: {K} and {K2}")
    if C is None:
        c = np.zeros((M, N), dtype=np.float32)
    else:
        if not isinstance(C, np.ndarray) or C.dtype != np.float32 or not C.flags.c_contiguous \
                or not C.flags.writeable or C.shape != (M, N):
            raise ValueError(f"C is written in place, so it must be a C-contiguous, writable "
                             f"float32 array of shape ({M}, {N}); got {np.shape(C)}")
        c = C
    cdef dn_gemm_epilogue ep
    cdef dn_act actv
    check(dn_act_from_name(act.encode(), &actv))
    ep.act = actv
    ep.act_alpha = act_alpha
    ep.bias = NULL
    if bias is not None:
        bb = as_f32(bias, "bias")
        if bb.ndim != 1 or bb.shape[0] != N:
            raise ValueError(f"bias must have shape ({N},)")
        ep.bias = <const float *>cnp.PyArray_DATA(bb)
    cdef const float *pa = <const float *>cnp.PyArray_DATA(a)
    cdef const float *pb = <const float *>cnp.PyArray_DATA(b)
    cdef float *pc = <float *>cnp.PyArray_DATA(c)
    cdef int64_t lda = a.shape[1], ldb = b.shape[1]
    with nogil:
        if reference:
            dn_sgemm_ref(trans_a, trans_b, M, N, K, alpha, pa, lda, pb, ldb, beta, pc, N, &ep)
        else:
            dn_sgemm(trans_a, trans_b, M, N, K, alpha, pa, lda, pb, ldb, beta, pc, N, &ep, nthreads)
    return c


ISA_NAMES = {DN_ISA_GENERIC: "generic", DN_ISA_AVX2: "avx2", DN_ISA_AVX512: "avx512"}


def cpu_detect():
    return ISA_NAMES[dn_cpu_detect()]


def cpu_isa():
    return ISA_NAMES[dn_cpu_isa()]


def set_cpu_isa(str name):
    """Use at most this instruction set ('generic', 'avx2', 'avx512');
    returns the one in force."""
    inv = {v: k for k, v in ISA_NAMES.items()}
    if name not in inv:
        raise ValueError(f"unknown instruction set '{name}'; use one of {list(inv)}")
    return ISA_NAMES[dn_cpu_set_isa(<dn_isa>inv[name])]


def max_threads():
    return dn_max_threads()


def have_openmp():
    return bool(dn_have_openmp())


def set_thread_trim(bint on):
    """Let graph runs too small to split use one thread (the default, on);
    returns the previous setting (see dn_set_thread_trim)."""
    return bool(dn_set_thread_trim(on))


def set_conv_winograd(int mode):
    """Winograd's F(2x2, 3x3) for 3x3 stride-1 convolutions of 16 or more
    channels: 1 where it is faster (the default), 2 wherever it can run,
    0 never; returns the previous mode (see dn_set_conv_winograd)."""
    return dn_set_conv_winograd(mode)


def set_reference_mode(bint on):
    """Run the reference kernels instead of the fast ones; returns the
    previous setting."""
    return bool(dn_set_reference_mode(on))


def philox4x32(ctr, uint64_t key):
    cdef uint32_t c[4]
    cdef uint32_t o[4]
    ctr = [int(v) for v in ctr]
    if len(ctr) != 4:
        raise ValueError(f"a Philox counter has 4 words, got {len(ctr)}")
    for i in range(4):
        c[i] = ctr[i]
    dn_philox4x32(c, key, o)
    return [o[0], o[1], o[2], o[3]]


def rng_u32(uint64_t seed, uint64_t stream, uint64_t offset, int64_t n):
    out = np.empty(n, dtype=np.uint32)
    cdef uint32_t[::1] v = out
    if n:
        dn_rng_fill_u32(seed, stream, offset, &v[0], n)
    return out


def rng_uniform(uint64_t seed, uint64_t stream, uint64_t offset, int64_t n):
    out = np.empty(n, dtype=np.float32)
    cdef float[::1] v = out
    if n:
        dn_rng_uniform(seed, stream, offset, &v[0], n)
    return out


def rng_normal(uint64_t seed, uint64_t stream, uint64_t offset, int64_t n):
    out = np.empty(n, dtype=np.float32)
    cdef float[::1] v = out
    if n:
        dn_rng_normal(seed, stream, offset, &v[0], n)
    return out


def rng_permutation(uint64_t seed, uint64_t stream, int64_t n):
    out = np.empty(n, dtype=np.int64)
    cdef int64_t[::1] v = out
    if n:
        dn_rng_permutation(seed, stream, <int64_t *>&v[0], n)
    return out


def init_fill(shape, str init, float scale=1.0, int64_t fan_in=1, int64_t fan_out=1,
              uint64_t seed=0, uint64_t stream=0):
    cdef dn_init kind
    check(dn_init_from_name(init.encode(), &kind))
    out = np.empty(shape, dtype=np.float32)
    cdef float[::1] v = out.reshape(-1)
    cdef int64_t n = out.size
    if n:
        check(dn_init_fill(&v[0], n, kind, scale, fan_in, fan_out, seed, stream))
    return out


def optim_step(str name, params, grads, states, int64_t t, double batch=1, decay=None,
               constrain=None, int nthreads=1, **settings):
    """One optimiser step on lists of float32 arrays (updated in place);
    states is a list of lists of state arrays. Returns the regularisation
    loss."""
    cdef dn_optim_config c = make_optim(name, settings)
    params, grads, states = list(params), list(grads), list(states)
    cdef int n = len(params)
    cdef int slots = dn_optim_state_slots(c.kind)
    for key, seq in (("grads", grads), ("states", states), ("decay", decay),
                     ("constrain", constrain)):
        if seq is not None and len(seq) != n:
            raise ValueError(f"{key} must hold one entry per parameter ({n}), got {len(seq)}")
    for i in range(n):
        for key, arr in [("params", params[i]), ("grads", grads[i])] + \
                [(f"states[{i}]", v) for v in list(states[i])[:slots]]:
            if not isinstance(arr, np.ndarray) or arr.dtype != np.float32 \
                    or not arr.flags.c_contiguous or arr.ndim < 1 \
                    or not (arr.flags.writeable or key == "grads"):
                raise ValueError(f"{key} must hold C-contiguous float32 arrays of at least one "
                                 f"dimension (writable, but for grads)")
            if arr.shape != params[i].shape:
                raise ValueError(f"{key}: each array must have the shape of its parameter "
                                 f"{params[i].shape}, got {arr.shape}")
        if len(states[i]) < slots:
            raise ValueError(f"optimiser {name!r} keeps {slots} state array(s) per parameter; "
                             f"states[{i}] has {len(states[i])}")
    cdef dn_param_view *views = <dn_param_view *>malloc(max(n, 1) * sizeof(dn_param_view))
    cdef cnp.ndarray p, g, s
    cdef double reg = 0
    cdef dn_status st
    try:
        for i in range(n):
            p = params[i]
            g = grads[i]
            views[i].value = <float *>cnp.PyArray_DATA(p)
            views[i].grad_in = <const float *>cnp.PyArray_DATA(g)
            views[i].state[0] = NULL
            views[i].state[1] = NULL
            for j in range(slots):
                s = states[i][j]
                views[i].state[j] = <float *>cnp.PyArray_DATA(s)
            views[i].size = p.size
            views[i].cols = p.shape[p.ndim - 1]
            views[i].decay = 1 if decay is None else int(decay[i])
            views[i].constrain = 1 if constrain is None else int(constrain[i])
        with nogil:
            st = dn_optim_step(&c, views, n, t, batch, nthreads, &reg)
        check(st)
    finally:
        free(views)
    return reg


def optim_state_slots(str name):
    cdef dn_optim_kind kind
    check(dn_optim_from_name(name.encode(), &kind))
    return dn_optim_state_slots(kind)


# ---------------------------------------------------------------------------
# RBM: energy-based models (include/dagnet/rbm.h)
#
# The model is passed as three numpy arrays: W (n_hidden, n_visible), b
# (n_visible) and c (n_hidden), with visible="bernoulli" or "gaussian".
# Functions that only read them convert them to float32 when needed;
# rbm_train_epoch updates them in place, so there they must already be
# C-contiguous, writable float32 arrays (the estimator's components_,
# intercept_visible_ and intercept_hidden_).
# ---------------------------------------------------------------------------

_RBM_VISIBLE = {"bernoulli": DN_RBM_BERNOULLI, "gaussian": DN_RBM_GAUSSIAN}
_RBM_METHODS = {"cd": DN_RBM_CD, "pcd": DN_RBM_PCD}


cdef cnp.ndarray _rbm_inplace(x, str name, tuple shape):
    """x itself: a C-contiguous, writable float32 array of this shape."""
    if not isinstance(x, np.ndarray) or x.dtype != np.float32 or not x.flags.c_contiguous \
            or not x.flags.writeable:
        raise ValueError(f"{name} is updated in place, so it must be a C-contiguous, writable "
                         f"float32 numpy array; convert it once with "
                         f"np.ascontiguousarray({name}, dtype=np.float32)")
    if x.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {x.shape}")
    return x


cdef tuple _rbm_model(dn_rbm *m, W, b, c, str visible, bint inplace):
    """Fill m from the arrays; returns the arrays m points into (keep them
    alive while m is used)."""
    if visible not in _RBM_VISIBLE:
        raise ValueError(f"visible must be one of {sorted(_RBM_VISIBLE)}, got {visible!r}")
    cdef cnp.ndarray w, bb, cc
    if inplace:
        if not isinstance(W, np.ndarray) or W.ndim != 2:
            raise ValueError("W must be a 2-D array of shape (n_hidden, n_visible)")
        w = _rbm_inplace(W, "W", W.shape)
        bb = _rbm_inplace(b, "b", (W.shape[1],))
        cc = _rbm_inplace(c, "c", (W.shape[0],))
    else:
        w = as_f32(W, "W")
        bb = as_f32(b, "b")
        cc = as_f32(c, "c")
        if w.ndim != 2:
            raise ValueError(f"W must be 2-D (n_hidden, n_visible), got shape {np.shape(w)}")
        if bb.ndim != 1 or bb.shape[0] != w.shape[1]:
            raise ValueError(f"b (the visible bias) must have shape ({w.shape[1]},), got {np.shape(bb)}")
        if cc.ndim != 1 or cc.shape[0] != w.shape[0]:
            raise ValueError(f"c (the hidden bias) must have shape ({w.shape[0]},), got {np.shape(cc)}")
    m.n_hidden = w.shape[0]
    m.n_visible = w.shape[1]
    m.visible = _RBM_VISIBLE[visible]
    m.W = <float *>cnp.PyArray_DATA(w)
    m.b = <float *>cnp.PyArray_DATA(bb)
    m.c = <float *>cnp.PyArray_DATA(cc)
    check(dn_rbm_check(m))
    return (w, bb, cc)


cdef cnp.ndarray _rbm_rows(x, str name, int64_t cols):
    cdef cnp.ndarray a = as_f32(x, name)
    if a.ndim != 2 or a.shape[1] != cols:
        raise ValueError(f"{name} must be 2-D with {cols} columns, got shape {np.shape(a)}")
    return a


cdef _rbm_conditional(bint hidden, W, b, c, X, str visible, int nthreads):
    """p(h = 1 | X) for hidden, else E[v | X], as float32 rows."""
    cdef dn_rbm m
    keep = _rbm_model(&m, W, b, c, visible, False)
    cdef cnp.ndarray x = _rbm_rows(X, "V" if hidden else "H",
                                   m.n_visible if hidden else m.n_hidden)
    cdef cnp.ndarray out = np.empty((x.shape[0], m.n_hidden if hidden else m.n_visible),
                                    dtype=np.float32)
    cdef const float *src = <const float *>cnp.PyArray_DATA(x)
    cdef float *dst = <float *>cnp.PyArray_DATA(out)
    cdef int64_t n = x.shape[0]
    cdef dn_status s
    with nogil:
        if hidden:
            s = dn_rbm_hidden_probs(&m, src, n, dst, nthreads)
        else:
            s = dn_rbm_visible_means(&m, src, n, dst, nthreads)
    check(s)
    return out


def rbm_hidden_probs(W, b, c, V, str visible="bernoulli", int nthreads=0):
    """p(h = 1 | v) = sigmoid(V W^T + c), float32 (n, n_hidden)."""
    return _rbm_conditional(True, W, b, c, V, visible, nthreads)


def rbm_visible_means(W, b, c, H, str visible="bernoulli", int nthreads=0):
    """E[v | h]: sigmoid(H W + b) (Bernoulli) or H W + b (Gaussian), float32."""
    return _rbm_conditional(False, W, b, c, H, visible, nthreads)


cdef _rbm_draw(str kind, x, str name, uint64_t seed, uint64_t stream, uint64_t offset,
               int nthreads):
    cdef cnp.ndarray p = as_f32(x, name)
    if p.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {np.shape(p)}")
    cdef cnp.ndarray out = np.empty_like(p)
    cdef const float *src = <const float *>cnp.PyArray_DATA(p)
    cdef float *dst = <float *>cnp.PyArray_DATA(out)
    cdef bint bernoulli = kind == "bernoulli"
    cdef dn_status s
    with nogil:
        if bernoulli:
            s = dn_rbm_sample_bernoulli(src, p.shape[0], p.shape[1], dst, seed, stream, offset,
                                        nthreads)
        else:
            s = dn_rbm_sample_gaussian(src, p.shape[0], p.shape[1], dst, seed, stream, offset,
                                       nthreads)
    check(s)
    return out


def rbm_sample_bernoulli(P, uint64_t seed=0, uint64_t stream=0, uint64_t offset=0,
                         int nthreads=0):
    """[u < P] as float32 of P's shape (2-D), u at positions offset + r cols + j."""
    return _rbm_draw("bernoulli", P, "P", seed, stream, offset, nthreads)


def rbm_sample_gaussian(mean, uint64_t seed=0, uint64_t stream=0, uint64_t offset=0,
                        int nthreads=0):
    """mean + N(0, 1) as float32 (2-D)."""
    return _rbm_draw("gaussian", mean, "mean", seed, stream, offset, nthreads)


def rbm_gibbs(W, b, c, start, int k=1, bint from_hidden=False, str visible="bernoulli",
              uint64_t seed=0, uint64_t stream=0, uint64_t offset=0, int nthreads=0):
    """k block-Gibbs steps from V (n, n_visible) or, with from_hidden, from H
    (n, n_hidden). Returns (v, h, v_mean, h_prob, positions): the last samples,
    the means v was drawn from, p(h | v), and the number of random positions
    used (add it to offset before the next call)."""
    cdef dn_rbm m
    keep = _rbm_model(&m, W, b, c, visible, False)
    cdef cnp.ndarray st = _rbm_rows(start, "start", m.n_hidden if from_hidden else m.n_visible)
    cdef int64_t n = st.shape[0]
    cdef cnp.ndarray v = np.array(st, dtype=np.float32, copy=True) if not from_hidden \
        else np.zeros((n, m.n_visible), dtype=np.float32)
    cdef cnp.ndarray h = np.array(st, dtype=np.float32, copy=True) if from_hidden \
        else np.zeros((n, m.n_hidden), dtype=np.float32)
    cdef cnp.ndarray vm = np.empty((n, m.n_visible), dtype=np.float32)
    cdef cnp.ndarray hp = np.empty((n, m.n_hidden), dtype=np.float32)
    cdef dn_status s
    with nogil:
        s = dn_rbm_gibbs(&m, n, k, from_hidden, <float *>cnp.PyArray_DATA(v),
                         <float *>cnp.PyArray_DATA(h), <float *>cnp.PyArray_DATA(vm),
                         <float *>cnp.PyArray_DATA(hp), seed, stream, offset, nthreads)
    check(s)
    return v, h, vm, hp, int(dn_rbm_gibbs_positions(&m, n, k))


def rbm_free_energy(W, b, c, V, str visible="bernoulli", int nthreads=0):
    """Free energy F(v) per row, float64."""
    cdef dn_rbm m
    keep = _rbm_model(&m, W, b, c, visible, False)
    cdef cnp.ndarray v = _rbm_rows(V, "V", m.n_visible)
    cdef cnp.ndarray out = np.empty(v.shape[0], dtype=np.float64)
    cdef dn_status s
    with nogil:
        s = dn_rbm_free_energy(&m, <const float *>cnp.PyArray_DATA(v), v.shape[0],
                               <double *>cnp.PyArray_DATA(out), nthreads)
    check(s)
    return out


def rbm_pseudo_likelihood(W, b, c, V, feature=None, int nthreads=0):
    """Log pseudo-likelihood per binary row (float64): exact over all features,
    or n_visible * log sigmoid(F(flipped at feature[r]) - F(v)) when feature
    (one index per row) is given, as scikit-learn's score_samples."""
    cdef dn_rbm m
    keep = _rbm_model(&m, W, b, c, "bernoulli", False)
    cdef cnp.ndarray v = _rbm_rows(V, "V", m.n_visible)
    cdef cnp.ndarray out = np.empty(v.shape[0], dtype=np.float64)
    cdef cnp.ndarray f
    cdef const int64_t *fp = NULL
    if feature is not None:
        f = np.ascontiguousarray(feature, dtype=np.int64)
        if f.ndim != 1 or f.shape[0] != v.shape[0]:
            raise ValueError(f"feature must hold one index per row ({v.shape[0]}), got shape {np.shape(f)}")
        fp = <const int64_t *>cnp.PyArray_DATA(f)
    cdef dn_status s
    with nogil:
        s = dn_rbm_pseudo_likelihood(&m, <const float *>cnp.PyArray_DATA(v), v.shape[0], fp,
                                     <double *>cnp.PyArray_DATA(out), nthreads)
    check(s)
    return out


def rbm_train_epoch(W, b, c, X, *, str method="pcd", int k=1, int64_t batch_size=10,
                    float learning_rate=0.1, float momentum=0.0, float l2=0.0,
                    bint shuffle=False, bint neg_per_batch=False, bint monitor=False,
                    uint64_t seed=0, chains=None, velocities=None, int64_t epoch=0,
                    str visible="bernoulli", sample_weight=None, int nthreads=0):
    """One epoch of CD-k ("cd") or PCD-k ("pcd") over X, updating W, b, c in
    place (and chains, the PCD hidden state (n_chains, n_hidden), and
    velocities, a tuple (vW, vb, vc) needed when momentum > 0).
    scikit-learn's BernoulliRBM recipe is method="pcd", k=1, shuffle=False,
    neg_per_batch=True with chains of batch_size rows (zeros at the start).
    sample_weight (n,) weighs the rows (see dn_rbm_train_config).
    Returns (reconstruction error or None, the next epoch counter)."""
    cdef dn_rbm m
    keep = _rbm_model(&m, W, b, c, visible, True)
    if method not in _RBM_METHODS:
        raise ValueError(f"method must be one of {sorted(_RBM_METHODS)}, got {method!r}")
    cdef cnp.ndarray x = _rbm_rows(X, "X", m.n_visible)
    cdef dn_rbm_train_config cfg
    dn_rbm_train_default(&cfg)
    cfg.method = _RBM_METHODS[method]
    cfg.k = k
    cfg.batch_size = batch_size
    cfg.lr = learning_rate
    cfg.momentum = momentum
    cfg.l2 = l2
    cfg.shuffle = shuffle
    cfg.neg_per_batch = neg_per_batch
    cfg.monitor = monitor
    cfg.seed = seed
    cdef cnp.ndarray sw
    if sample_weight is not None:
        sw = np.ascontiguousarray(sample_weight, dtype=np.float32)
        if sw.ndim != 1 or sw.shape[0] != x.shape[0]:
            raise ValueError(f"sample_weight must hold one weight per row of X ({x.shape[0]}), "
                             f"got shape {np.shape(sample_weight)}")
        cfg.sample_weight = <const float *>cnp.PyArray_DATA(sw)
    cdef dn_rbm_train_state st
    st.chains = NULL
    st.n_chains = 0
    st.vel_W = st.vel_b = st.vel_c = NULL
    st.epoch = epoch
    cdef cnp.ndarray ch, vw, vb, vc
    if chains is not None:
        if not isinstance(chains, np.ndarray) or chains.ndim != 2:
            raise ValueError("chains must be a 2-D array (n_chains, n_hidden)")
        ch = _rbm_inplace(chains, "chains", (chains.shape[0], m.n_hidden))
        st.chains = <float *>cnp.PyArray_DATA(ch)
        st.n_chains = ch.shape[0]
    if velocities is not None:
        if len(velocities) != 3:
            raise ValueError("velocities must be a tuple (vW, vb, vc) shaped like W, b and c")
        vw = _rbm_inplace(velocities[0], "velocities[0]", (m.n_hidden, m.n_visible))
        vb = _rbm_inplace(velocities[1], "velocities[1]", (m.n_visible,))
        vc = _rbm_inplace(velocities[2], "velocities[2]", (m.n_hidden,))
        st.vel_W = <float *>cnp.PyArray_DATA(vw)
        st.vel_b = <float *>cnp.PyArray_DATA(vb)
        st.vel_c = <float *>cnp.PyArray_DATA(vc)
    cdef double mon = 0
    cdef dn_status s
    with nogil:
        s = dn_rbm_train_epoch(&m, &cfg, &st, <const float *>cnp.PyArray_DATA(x), x.shape[0],
                               nthreads, &mon)
    check(s)
    return (mon if monitor else None), int(st.epoch)


def rbm_log_z_exact(W, b, c, str visible="bernoulli", int nthreads=0):
    """log Z by enumeration of the smaller layer (at most 30 units)."""
    cdef dn_rbm m
    keep = _rbm_model(&m, W, b, c, visible, False)
    cdef double lz = 0
    cdef dn_status s
    with nogil:
        s = dn_rbm_log_z_exact(&m, nthreads, &lz)
    check(s)
    return lz


def rbm_ais_betas(int64_t n):
    """The default AIS schedule of n betas from 0 to 1, denser near 1."""
    out = np.empty(max(n, 0), dtype=np.float64)
    cdef double[::1] o = out
    check(dn_rbm_ais_betas(n, &o[0] if n > 0 else NULL))
    return out


def rbm_log_z_ais(W, b, c, str visible="bernoulli", int64_t n_runs=100, int64_t n_betas=10000,
                  betas=None, base_b=None, uint64_t seed=0, int nthreads=0):
    """log Z by annealed importance sampling from the base-rate model with
    visible bias base_b. Returns a dict: log_z, log_z_base, log_se (log of
    std(w) / sqrt(n_runs) on Z's scale), rel_se (about the standard error of
    log_z in nats) and log_w (the runs' log weights)."""
    cdef dn_rbm m
    keep = _rbm_model(&m, W, b, c, visible, False)
    cdef dn_rbm_ais_config cfg
    dn_rbm_ais_default(&cfg)
    cfg.n_runs = n_runs
    cfg.n_betas = n_betas
    cfg.seed = seed
    cdef cnp.ndarray bt, ba
    if betas is not None:
        bt = np.ascontiguousarray(betas, dtype=np.float64)
        if bt.ndim != 1 or bt.shape[0] < 2:
            raise ValueError("betas must be a 1-D schedule of at least 2 values from 0 to 1")
        cfg.betas = <const double *>cnp.PyArray_DATA(bt)
        cfg.n_betas = bt.shape[0]
    if base_b is not None:
        ba = as_f32(base_b, "base_b")
        if ba.ndim != 1 or ba.shape[0] != m.n_visible:
            raise ValueError(f"base_b must have shape ({m.n_visible},), got {np.shape(ba)}")
        cfg.base_b = <const float *>cnp.PyArray_DATA(ba)
    if n_runs < 2:
        raise ValueError(f"n_runs must be >= 2, got {n_runs}")
    cdef cnp.ndarray lw = np.empty(n_runs, dtype=np.float64)
    cdef dn_rbm_ais_result res
    cdef dn_status s
    with nogil:
        s = dn_rbm_log_z_ais(&m, &cfg, nthreads, &res, <double *>cnp.PyArray_DATA(lw))
    check(s)
    return {"log_z": res.log_z, "log_z_base": res.log_z_base, "log_se": res.log_se,
            "rel_se": res.rel_se, "log_w": lw}
