/* LOSS: loss(pred, target [, sample_weight]) -> scalar (include/dagnet/ops.h).
 *
 * The value is sum_i w_i l_i / sum_i w_i over the n samples of the batch
 * (w = 1 without weights, so the plain mean of seed 000 section 2; a zero
 * weight sum gives loss 0 and gradient 0), with per-sample losses
 *   MSE         l = 1/2 sum_j (p_j - t_j)^2                 (seed 000, 2.1)
 *   BCE_LOGITS  l = sum_j softplus(z_j) - t_j z_j           (seed 000, 2.2)
 *   SOFTMAX_CE  l = sum_rows logsumexp(z) sum_j t_j - sum_j t_j z_j
 *                 = -sum_j t_j log softmax(z)_j             (seed 000, 2.3)
 *   POISSON     l = sum_j exp(z_j) - t_j z_j                (log link)
 * and the fused gradients of the seed (times w_i / sum w):
 *   MSE p - t;  BCE sigmoid(z) - t;  POISSON exp(z) - t;
 *   SOFTMAX_CE softmax(z) sum_j t_j - t, which is the seed's softmax(z) - t
 *   for targets that sum to 1 (one-hot or probabilities), and exact for any.
 * softplus(z) = max(z, 0) + log1p(exp(-|z|)) and log-sum-exp with the row
 * maximum subtracted keep every value finite for finite logits.
 *
 * SOFTMAX_CE runs over the last axis of pred (K classes). Its target is
 * either pred's shape (probabilities or one-hot) or holds one class index
 * per row: pred's per-sample shape with the last axis 1 or without it (for
 * pred (K,): (1,) or ()). Kernels cannot fail, so a row whose index is not
 * an integer in [0, K) adds nothing to the loss nor to the gradient (its
 * weight still counts in the denominator); the Python layer validates
 * labels before they get here. sample_weight has per-sample shape (1,) or ().
 *
 * Inputs after these that have no batch dimension are added terms: single
 * numbers (the penalties of src/ops/penalty.c) added to the value as they
 * are, neither weighted nor averaged, each with gradient gout. So the one
 * loss node of a graph is its whole objective, and training, L-BFGS's
 * objective and validation see the penalties without knowing of them.
 *
 * Sums over the batch are taken in double: per fixed chunk of samples (the
 * chunks depend on the batch size only), chunks added in order. SOFTMAX_CE's
 * forward keeps what backward needs of the softmax of every row (saved). Backward
 * writes the prediction's gradient whole when the executor marks it fresh
 * (DN_OPF_BWD_FRESH). The fast kernels compute exp, log, softplus and
 * sigmoid with the vectorisable float functions of fastmath.h; the _ref
 * twins use libm in double.
 */
#include <float.h>
#include <math.h>
#include "internal.h"
#include "fastmath.h"

#define LOSS_MAX_CHUNKS 256
#define LOSS_MIN_CHUNK 64        /* samples */
#define LOSS_PAR_MIN 16384       /* prediction elements before threads are used */

/* What the kernels need to walk the inputs. */
typedef struct loss_layout {
    dn_loss loss;
    int64_t per;   /* pred elements per sample */
    int64_t K;     /* SOFTMAX_CE: classes (pred's last axis) */
    int64_t rows;  /* SOFTMAX_CE: rows of K per sample */
    int index;     /* the target holds class indices (one per row) */
    const float *w; /* sample weights or NULL */
} loss_layout;

static int same_shape(const dn_shape *a, const dn_shape *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

/* 1 when t is an index-target shape for pred p: p with its last axis 1, or
 * p without its last axis. */
static int index_shape(const dn_shape *p, const dn_shape *t)
{
    dn_shape q = *p;
    if (p->ndim < 1) return 0;
    q.dims[q.ndim - 1] = 1;
    if (same_shape(&q, t)) return 1;
    q.dims[q.ndim - 1] = 0;
    q.ndim--;
    return same_shape(&q, t);
}

static loss_layout loss_dims(const dn_ctx *c)
{
    const dn_node *node = c->node;
    const dn_shape *p = &node->in_shape[0];
    loss_layout L;
    L.loss = node->attrs.loss;
    L.per = dn_shape_numel(p);
    L.index = L.loss == DN_LOSS_SOFTMAX_CE && !same_shape(p, &node->in_shape[1]);
    L.K = p->ndim > 0 ? p->dims[p->ndim - 1] : 1;
    L.rows = L.K > 0 ? L.per / L.K : 0;
    L.w = dn_loss_weight_node(node) >= 0 ? c->in[2] : NULL;
    return L;
}

static dn_status loss_infer(dn_node *node)
{
    char ps[96], ts[96], ws[96];
    dn_loss loss = node->attrs.loss;
    if (node->n_in < 2)
        return dn_fail_node(node, DN_ERR_INVALID,
                            "a loss takes (pred, target) or (pred, target, "
                            "sample_weight), got %d inputs", node->n_in);
    for (int i = 2; i < node->n_in; i++)
        if (!node->in_batched[i] && dn_shape_numel(&node->in_shape[i]) != 1)
            return dn_fail_node(node, DN_ERR_INVALID,
                                "input %d is an added term but holds %lld values; a term "
                                "must be one number (a penalty node's output)", i,
                                (long long)dn_shape_numel(&node->in_shape[i]));
    if (loss < 0 || loss >= DN_LOSS_COUNT)
        return dn_fail_node(node, DN_ERR_INVALID, "unknown loss %d; use a dn_loss below %d",
                            (int)loss, (int)DN_LOSS_COUNT);
    for (int i = 0; i < node->n_in; i++)
        if (!node->in_batched[i] && i < 2)
            return dn_fail_node(node, DN_ERR_INVALID,
                                "input %d (%s) has no batch dimension; pred, target "
                                "and sample_weight must all be batched",
                                i, i == 0 ? "pred" : i == 1 ? "target" : "sample_weight");
    const dn_shape *p = &node->in_shape[0], *t = &node->in_shape[1];
    dn_shape_format(p, ps, sizeof ps);
    dn_shape_format(t, ts, sizeof ts);
    if (loss == DN_LOSS_SOFTMAX_CE) {
        if (p->ndim < 1 || p->dims[p->ndim - 1] < 1)
            return dn_fail_node(node, DN_ERR_INVALID,
                                "softmax cross-entropy needs a class axis (last) of "
                                "size >= 1; pred has per-sample shape %s", ps);
        if (!same_shape(p, t) && !index_shape(p, t))
            return dn_fail_node(node, DN_ERR_INVALID,
                                "target has per-sample shape %s; for pred %s give "
                                "probabilities of shape %s or one class index per "
                                "row (pred's shape with the last axis 1 or dropped)",
                                ts, ps, ps);
    } else if (!same_shape(p, t)) {
        return dn_fail_node(node, DN_ERR_INVALID,
                            "target has per-sample shape %s but pred has %s; the %s "
                            "loss needs them equal", ts, ps, dn_loss_name(loss));
    }
    for (int i = 3; i < node->n_in; i++)
        if (node->in_batched[i])
            return dn_fail_node(node, DN_ERR_INVALID,
                                "input %d is batched; after (pred, target, sample_weight) a "
                                "loss takes only added terms of one number each", i);
    if (dn_loss_weight_node(node) >= 0) {
        const dn_shape *w = &node->in_shape[2];
        if (!(w->ndim == 0 || (w->ndim == 1 && w->dims[0] == 1))) {
            dn_shape_format(w, ws, sizeof ws);
            return dn_fail_node(node, DN_ERR_INVALID,
                                "sample_weight has per-sample shape %s; give one "
                                "weight per sample, shape (1,) or ()", ws);
        }
    }
    memset(&node->shape, 0, sizeof node->shape);
    node->batched = 0;
    /* SOFTMAX_CE keeps e^(z - shift) of every row and 1 / its sum from
     * forward for backward */
    node->saved_per_sample =
        loss == DN_LOSS_SOFTMAX_CE ? dn_shape_numel(p) + dn_shape_numel(p) / p->dims[p->ndim - 1]
                                   : 0;
    node->saved_fixed = 0;
    return DN_OK;
}

/* l of one element of the elementwise losses. */
static inline float elem_loss(dn_loss loss, float z, float t)
{
    float d = z - t;
    switch (loss) {
    case DN_LOSS_MSE: return 0.5f * d * d;
    case DN_LOSS_BCE_LOGITS: return softplus_fast(z) - t * z;
    default: return exp_fast(z) - t * z; /* POISSON */
    }
}

static double total8(const double a[8])
{
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* a[j % 8] += elem_loss(z_j, t_j) for z, t (n); inlined with `loss` fixed. */
static inline void lane_losses(double a[8], dn_loss loss, const float *z, const float *t,
                               int64_t n)
{
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int l = 0; l < 8; l++) a[l] += elem_loss(loss, z[j + l], t[j + l]);
    for (int l = 0; j < n; j++, l++) a[l] += elem_loss(loss, z[j], t[j]);
}

/* sum_j l(z_j, t_j) over z, t (n) in double (8 lanes, fixed order). */
static inline double sum_elem_loss(dn_loss loss, const float *z, const float *t, int64_t n)
{
    double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    if (loss == DN_LOSS_MSE)
        lane_losses(a, DN_LOSS_MSE, z, t, n);
    else if (loss == DN_LOSS_BCE_LOGITS)
        lane_losses(a, DN_LOSS_BCE_LOGITS, z, t, n);
    else
        lane_losses(a, DN_LOSS_POISSON, z, t, n);
    return total8(a);
}

/* gin (n) += s dl/dz over z, t (n): the fused gradients. */
static inline void add_elem_grad(dn_loss loss, float *gin, const float *z, const float *t,
                                 float s, int64_t n)
{
    if (loss == DN_LOSS_MSE)
        for (int64_t j = 0; j < n; j++) gin[j] += s * (z[j] - t[j]);
    else if (loss == DN_LOSS_BCE_LOGITS)
        for (int64_t j = 0; j < n; j++) gin[j] += s * (sigmoid_fast(z[j]) - t[j]);
    else
        for (int64_t j = 0; j < n; j++) gin[j] += s * (exp_fast(z[j]) - t[j]);
}

/* *ts = sum t, *tz = sum t z over t, z (K), in double lanes. */
static inline void target_sums(const float *t, const float *z, int64_t K, double *ts, double *tz)
{
    double a[8] = {0, 0, 0, 0, 0, 0, 0, 0}, b[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t j = 0;
    for (; j + 8 <= K; j += 8)
        for (int l = 0; l < 8; l++) {
            a[l] += t[j + l];
            b[l] += (double)t[j + l] * z[j + l];
        }
    for (int l = 0; j < K; j++, l++) {
        a[l] += t[j];
        b[l] += (double)t[j] * z[j];
    }
    *ts = total8(a);
    *tz = total8(b);
}

/* The class index a target value holds, or -1 when it is not an integer in
 * [0, K). */
static inline int64_t class_index(float v, int64_t K)
{
    if (!(v >= 0.0f && v < (float)K) || v != floorf(v)) return -1;
    return (int64_t)v;
}

/* --- softmax cross-entropy, a block of rows at a time -----------------------
 *
 * Few classes (digits: 10) make per-row loops short and their fixed costs
 * dominant, so forward works on blocks of up to SOFTMAX_BLOCK_ROWS rows as
 * one flat array: M = the block's maximum, e = e^(z - M) over the whole
 * block, then per row s = sum e and the log-sum-exp M + log s. Forward
 * saves e and 1 / s, so that backward, softmax(z) tsum - t with softmax(z)
 * = e / s, is a plain pass with no exponential. Subtracting M instead of
 * each row's own maximum gives the same log-sum-exp (seed 000, 2.3) for any
 * shift; it only loses accuracy in a row whose maximum lies far below M:
 * a row whose s falls below SOFTMAX_SUM_MIN (its maximum more than about 27
 * below M), or is not finite, is redone with its own maximum.
 * The saved buffer holds e (n, per), then 1 / s (n, rows). */
#define SOFTMAX_BLOCK_ROWS 64
#define SOFTMAX_SUM_MIN 1e-12f

/* The largest of z (n > 0), in 16 lanes. */
static inline float block_max(const float *z, int64_t n)
{
    float part[16];
    for (int l = 0; l < 16; l++) part[l] = z[0];
    int64_t j = 0;
    for (; j + 16 <= n; j += 16)
        for (int l = 0; l < 16; l++) part[l] = z[j + l] > part[l] ? z[j + l] : part[l];
    float m = part[0];
    for (int l = 1; l < 16; l++) m = part[l] > m ? part[l] : m;
    for (; j < n; j++) m = z[j] > m ? z[j] : m;
    return m;
}

/* sum of e (K): in order for few classes, else in 8 lanes added in a fixed
 * order, then the rest in order */
static inline float row_sum(const float *e, int64_t K)
{
    float s = 0.0f;
    int64_t j = 0;
    if (K >= 16) {
        float a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (; j + 8 <= K; j += 8)
            for (int l = 0; l < 8; l++) a[l] += e[j + l];
        s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    }
    for (; j < K; j++) s += e[j];
    return s;
}

/* One row z (K) redone with its own maximum: e = e^(z - max); returns the
 * log-sum-exp (libm's log: the sum may be inf or NaN here) and *s the sum. */
static float row_own_max(const float *z, float *e, int64_t K, float *s)
{
    float m = z[0];
    for (int64_t j = 1; j < K; j++) m = z[j] > m ? z[j] : m;
    for (int64_t j = 0; j < K; j++) e[j] = exp_fast(z[j] - m);
    *s = row_sum(e, K);
    return m + logf(*s);
}

/* R <= SOFTMAX_BLOCK_ROWS rows of K: e (R, K) = e^(z - shift) for each row
 * of z, inv (R) = 1 / sum of the row of e, lse (R) = log-sum-exp of z. */
static inline __attribute__((always_inline)) void
softmax_block(const float *z, float *e, float *inv, float *lse, int64_t R, int64_t K)
{
    const int64_t n = R * K;
    const float M = block_max(z, n);
    float s[SOFTMAX_BLOCK_ROWS];
    for (int64_t j = 0; j < n; j++) e[j] = exp_fast(z[j] - M);
    for (int64_t r = 0; r < R; r++) s[r] = row_sum(e + r * K, K);
    for (int64_t r = 0; r < R; r++) lse[r] = M + log_fast(s[r]);
    for (int64_t r = 0; r < R; r++)
        if (!(s[r] >= SOFTMAX_SUM_MIN && s[r] <= FLT_MAX)) /* rare: see above */
            lse[r] = row_own_max(z + r * K, e + r * K, K, &s[r]);
    for (int64_t r = 0; r < R; r++) inv[r] = 1.0f / s[r];
}

/* Softmax CE over samples [b, e) of z (n, per), t (n, tper): sum_i w_i
 * l_i with l_i the sum over its rows of lse tsum - sum t z (an index target
 * k: lse - z_k; an invalid index: nothing); fills e (n, per) and inv (n,
 * rows) as described above. */
static inline __attribute__((always_inline)) double
softmax_chunk_loss(const loss_layout *L, const float *z, const float *t, int64_t tper,
                   int64_t b, int64_t e, float *ex, float *inv)
{
    const int64_t K = L->K, rows = L->rows, R = (e - b) * rows;
    float lse[SOFTMAX_BLOCK_ROWS];
    double total = 0.0, l = 0.0;
    int64_t i = b, rr = 0; /* the sample and row of block row q */
    for (int64_t r0 = 0; r0 < R; r0 += SOFTMAX_BLOCK_ROWS) {
        const int64_t nr = DN_MIN((int64_t)SOFTMAX_BLOCK_ROWS, R - r0), off = b * rows + r0;
        softmax_block(z + off * K, ex + off * K, inv + off, lse, nr, K);
        for (int64_t q = 0; q < nr; q++) {
            const float *zr = z + (off + q) * K, *ti = t + i * tper;
            if (L->index) {
                const int64_t k = class_index(ti[rr], K);
                if (k >= 0) l += (double)lse[q] - zr[k];
            } else {
                double ts, tz;
                target_sums(ti + rr * K, zr, K, &ts, &tz);
                l += lse[q] * ts - tz;
            }
            if (++rr == rows) { /* the sample's last row */
                total += L->w ? L->w[i] * l : l;
                l = 0.0;
                rr = 0;
                i++;
            }
        }
    }
    return total;
}

/* gin (n, per) += (or, fresh, =) scale w_i dl_i/dz over samples [b, e),
 * from forward's e (n, per) and inv (n, rows): s (p tsum - t) per row with
 * p = e inv; index targets s p, minus s at the index; nothing for an
 * invalid index. */
static inline __attribute__((always_inline)) void
softmax_chunk_grad(const loss_layout *L, const float *t, int64_t tper, const float *ex,
                   const float *inv, double scale, int64_t b, int64_t e, int fresh, float *gin)
{
    const int64_t K = L->K, rows = L->rows;
    for (int64_t i = b; i < e; i++) {
        const float s = (float)(L->w ? scale * L->w[i] : scale);
        const float *ti = t + i * tper;
        for (int64_t r = 0; r < rows; r++) {
            const float *er = ex + i * L->per + r * K;
            const float sp = s * inv[i * rows + r]; /* s / sum e */
            float *gr = gin + i * L->per + r * K;
            if (L->index) {
                const int64_t k = class_index(ti[r], K);
                if (k < 0) {
                    if (fresh)
                        for (int64_t j = 0; j < K; j++) gr[j] = 0.0f;
                    continue;
                }
                if (fresh)
                    for (int64_t j = 0; j < K; j++) gr[j] = sp * er[j];
                else
                    for (int64_t j = 0; j < K; j++) gr[j] += sp * er[j];
                gr[k] -= s;
                continue;
            }
            const float *tr = ti + r * K;
            double ts, tz;
            target_sums(tr, er, K, &ts, &tz);
            const float spt = sp * (float)ts;
            if (fresh)
                for (int64_t j = 0; j < K; j++) gr[j] = spt * er[j] - s * tr[j];
            else
                for (int64_t j = 0; j < K; j++) gr[j] += spt * er[j] - s * tr[j];
        }
    }
}

/* l of one sample of an elementwise loss. */
static inline double sample_loss(const loss_layout *L, const float *z, const float *t)
{
    return sum_elem_loss(L->loss, z, t, L->per);
}

static int64_t chunk_samples(int64_t n)
{
    int64_t c = (n + LOSS_MAX_CHUNKS - 1) / LOSS_MAX_CHUNKS;
    return c < LOSS_MIN_CHUNK ? LOSS_MIN_CHUNK : c;
}

/* sum_i w_i, in order (n when unweighted). */
static double weight_sum(const float *w, int64_t n)
{
    double s = 0.0;
    if (!w) return (double)n;
    for (int64_t i = 0; i < n; i++) s += w[i];
    return s;
}

/* sum over samples [b, e) of w_i l_i, in order; z (n, per), t (n, tper);
 * SOFTMAX_CE fills its saved e and inv. One call per chunk, so the per-row
 * work of few classes is not per-call work. */
DN_TARGET_CLONES
static double chunk_loss(const loss_layout *L, const float *z, const float *t, int64_t tper,
                         int64_t b, int64_t e, float *ex, float *inv)
{
    if (L->loss == DN_LOSS_SOFTMAX_CE) return softmax_chunk_loss(L, z, t, tper, b, e, ex, inv);
    double s = 0.0;
    for (int64_t i = b; i < e; i++) {
        double l = sample_loss(L, z + i * L->per, t + i * tper);
        s += L->w ? L->w[i] * l : l;
    }
    return s;
}

/* gin (n, per) += (fresh: =) scale w_i dl_i/dz over samples [b, e), with
 * the saved e and inv from forward for SOFTMAX_CE. */
DN_TARGET_CLONES
static void chunk_grad(const loss_layout *L, const float *z, const float *t, int64_t tper,
                       const float *ex, const float *inv, double scale, int64_t b, int64_t e,
                       int fresh, float *gin)
{
    if (L->loss == DN_LOSS_SOFTMAX_CE) {
        softmax_chunk_grad(L, t, tper, ex, inv, scale, b, e, fresh, gin);
        return;
    }
    if (fresh) memset(gin + b * L->per, 0, (size_t)((e - b) * L->per) * sizeof(float));
    for (int64_t i = b; i < e; i++) {
        float s = (float)(L->w ? scale * L->w[i] : scale);
        add_elem_grad(L->loss, gin + i * L->per, z + i * L->per, t + i * tper, s, L->per);
    }
}

/* out () += the added terms (unbatched inputs 2 and on, one number each). */
static void add_terms(const dn_ctx *c)
{
    for (int i = 2; i < c->node->n_in; i++)
        if (!c->node->in_batched[i]) c->out[0] += c->in[i][0];
}

/* gin term () += (fresh: =) gout (): each term enters the loss with weight 1. */
static void terms_backward(const dn_ctx *c)
{
    for (int i = 2; i < c->node->n_in; i++)
        if (!c->node->in_batched[i] && c->gin[i])
            c->gin[i][0] = ((c->gin_fresh >> i) & 1 ? 0.0f : c->gin[i][0]) + c->gout[0];
}

/* out () = sum_i w_i l_i / sum_i w_i; pred (n, ...), target (n, ...),
 * weight (n); saved: SOFTMAX_CE's e (n, per) and inv (n, rows). Threads
 * over chunks of samples. */
static void loss_forward(const dn_ctx *c)
{
    loss_layout L = loss_dims(c);
    int64_t n = c->n, tper = dn_node_in_numel(c->node, 1, 1);
    int64_t chunk = chunk_samples(n), nchunks = (n + chunk - 1) / chunk;
    double part[LOSS_MAX_CHUNKS], num = 0.0, den = weight_sum(L.w, n);
    float *ex = L.loss == DN_LOSS_SOFTMAX_CE ? c->saved : NULL;
    float *inv = ex ? ex + n * L.per : NULL;
#pragma omp parallel for num_threads(c->nthreads) if(nchunks > 1 && n * L.per >= LOSS_PAR_MIN) schedule(static)
    for (int64_t k = 0; k < nchunks; k++)
        part[k] = chunk_loss(&L, c->in[0], c->in[1], tper, k * chunk, DN_MIN(n, (k + 1) * chunk),
                             ex, inv);
    for (int64_t k = 0; k < nchunks; k++) num += part[k];
    c->out[0] = den != 0.0 ? (float)(num / den) : 0.0f;
    add_terms(c);
}

/* gin pred (n, ...) += (fresh: =) gout () * w_i / sum w * dl_i/dz, with
 * saved from forward. Each thread takes a range of samples. */
static void loss_backward(const dn_ctx *c)
{
    loss_layout L = loss_dims(c);
    int64_t n = c->n, tper = dn_node_in_numel(c->node, 1, 1);
    double den = weight_sum(L.w, n);
    const int fresh = c->gin_fresh & 1;
    terms_backward(c);
    if (!c->gin[0]) return;
    if (den == 0.0) {
        if (fresh) memset(c->gin[0], 0, (size_t)(n * L.per) * sizeof(float));
        return;
    }
    double scale = c->gout[0] / den;
    const float *ex = L.loss == DN_LOSS_SOFTMAX_CE ? c->saved : NULL;
    const float *inv = ex ? ex + n * L.per : NULL;
    int nt = c->nthreads > 1 && n > 1 && n * L.per >= LOSS_PAR_MIN
                 ? (int)DN_MIN((int64_t)c->nthreads, n) : 1;
#pragma omp parallel for num_threads(nt) if(nt > 1) schedule(static)
    for (int t = 0; t < nt; t++)
        chunk_grad(&L, c->in[0], c->in[1], tper, ex, inv, scale, n * t / nt, n * (t + 1) / nt,
                   fresh, c->gin[0]);
}

/* Reference per-sample loss, all in double; SOFTMAX_CE writes the softmax
 * of each row to p (per) and 1 to inv (rows) when given: the saved values of
 * forward for the shift by the log-sum-exp. */
static double sample_loss_ref(const loss_layout *L, const float *z, const float *t,
                              float *p, float *inv)
{
    double l = 0.0;
    if (L->loss != DN_LOSS_SOFTMAX_CE) {
        for (int64_t j = 0; j < L->per; j++) {
            double zj = z[j], tj = t[j];
            if (L->loss == DN_LOSS_MSE) l += 0.5 * (zj - tj) * (zj - tj);
            if (L->loss == DN_LOSS_BCE_LOGITS)
                l += fmax(zj, 0.0) + log1p(exp(-fabs(zj))) - tj * zj;
            if (L->loss == DN_LOSS_POISSON) l += exp(zj) - tj * zj;
        }
        return l;
    }
    for (int64_t r = 0; r < L->rows; r++) {
        const float *zr = z + r * L->K;
        double mx = zr[0], s = 0.0;
        for (int64_t j = 1; j < L->K; j++) mx = fmax(mx, zr[j]);
        for (int64_t j = 0; j < L->K; j++) s += exp(zr[j] - mx);
        double lse = mx + log(s);
        if (p) {
            for (int64_t j = 0; j < L->K; j++) p[r * L->K + j] = (float)exp(zr[j] - lse);
            inv[r] = 1.0f;
        }
        if (L->index) {
            int64_t k = class_index(t[r], L->K);
            if (k >= 0) l += lse - zr[k];
        } else {
            for (int64_t j = 0; j < L->K; j++) l += t[r * L->K + j] * (lse - zr[j]);
        }
    }
    return l;
}

/* Reference: out () = sum_i w_i l_i / sum_i w_i, one sample at a time. */
static void loss_forward_ref(const dn_ctx *c)
{
    loss_layout L = loss_dims(c);
    int64_t tper = dn_node_in_numel(c->node, 1, 1);
    double num = 0.0, den = 0.0;
    for (int64_t i = 0; i < c->n; i++) {
        double w = L.w ? L.w[i] : 1.0;
        float *p = c->saved && L.loss == DN_LOSS_SOFTMAX_CE ? c->saved + i * L.per : NULL;
        float *inv = p ? c->saved + c->n * L.per + i * L.rows : NULL;
        num += w * sample_loss_ref(&L, c->in[0] + i * L.per, c->in[1] + i * tper, p, inv);
        den += w;
    }
    c->out[0] = den != 0.0 ? (float)(num / den) : 0.0f;
    add_terms(c);
}

/* Reference: gin pred (n, ...) += (fresh: =) gout () w_i / sum w dl_i/dz,
 * in double. */
static void loss_backward_ref(const dn_ctx *c)
{
    loss_layout L = loss_dims(c);
    int64_t tper = dn_node_in_numel(c->node, 1, 1);
    double den = 0.0;
    for (int64_t i = 0; i < c->n; i++) den += L.w ? L.w[i] : 1.0;
    terms_backward(c);
    if (!c->gin[0]) return;
    if (c->gin_fresh & 1) memset(c->gin[0], 0, (size_t)(c->n * L.per) * sizeof(float));
    if (den == 0.0) return;
    for (int64_t i = 0; i < c->n; i++) {
        const float *z = c->in[0] + i * L.per, *t = c->in[1] + i * tper;
        float *g = c->gin[0] + i * L.per;
        double s = c->gout[0] * (L.w ? L.w[i] : 1.0) / den;
        if (L.loss != DN_LOSS_SOFTMAX_CE) {
            for (int64_t j = 0; j < L.per; j++) {
                double zj = z[j], d = 0.0;
                if (L.loss == DN_LOSS_MSE) d = zj - t[j];
                if (L.loss == DN_LOSS_BCE_LOGITS) d = 1.0 / (1.0 + exp(-zj)) - t[j];
                if (L.loss == DN_LOSS_POISSON) d = exp(zj) - t[j];
                g[j] += (float)(s * d);
            }
            continue;
        }
        for (int64_t r = 0; r < L.rows; r++) {
            const float *zr = z + r * L.K;
            double mx = zr[0], se = 0.0, tsum = 0.0;
            int64_t k = L.index ? class_index(t[r], L.K) : -1;
            if (L.index && k < 0) continue;
            for (int64_t j = 1; j < L.K; j++) mx = fmax(mx, zr[j]);
            for (int64_t j = 0; j < L.K; j++) se += exp(zr[j] - mx);
            for (int64_t j = 0; j < L.K; j++) tsum += L.index ? (j == k) : t[r * L.K + j];
            for (int64_t j = 0; j < L.K; j++) {
                double tj = L.index ? (double)(j == k) : t[r * L.K + j];
                g[r * L.K + j] += (float)(s * (exp(zr[j] - mx) / se * tsum - tj));
            }
        }
    }
}

const dn_op_def dn_opdef_loss = {
    DN_OP_LOSS, "loss", 2, DN_MAX_INPUTS,
    DN_OPF_LOSS | DN_OPF_NO_GRAD_IN1 | DN_OPF_BWD_INALL | DN_OPF_BWD_FRESH,
    loss_infer, loss_forward, loss_backward, loss_forward_ref, loss_backward_ref};
