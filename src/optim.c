/* Optimiser updates, regularisers and constraints (include/dagnet/optim.h;
 * seed 000, sections 5 and 6).
 *
 * dn_optim_step makes one pass over each parameter: clip scale, weight-decay
 * gradient, update rule and the weight-decay loss term are fused in one loop
 * (the max-norm constraint needs the updated columns whole, so it is a second
 * pass over constrained parameters only). Elements are independent, so large
 * parameters are split over threads by element ranges; the sums (global
 * gradient norm, weight-decay loss) are taken in double per fixed chunk of a
 * parameter and the chunks added in order, so no result depends on the
 * number of threads.
 *
 * The update is a pass of its own, after backward, and not an epilogue of
 * the GEMM that computes a weight's gradient, although there the gradient
 * would never leave L1. That was built twice, with the same bits as this
 * pass, and never paid on a Zen 4 core: 5.93M cycles per backward and
 * update against 5.47M; later 0.957 times the samples per second of this
 * pass in epochs of the 784-512-256-10 network (paired, one thread) when
 * the GEMM asked for each block's weights and state ahead, and no faster
 * than this pass when it did not. The update moves 24 of its 28 bytes per
 * parameter to and from w, m and v either way, and inside the GEMM that
 * traffic pushes the packed panels out of L2.
 */
#include <math.h>
#include "internal.h"
#ifdef _OPENMP
#include <omp.h>
#endif

/* Partial sums per parameter: chunks of at least OPT_MIN_CHUNK elements,
 * at most OPT_MAX_CHUNKS of them (sizes depend on the parameter alone). */
#define OPT_MAX_CHUNKS 256
#define OPT_MIN_CHUNK 8192
/* Elements per tile inside a chunk: the loss term is summed over a tile
 * just before the tile is updated, while it sits in cache. */
#define OPT_TILE 2048
/* Parameters smaller than this stay on one thread. */
#define OPT_PAR_MIN 65536
/* Columns per block of the max-norm pass. */
#define OPT_COL_BLOCK 64

static const char *const optim_names[DN_OPTIM_COUNT] = {
    "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"};

void dn_optim_default(dn_optim_config *c, dn_optim_kind kind)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->lr = 0.001f;
    c->momentum = 0.9f;
    c->beta1 = 0.9f;
    c->beta2 = 0.999f;
    c->eps = 1e-8f;
    c->rho = 0.99f;
    c->weight_decay = 0.01f;
}

const char *dn_optim_name(dn_optim_kind kind)
{
    return (kind >= 0 && kind < DN_OPTIM_COUNT) ? optim_names[kind] : "unknown";
}

dn_status dn_optim_from_name(const char *name, dn_optim_kind *out)
{
    for (int i = 0; i < DN_OPTIM_COUNT; i++) {
        if (name && strcmp(name, optim_names[i]) == 0) {
            *out = (dn_optim_kind)i;
            return DN_OK;
        }
    }
    return dn_fail(DN_ERR_INVALID,
                   "unknown optimiser '%s'; use one of 'sgd', 'momentum', "
                   "'nesterov', 'adagrad', 'rmsprop', 'adam', 'adamw'",
                   name ? name : "(null)");
}

int dn_optim_state_slots(dn_optim_kind kind)
{
    switch (kind) {
    case DN_OPTIM_MOMENTUM:
    case DN_OPTIM_NESTEROV:
    case DN_OPTIM_ADAGRAD:
    case DN_OPTIM_RMSPROP: return 1;
    case DN_OPTIM_ADAM:
    case DN_OPTIM_ADAMW: return 2;
    default: return 0;
    }
}

/* DN_OK when lo <= v < hi (lo_open: lo < v), else a message naming the field. */
static dn_status check_range(const char *field, float v, double lo, int lo_open,
                             double hi, int hi_open)
{
    int ok = isfinite(v) && (lo_open ? v > lo : v >= lo) &&
             (hi_open ? v < hi : v <= hi);
    if (ok) return DN_OK;
    if (isinf(hi))
        return dn_fail(DN_ERR_INVALID, "optimiser %s is %g; it must be %s %g and finite",
                       field, (double)v, lo_open ? ">" : ">=", lo);
    return dn_fail(DN_ERR_INVALID, "optimiser %s is %g; it must be in %s%g, %g%s",
                   field, (double)v, lo_open ? "(" : "[", lo, hi, hi_open ? ")" : "]");
}

dn_status dn_optim_check(const dn_optim_config *c)
{
    dn_status s;
    if (!c) return dn_fail(DN_ERR_INVALID, "optimiser configuration is NULL");
    if (c->kind < 0 || c->kind >= DN_OPTIM_COUNT)
        return dn_fail(DN_ERR_INVALID,
                       "optimiser kind is %d; use a dn_optim_kind below %d",
                       (int)c->kind, (int)DN_OPTIM_COUNT);
    if ((s = check_range("lr", c->lr, 0, 1, INFINITY, 1))) return s;
    if ((s = check_range("momentum", c->momentum, 0, 0, 1, 1))) return s;
    if ((s = check_range("beta1", c->beta1, 0, 0, 1, 1))) return s;
    if ((s = check_range("beta2", c->beta2, 0, 0, 1, 1))) return s;
    if ((s = check_range("eps", c->eps, 0, 1, INFINITY, 1))) return s;
    if ((s = check_range("rho", c->rho, 0, 1, 1, 1))) return s;
    if ((s = check_range("weight_decay", c->weight_decay, 0, 0, INFINITY, 1))) return s;
    if ((s = check_range("l2", c->l2, 0, 0, INFINITY, 1))) return s;
    if ((s = check_range("l1", c->l1, 0, 0, INFINITY, 1))) return s;
    if ((s = check_range("max_norm", c->max_norm, 0, 0, INFINITY, 1))) return s;
    if ((s = check_range("clip_norm", c->clip_norm, 0, 0, INFINITY, 1))) return s;
    if ((s = check_range("clip_value", c->clip_value, 0, 0, INFINITY, 1))) return s;
    return DN_OK;
}

/* What one element's update needs, fixed for a parameter and a step. */
typedef struct step_consts {
    dn_optim_kind kind;
    float clip;        /* gradient scale from clipping (1 without) */
    float l2, l1;      /* loss-term decay of this parameter (0 when it has none) */
    float lr, mu, rho, eps, b1, b2;
    float adam_step;   /* lr sqrt(1 - b2^t) / (1 - b1^t) */
    float adam_eps;    /* eps sqrt(1 - b2^t) */
    float keep;        /* ADAMW: 1 - lr weight_decay on decayed parameters, else 1 */
} step_consts;

/* One tile of one parameter: w (n), raw gradient g (n), state s0, s1 (n,
 * those the rule uses). The rules of include/dagnet/optim.h; seed 000 5
 * (SGD), 5.1 (momentum), 5.2 (Adam, eps outside the square root, the
 * PyTorch form); Nesterov in scikit-learn's form. Adam's bias corrections
 * are folded into two constants,
 *   lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 *     = adam_step m / (sqrt(v) + adam_eps),
 * which leaves one square root and one division per element, the costliest
 * operations of the loop. `decay` is a constant in each caller:
 * without it the gradient is g_in clip alone (the same value, since the
 * decay terms would add zeros). */
static inline __attribute__((always_inline)) void
update_rule(const step_consts *k, const int decay, float *restrict w,
            const float *restrict g_in, float *restrict s0, float *restrict s1, int64_t n)
{
    const float cl = k->clip, l2 = k->l2, l1 = k->l1, lr = k->lr;
#define GRAD(i) (decay ? g_in[i] * cl + l2 * w[i] + l1 * (float)((w[i] > 0.0f) - (w[i] < 0.0f)) \
                       : g_in[i] * cl)
    switch (k->kind) {
    case DN_OPTIM_SGD:
        for (int64_t i = 0; i < n; i++) w[i] -= lr * GRAD(i);
        break;
    case DN_OPTIM_MOMENTUM:
        for (int64_t i = 0; i < n; i++) {
            s0[i] = k->mu * s0[i] - lr * GRAD(i);
            w[i] += s0[i];
        }
        break;
    case DN_OPTIM_NESTEROV:
        for (int64_t i = 0; i < n; i++) {
            float g = GRAD(i);
            s0[i] = k->mu * s0[i] - lr * g;
            w[i] += k->mu * s0[i] - lr * g;
        }
        break;
    case DN_OPTIM_ADAGRAD:
        for (int64_t i = 0; i < n; i++) {
            float g = GRAD(i);
            s0[i] += g * g;
            w[i] -= lr * g / (sqrtf(s0[i]) + k->eps);
        }
        break;
    case DN_OPTIM_RMSPROP:
        for (int64_t i = 0; i < n; i++) {
            float g = GRAD(i);
            s0[i] = k->rho * s0[i] + (1.0f - k->rho) * g * g;
            w[i] -= lr * g / (sqrtf(s0[i]) + k->eps);
        }
        break;
    case DN_OPTIM_ADAM:
    case DN_OPTIM_ADAMW: {
        const float b1 = k->b1, c1 = 1.0f - k->b1, b2 = k->b2, c2 = 1.0f - k->b2;
        const float step = k->adam_step, e = k->adam_eps, keep = k->keep;
        for (int64_t i = 0; i < n; i++) {
            float g = GRAD(i);
            float m = b1 * s0[i] + c1 * g;
            float v = b2 * s1[i] + c2 * g * g;
            s0[i] = m;
            s1[i] = v;
            w[i] = w[i] * keep - step * m / (sqrtf(v) + e);
        }
        break;
    }
    default: break;
    }
#undef GRAD
}

DN_TARGET_CLONES
static void update_tile_plain(const step_consts *k, float *restrict w, const float *restrict g_in,
                              float *restrict s0, float *restrict s1, int64_t n)
{
    update_rule(k, 0, w, g_in, s0, s1, n);
}

DN_TARGET_CLONES
static void update_tile_decay(const step_consts *k, float *restrict w, const float *restrict g_in,
                              float *restrict s0, float *restrict s1, int64_t n)
{
    update_rule(k, 1, w, g_in, s0, s1, n);
}

/* *sq += sum x^2 and, when ab is given, *ab += sum |x| over one tile x
 * (n <= OPT_TILE): float over 16 lanes (element i in lane i % 16), each
 * adding at most OPT_TILE / 16 = 128 terms (a relative error of about 1e-5
 * at worst), then in double in a fixed order. The two sums run in separate
 * loops over whole lanes, which gcc vectorises (one loop for both, or a
 * tail loop on the same lanes, it does not). */
DN_TARGET_CLONES
static void add_tile_sums(const float *x, int64_t n, double *sq, double *ab)
{
    float s2[16] = {0}, s1[16] = {0};
    const int64_t n16 = n / 16 * 16;
    for (int64_t i = 0; i < n16; i += 16)
        for (int l = 0; l < 16; l++) s2[l] += x[i + l] * x[i + l];
    if (ab)
        for (int64_t i = 0; i < n16; i += 16)
            for (int l = 0; l < 16; l++) s1[l] += fabsf(x[i + l]);
    for (int64_t i = n16; i < n; i++) {
        s2[i - n16] += x[i] * x[i];
        s1[i - n16] += fabsf(x[i]);
    }
    double t2 = 0.0, t1 = 0.0;
    for (int l = 0; l < 16; l++) {
        t2 += s2[l];
        t1 += s1[l];
    }
    *sq += t2;
    if (ab) *ab += t1;
}

/* add_tile_sums over x (n) of any length, tile by tile in order. */
static void add_sums(const float *x, int64_t n, double *sq, double *ab)
{
    for (int64_t t = 0; t < n; t += OPT_TILE)
        add_tile_sums(x + t, DN_MIN((int64_t)OPT_TILE, n - t), sq, ab);
}

static int64_t chunk_len(int64_t size)
{
    int64_t c = (size + OPT_MAX_CHUNKS - 1) / OPT_MAX_CHUNKS;
    return c < OPT_MIN_CHUNK ? OPT_MIN_CHUNK : c;
}

static int threads_or_default(int nthreads)
{
    if (nthreads > 0) return nthreads;
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* sum g^2 over one gradient (size), chunked as described above (and shared
 * out as in update_param). */
static double grad_sumsq(const float *g, int64_t size, int nt)
{
    double part[OPT_MAX_CHUNKS], total = 0.0;
    int64_t chunk = chunk_len(size), nchunks = (size + chunk - 1) / chunk;
    (void)nt; /* unused without OpenMP */
#pragma omp parallel for num_threads(nt) if(nchunks > 1 && size >= OPT_PAR_MIN) schedule(dynamic)
    for (int64_t c = 0; c < nchunks; c++) {
        int64_t b = c * chunk, e = DN_MIN(size, b + chunk);
        part[c] = 0.0;
        add_sums(g + b, e - b, &part[c], NULL);
    }
    for (int64_t c = 0; c < nchunks; c++) total += part[c];
    return total;
}

/* Update one parameter; with want_reg, add sum w^2 and sum |w| before the
 * update to *sq and *ab. The chunks go to whichever thread is free
 * (schedule(dynamic)): the cores of a shared machine run at uneven speeds,
 * and a fixed half each left one thread waiting tens of microseconds per
 * step for the other. Which thread updates a chunk changes no bit: each
 * chunk's sums have their own slot, added in chunk order. */
static void update_param(const step_consts *k, dn_param_view *p, int want_reg,
                         int nt, double *sq, double *ab)
{
    double part2[OPT_MAX_CHUNKS], part1[OPT_MAX_CHUNKS];
    int64_t size = p->size, chunk = chunk_len(size);
    int64_t nchunks = (size + chunk - 1) / chunk;
    int slots = dn_optim_state_slots(k->kind);
    float *s0 = slots > 0 ? p->state[0] : NULL, *s1 = slots > 1 ? p->state[1] : NULL;
    const int decay = k->l2 != 0.0f || k->l1 != 0.0f;
    (void)nt;
#pragma omp parallel for num_threads(nt) if(nchunks > 1 && size >= OPT_PAR_MIN) schedule(dynamic)
    for (int64_t c = 0; c < nchunks; c++) {
        int64_t b = c * chunk, e = DN_MIN(size, b + chunk);
        part2[c] = part1[c] = 0.0;
        for (int64_t t = b; t < e; t += OPT_TILE) {
            int64_t len = DN_MIN((int64_t)OPT_TILE, e - t);
            if (want_reg) add_tile_sums(p->value + t, len, &part2[c], k->l1 != 0.0f ? &part1[c] : NULL);
            (decay ? update_tile_decay : update_tile_plain)(k, p->value + t, p->grad_in + t,
                                                            s0 ? s0 + t : NULL,
                                                            s1 ? s1 + t : NULL, len);
        }
    }
    if (!want_reg) return;
    for (int64_t c = 0; c < nchunks; c++) {
        *sq += part2[c];
        *ab += part1[c];
    }
}

/* Max-norm (seed 000, 6.2, with p = 2): w (size / cols, cols); each column
 * (a unit's incoming weights) longer than max_norm is scaled to max_norm. */
static void max_norm_columns(float *w, int64_t size, int64_t cols, float max_norm,
                             int nt)
{
    int64_t rows = size / cols;
    int64_t nblocks = (cols + OPT_COL_BLOCK - 1) / OPT_COL_BLOCK;
    (void)nt;
#pragma omp parallel for num_threads(nt) if(nblocks > 1 && size >= OPT_PAR_MIN) schedule(static)
    for (int64_t blk = 0; blk < nblocks; blk++) {
        int64_t c0 = blk * OPT_COL_BLOCK, nc = DN_MIN((int64_t)OPT_COL_BLOCK, cols - c0);
        double acc[OPT_COL_BLOCK];
        float f[OPT_COL_BLOCK];
        int any = 0;
        for (int64_t j = 0; j < nc; j++) acc[j] = 0.0;
        for (int64_t r = 0; r < rows; r++) {
            const float *row = w + r * cols + c0;
            for (int64_t j = 0; j < nc; j++) acc[j] += (double)row[j] * row[j];
        }
        for (int64_t j = 0; j < nc; j++) {
            double norm = sqrt(acc[j]);
            f[j] = norm > max_norm ? (float)(max_norm / norm) : 1.0f;
            any |= norm > max_norm;
        }
        if (!any) continue;
        for (int64_t r = 0; r < rows; r++) {
            float *row = w + r * cols + c0;
            for (int64_t j = 0; j < nc; j++) row[j] *= f[j];
        }
    }
}

/* Every argument checked before anything is written. */
static dn_status check_step(const dn_optim_config *c, const dn_param_view *params,
                            int n, int64_t t, double batch)
{
    dn_status s = dn_optim_check(c);
    if (s) return s;
    if (t < 1)
        return dn_fail(DN_ERR_INVALID, "optimiser step t is %lld; steps count from 1",
                       (long long)t);
    if (n < 0 || (n > 0 && !params))
        return dn_fail(DN_ERR_INVALID,
                       "dn_optim_step got %d parameters and params=%p; give an array "
                       "of n >= 0 parameter views", n, (const void *)params);
    if (c->reg_per_sample && (c->l1 > 0 || c->l2 > 0) && !(batch >= 0))
        return dn_fail(DN_ERR_INVALID,
                       "batch is %g with reg_per_sample; give the batch's total sample "
                       "weight (its size without weights, >= 0)", batch);
    int slots = dn_optim_state_slots(c->kind);
    for (int i = 0; i < n; i++) {
        const dn_param_view *p = &params[i];
        if (p->size < 0)
            return dn_fail(DN_ERR_INVALID, "parameter %d has size %lld; sizes are >= 0",
                           i, (long long)p->size);
        if (p->size == 0) continue;
        if (!p->value || !p->grad_in)
            return dn_fail(DN_ERR_INVALID,
                           "parameter %d has no %s; give value and grad_in", i,
                           p->value ? "gradient" : "value");
        for (int j = 0; j < slots; j++)
            if (!p->state[j])
                return dn_fail(DN_ERR_INVALID,
                               "parameter %d lacks optimiser state %d; '%s' needs %d "
                               "state arrays of its size, zero at step 1",
                               i, j, dn_optim_name(c->kind), slots);
        if (p->constrain && c->max_norm > 0 &&
            (p->cols <= 0 || p->size % p->cols != 0))
            return dn_fail(DN_ERR_INVALID,
                           "parameter %d has %lld columns for size %lld; max-norm "
                           "needs cols > 0 dividing the size",
                           i, (long long)p->cols, (long long)p->size);
    }
    return DN_OK;
}

/* w (n) clipped to [-clip, clip]. */
DN_TARGET_CLONES
static void clip_values(float *w, int64_t n, float clip)
{
    for (int64_t i = 0; i < n; i++) w[i] = DN_MIN(DN_MAX(w[i], -clip), clip);
}

dn_status dn_optim_step(const dn_optim_config *c, dn_param_view *params,
                        int n, int64_t t, double batch, int nthreads,
                        double *reg_loss)
{
    dn_status s = check_step(c, params, n, t, batch);
    if (s) return s;
    int nt = threads_or_default(nthreads);
    if (reg_loss) *reg_loss = 0.0;

    /* 1. clipping by the global norm of the raw gradients */
    float clip = 1.0f;
    if (c->clip_norm > 0) {
        double sq = 0.0;
        for (int i = 0; i < n; i++)
            if (params[i].size > 0) sq += grad_sumsq(params[i].grad_in, params[i].size, nt);
        double norm = sqrt(sq);
        if (!isfinite(norm))
            return dn_fail(DN_ERR_NUMERIC,
                           "the gradient norm is not finite before clipping; lower "
                           "the learning rate or check the inputs for NaN or inf");
        clip = (float)(c->clip_norm / DN_MAX((double)c->clip_norm, norm));
    }

    /* 2-3. regulariser and update, fused */
    /* a batch of zero total weight has a zero loss: no regulariser either */
    double div = c->reg_per_sample ? batch : 1.0;
    double l2 = div > 0 ? c->l2 / div : 0.0, l1 = div > 0 ? c->l1 / div : 0.0;
    step_consts k;
    memset(&k, 0, sizeof k);
    k.kind = c->kind;
    k.clip = clip;
    k.lr = c->lr;
    k.mu = c->momentum;
    k.rho = c->rho;
    k.eps = c->eps;
    k.b1 = c->beta1;
    k.b2 = c->beta2;
    const double bc2 = sqrt(1.0 - pow(c->beta2, (double)t));
    k.adam_step = (float)(c->lr * bc2 / (1.0 - pow(c->beta1, (double)t)));
    k.adam_eps = (float)(c->eps * bc2);
    double sq = 0.0, ab = 0.0;
    for (int i = 0; i < n; i++) {
        dn_param_view *p = &params[i];
        if (p->size == 0) continue;
        k.l2 = p->decay ? (float)l2 : 0.0f;
        k.l1 = p->decay ? (float)l1 : 0.0f;
        /* ADAMW decays the parameters that take weight decay (decay = 1) */
        k.keep = (c->kind == DN_OPTIM_ADAMW && p->decay)
                     ? 1.0f - c->lr * c->weight_decay : 1.0f;
        int want_reg = p->decay && (l2 > 0 || l1 > 0) && reg_loss;
        update_param(&k, p, want_reg, nt, &sq, &ab);
    }
    if (reg_loss) *reg_loss = 0.5 * l2 * sq + l1 * ab;

    /* 4. max-norm constraint */
    if (c->max_norm > 0)
        for (int i = 0; i < n; i++)
            if (params[i].constrain && params[i].size > 0)
                max_norm_columns(params[i].value, params[i].size, params[i].cols,
                                 c->max_norm, nt);

    /* 5. weight clipping */
    if (c->clip_value > 0)
        for (int i = 0; i < n; i++)
            clip_values(params[i].value, params[i].size, c->clip_value);
    return DN_OK;
}
