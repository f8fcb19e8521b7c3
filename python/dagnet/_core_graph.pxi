# The graph binding: the Graph class, which builds, compiles, runs and trains
# a graph of the C core (include/dagnet/graph.h), and the conversion of its
# node settings to dn_attrs (include/dagnet/ops.h). Included by _core.pyx.


cdef dn_attrs make_attrs(dict kw) except *:
    cdef dn_attrs a
    cdef dn_act act
    cdef dn_loss loss
    cdef dn_init init
    cdef dn_cell cell
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
            elif key == "cell":
                check(dn_cell_from_name(str(value).encode(), &cell)); a.cell = cell
            elif key == "directions": a.directions = int(value)
            elif key == "go_backwards": a.go_backwards = int(bool(value))
            elif key == "peepholes": a.peepholes = int(bool(value))
            elif key == "reset_after": a.reset_after = int(bool(value))
            elif key == "has_mask": a.has_mask = int(bool(value))
            elif key == "truncate": a.truncate = int(value)
            elif key == "recurrent_dropout": a.recurrent_dropout = float(value)
            elif key == "vocab": a.vocab = int(value)
            else:
                raise TypeError(f"unknown node setting '{key}'")
        except OverflowError:
            raise ValueError(f"node setting '{key}' = {value!r} is out of range") from None
    return a


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
