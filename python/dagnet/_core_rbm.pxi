# RBM: energy-based models (include/dagnet/rbm.h). Included by _core.pyx.
#
# The model is passed as three numpy arrays: W (n_hidden, n_visible), b
# (n_visible) and c (n_hidden), with visible="bernoulli" or "gaussian".
# Functions that only read them convert them to float32 when needed;
# rbm_train_epoch updates them in place, so there they must already be
# C-contiguous, writable float32 arrays (the estimator's components_,
# intercept_visible_ and intercept_hidden_).

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
