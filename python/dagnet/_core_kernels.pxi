# Kernels and tools, for tests and benchmarks: sgemm (include/dagnet/gemm.h),
# the instruction set, threads and reference mode (include/dagnet/cpu.h), the
# random numbers (include/dagnet/rng.h), initialisers (include/dagnet/init.h)
# and optimiser steps (include/dagnet/optim.h). Included by _core.pyx.

def sgemm(A, B, C=None, *, bint trans_a=False, bint trans_b=False, float alpha=1.0,
          float beta=0.0, bias=None, str act="identity", float act_alpha=0.01,
          int nthreads=0, bint reference=False, bint packed=False):
    """C = act(alpha op(A) op(B) + beta C + bias); returns C (a new array
    when C is None). packed: op(B) is packed first (dn_sgemm_pack_b) and the
    product taken from the packed copy (dn_sgemm_packed)."""
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
    cdef cnp.ndarray pk
    cdef float *pp
    if packed and trans_a:
        raise ValueError("a product with op(B) packed takes op(A) = A")
    if packed:
        pk = np.empty(max(1, dn_sgemm_packed_floats(K, N)) + 16, dtype=np.float32)
        pp = <float *>cnp.PyArray_DATA(pk)
        pp = <float *>((<size_t>pp + 63) // 64 * 64)
    with nogil:
        if reference:
            dn_sgemm_ref(trans_a, trans_b, M, N, K, alpha, pa, lda, pb, ldb, beta, pc, N, &ep)
        elif packed:
            dn_sgemm_pack_b(trans_b, K, N, pb, ldb, pp)
            dn_sgemm_packed(M, N, K, alpha, pa, lda, pp, beta, pc, N, &ep, nthreads)
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
