# Image augmentation: the transforms a graph draws for its training epochs,
# as functions on image batches (include/dagnet/augment.h). Included by
# _core.pyx.

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
