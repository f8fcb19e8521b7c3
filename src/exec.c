/* Running a compiled graph: the memory plan, forward in topological order
 * (seed 000, section 3) and backward in reverse order (section 4).
 *
 * The plan places every buffer of a run (node values, their gradients, the
 * values ops save for backward) in one activation arena. A run is a
 * timeline of 2N steps: forward of the node at position p is step p, its
 * backward step 2N-1-p. Each buffer lives over an interval of steps (a value
 * until its last reader: its consumers' forwards, and the backwards that
 * read it), and buffers whose intervals do not overlap share memory. A
 * smaller batch than the planned one fits the same plan, so the training
 * loop allocates nothing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "graph_impl.h"

void dn_plan_free(dn_plan *p)
{
    free(p->val_off);
    free(p->grad_off);
    free(p->saved_off);
    free(p->active);
    free(p->needs_grad);
    free(p->zero_at);
    memset(p, 0, sizeof *p);
}

typedef struct interval {
    int64_t bytes, start, end; /* steps, inclusive */
    int64_t *slot;             /* where the offset goes */
    int64_t offset;
} interval;

static int by_size_desc(const void *a, const void *b)
{
    const interval *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes < y->bytes ? 1 : -1;
    return x->start < y->start ? -1 : (x->start > y->start);
}

/* Greedy placement: largest first, each at the lowest offset that no
 * placed, time-overlapping interval occupies. Returns the arena size. */
static int64_t place(interval *iv, int n)
{
    qsort(iv, (size_t)n, sizeof *iv, by_size_desc);
    int64_t top = 0;
    for (int i = 0; i < n; i++) {
        int64_t off = 0;
        int moved = 1;
        while (moved) {
            moved = 0;
            for (int j = 0; j < i; j++) {
                if (iv[j].end < iv[i].start || iv[i].end < iv[j].start) continue;
                if (off < iv[j].offset + iv[j].bytes && iv[j].offset < off + iv[i].bytes) {
                    off = iv[j].offset + iv[j].bytes;
                    moved = 1;
                }
            }
        }
        iv[i].offset = off;
        if (off + iv[i].bytes > top) top = off + iv[i].bytes;
    }
    for (int i = 0; i < n; i++) *iv[i].slot = iv[i].offset;
    return top;
}

static int64_t round_bytes(int64_t floats)
{
    int64_t b = floats * (int64_t)sizeof(float);
    return (b + DN_ALIGN - 1) / DN_ALIGN * DN_ALIGN;
}

static int is_target(const dn_graph_t *g, dn_target target, int v)
{
    if (target == DN_TARGET_LOSS) return v == g->loss_node;
    for (int k = 0; k < g->n_outputs; k++)
        if (g->outputs[k] == v) return 1;
    return 0;
}

/* Which nodes run (ancestors of the targets) and which need gradients. */
static void mark(dn_graph_t *g, dn_plan *pl)
{
    int n = g->n_nodes;
    for (int p = n - 1; p >= 0; p--) {
        int v = g->order[p];
        if (is_target(g, pl->target, v)) pl->active[v] = 1;
        if (!pl->active[v]) continue;
        for (int i = 0; i < g->nodes[v].n_in; i++) pl->active[g->nodes[v].in[i]] = 1;
    }
    if (!(pl->flags & DN_RUN_GRAD)) return;
    int want_input_grads = pl->target == DN_TARGET_OUTPUTS;
    for (int p = 0; p < n; p++) {
        int v = g->order[p];
        const dn_node *nd = &g->nodes[v];
        if (!pl->active[v]) continue;
        int need = 0;
        if (nd->op == DN_OP_INPUT) need = want_input_grads;
        for (int j = 0; j < nd->n_params; j++) need |= nd->params[j].trainable;
        unsigned flags = dn_op_get(nd->op)->flags;
        for (int i = 0; i < nd->n_in; i++) {
            if (dn_input_gets_grad(nd, flags, i)) need |= pl->needs_grad[nd->in[i]];
        }
        pl->needs_grad[v] = (unsigned char)need;
    }
}

dn_status dn_exec_prepare(dn_graph_t *g, int64_t batch, int flags, dn_target target)
{
    dn_plan *pl = &g->plan;
    g->run_n = -1; /* a new run begins: the last one's values and gradients are gone */
    if (pl->valid && pl->batch >= batch && pl->flags == flags && pl->target == target)
        return DN_OK;
    dn_plan_free(pl);
    int n = g->n_nodes;
    pl->val_off = malloc((size_t)n * sizeof(int64_t));
    pl->grad_off = malloc((size_t)n * sizeof(int64_t));
    pl->saved_off = malloc((size_t)n * sizeof(int64_t));
    pl->active = calloc((size_t)n, 1);
    pl->needs_grad = calloc((size_t)n, 1);
    pl->zero_at = malloc((size_t)n * sizeof(int));
    interval *iv = calloc((size_t)3 * n + 1, sizeof *iv);
    if (!pl->val_off || !pl->grad_off || !pl->saved_off || !pl->active || !pl->needs_grad ||
        !pl->zero_at || !iv) {
        free(iv);
        dn_plan_free(pl);
        return dn_fail(DN_ERR_NOMEM, "could not allocate the memory plan");
    }
    pl->batch = batch;
    pl->flags = flags;
    pl->target = target;
    mark(g, pl);
    int grad = (flags & DN_RUN_GRAD) != 0;
    int64_t last = 2 * (int64_t)n; /* past the end of backward */
    int niv = 0;
    int64_t ws = 0;
    for (int v = 0; v < n; v++) {
        pl->val_off[v] = pl->grad_off[v] = pl->saved_off[v] = -1;
        pl->zero_at[v] = -1;
    }
    for (int v = 0; v < n; v++) {
        const dn_node *nd = &g->nodes[v];
        if (!pl->active[v]) continue;
        int64_t p = nd->pos, bstep = last - 1 - p;
        int64_t numel = dn_node_out_numel(nd, batch), nbytes;
        if (numel < 0 || !dn_mul_ok(numel, 4, &nbytes)) {
            free(iv);
            dn_plan_free(pl);
            return dn_fail_node(nd, DN_ERR_NOMEM, "its output for a batch of %lld is too large",
                                (long long)batch);
        }
        /* the value: from its forward to its last reader */
        int64_t end = p, first_grad_consumer = -1;
        int out = is_target(g, target, v);
        if (out) end = grad ? last : n;
        unsigned own = dn_op_get(nd->op)->flags;
        if (grad && (own & DN_OPF_BWD_OUT) && pl->needs_grad[v]) end = DN_MAX(end, bstep);
        for (int c = 0; c < n; c++) {
            const dn_node *cn = &g->nodes[c];
            if (!pl->active[c]) continue;
            unsigned cf = dn_op_get(cn->op)->flags;
            for (int i = 0; i < cn->n_in; i++) {
                if (cn->in[i] != v) continue;
                end = DN_MAX(end, cn->pos);
                if (grad && pl->needs_grad[c] && (cf & (1u << (i < 8 ? i : 7))))
                    end = DN_MAX(end, last - 1 - cn->pos);
                if (grad && pl->needs_grad[v] && dn_input_gets_grad(cn, cf, i) &&
                    cn->pos > first_grad_consumer) {
                    first_grad_consumer = cn->pos;
                    pl->zero_at[v] = c;
                }
            }
        }
        iv[niv++] = (interval){round_bytes(numel), p, end, &pl->val_off[v], 0};
        /* the gradient: from the first consumer's backward to its own */
        if (grad && pl->needs_grad[v]) {
            int64_t gs = first_grad_consumer >= 0 ? last - 1 - first_grad_consumer : n;
            if (out) gs = n;
            int64_t ge = nd->op == DN_OP_INPUT ? last : bstep;
            if (out) pl->zero_at[v] = -1;
            iv[niv++] = (interval){round_bytes(numel), DN_MIN(gs, ge), ge, &pl->grad_off[v], 0};
        }
        int64_t saved = nd->saved_per_sample * batch + nd->saved_fixed;
        if (saved > 0)
            iv[niv++] = (interval){round_bytes(saved), p, grad ? bstep : p, &pl->saved_off[v], 0};
        ws = DN_MAX(ws, nd->ws_per_sample * batch + nd->ws_fixed);
    }
    pl->bytes = place(iv, niv);
    free(iv);
    if (pl->bytes > g->arena_cap) {
        dn_free(g->arena);
        g->arena = dn_alloc((size_t)pl->bytes);
        g->arena_cap = g->arena ? pl->bytes : 0;
        if (!g->arena) {
            const double mb = (double)pl->bytes / 1e6; /* read before the plan is freed */
            dn_plan_free(pl);
            return dn_fail(DN_ERR_NOMEM, "could not allocate %.1f MB of activations for a batch "
                           "of %lld; use a smaller batch", mb, (long long)batch);
        }
    }
    if (ws > g->ws_cap) {
        dn_free(g->ws);
        g->ws = dn_alloc((size_t)ws * sizeof(float));
        g->ws_cap = g->ws ? ws : 0;
        if (!g->ws) {
            dn_plan_free(pl);
            return dn_fail(DN_ERR_NOMEM, "could not allocate %.1f MB of scratch memory",
                           (double)ws * 4 / 1e6);
        }
    }
    pl->valid = 1;
    return DN_OK;
}

static float *arena_at(dn_graph_t *g, int64_t off)
{
    return off < 0 ? NULL : (float *)(g->arena + off);
}

static void fill_ctx(dn_graph_t *g, int v, int64_t n, int nthreads, int backward, dn_ctx *c)
{
    const dn_plan *pl = &g->plan;
    const dn_node *nd = &g->nodes[v];
    unsigned flags = dn_op_get(nd->op)->flags;
    memset(c, 0, sizeof *c);
    c->node = nd;
    c->n = n;
    for (int i = 0; i < nd->n_in; i++) {
        c->in[i] = g->val[nd->in[i]];
        if (backward && dn_input_gets_grad(nd, flags, i))
            c->gin[i] = arena_at(g, pl->grad_off[nd->in[i]]);
    }
    c->out = (float *)g->val[v];
    if (backward) c->gout = arena_at(g, pl->grad_off[v]);
    for (int j = 0; j < nd->n_params; j++) {
        c->param[j] = g->param_arena + nd->params[j].offset;
        if (backward && nd->params[j].trainable) c->gparam[j] = g->grad_arena + nd->params[j].offset;
    }
    c->saved = arena_at(g, pl->saved_off[v]);
    c->ws = g->ws;
    c->training = (g->run_flags & DN_RUN_TRAINING) != 0 && !nd->frozen;
    c->nthreads = nthreads;
    c->seed = g->seed;
    c->stream = ((uint64_t)(v + 1) << 40) ^ g->run_counter;
    c->step = g->run_counter;
}

/* Forward: the values of INPUT nodes (g->val) are set by the caller. */
dn_status dn_exec_forward(dn_graph_t *g, int64_t n, int flags, int nthreads)
{
    const dn_plan *pl = &g->plan;
    int ref = dn_reference_mode();
    g->run_n = n;
    g->run_flags = flags;
    g->run_counter++;
    for (int p = 0; p < g->n_nodes; p++) {
        int v = g->order[p];
        if (!pl->active[v] || g->nodes[v].op == DN_OP_INPUT) continue;
        g->val[v] = arena_at(g, pl->val_off[v]);
    }
    for (int p = 0; p < g->n_nodes; p++) {
        int v = g->order[p];
        if (!pl->active[v] || g->nodes[v].op == DN_OP_INPUT) continue;
        const dn_op_def *def = dn_op_get(g->nodes[v].op);
        dn_ctx c;
        fill_ctx(g, v, n, nthreads, 0, &c);
        (ref ? def->forward_ref : def->forward)(&c);
    }
    return DN_OK;
}

static void zero(float *p, int64_t floats)
{
    if (p && floats > 0) memset(p, 0, (size_t)floats * sizeof(float));
}

/* A node whose backward runs in this plan. */
static int runs_backward(const dn_graph_t *g, int v)
{
    return g->plan.active[v] && g->plan.needs_grad[v] && g->nodes[v].op != DN_OP_INPUT;
}

/* Zero the parameter gradients no backward writes whole: those of nodes
 * that do not run backward or cannot write a fresh gradient. */
static void zero_param_grads(dn_graph_t *g)
{
    for (int k = 0; k < g->n_params; k++) {
        const dn_param_rec *r = &g->params[k];
        const dn_node *nd = &g->nodes[r->node];
        int fresh = runs_backward(g, r->node) && nd->params[r->index].trainable &&
                    !nd->params[r->index].shared &&
                    (dn_op_get(nd->op)->flags & DN_OPF_BWD_FRESH);
        if (!fresh) zero(g->grad_arena + r->offset, r->size);
    }
}

dn_status dn_exec_backward(dn_graph_t *g, const float *const *grad_outputs, int nthreads)
{
    const dn_plan *pl = &g->plan;
    int64_t n = g->run_n;
    int ref = dn_reference_mode();
    zero_param_grads(g);
    /* gradients zeroed at the start: targets (seeded below) and nodes that
     * no consumer passes a gradient to */
    for (int v = 0; v < g->n_nodes; v++)
        if (pl->needs_grad[v] && pl->zero_at[v] < 0)
            zero(arena_at(g, pl->grad_off[v]), dn_node_out_numel(&g->nodes[v], n));
    int nt = pl->target == DN_TARGET_LOSS ? 1 : g->n_outputs;
    for (int k = 0; k < nt; k++) {
        int v = pl->target == DN_TARGET_LOSS ? g->loss_node : g->outputs[k];
        float *gb = arena_at(g, pl->grad_off[v]);
        if (!gb) continue;
        int64_t m = dn_node_out_numel(&g->nodes[v], n);
        const float *src = (grad_outputs && pl->target == DN_TARGET_OUTPUTS) ? grad_outputs[k] : NULL;
        if (src) {
            for (int64_t i = 0; i < m; i++) gb[i] += src[i];
        } else if (dn_op_get(g->nodes[v].op)->flags & DN_OPF_LOSS) {
            for (int64_t i = 0; i < m; i++) gb[i] += 1.0f;
        }
    }
    for (int p = g->n_nodes - 1; p >= 0; p--) {
        int v = g->order[p];
        const dn_node *nd = &g->nodes[v];
        if (!runs_backward(g, v)) continue;
        const dn_op_def *def = dn_op_get(nd->op);
        int fresh_ok = (def->flags & DN_OPF_BWD_FRESH) != 0;
        dn_ctx c;
        fill_ctx(g, v, n, nthreads, 1, &c);
        /* this node's backward is the first to pass a gradient to input u:
         * the op writes it whole (fresh) or the executor zeroes it */
        for (int i = 0; i < nd->n_in; i++) {
            int u = nd->in[i];
            int dup = 0;
            for (int j = 0; j < i; j++) dup |= nd->in[j] == u;
            if (dup || pl->zero_at[u] != v) continue;
            if (fresh_ok && c.gin[i])
                c.gin_fresh |= 1u << i;
            else
                zero(arena_at(g, pl->grad_off[u]), dn_node_out_numel(&g->nodes[u], n));
        }
        if (fresh_ok)
            for (int j = 0; j < nd->n_params; j++)
                if (c.gparam[j] && !nd->params[j].shared) c.gparam_fresh |= 1u << j;
        (ref ? def->backward_ref : def->backward)(&c);
    }
    return DN_OK;
}

/* --- the public run functions -------------------------------------------- */

int dn_graph_step_threads(const dn_graph_t *g, int64_t n, int nthreads)
{
    int nt = nthreads > 0 ? nthreads : dn_max_threads();
    if (!g || !g->compiled || nt <= 1 || !dn_thread_trim()) return nt;
    /* as the GEMM splits a product: each thread at least DN_MIN_FMA_PER_THREAD */
    const double macs = (double)g->max_macs * (double)(n > 0 ? n : 1);
    if (macs < (double)nt * DN_MIN_FMA_PER_THREAD)
        nt = (int)DN_MAX(1.0, macs / DN_MIN_FMA_PER_THREAD);
    return nt;
}

static dn_status check_run(const dn_graph_t *g, int64_t n)
{
    if (!g) return dn_fail(DN_ERR_INVALID, "the graph is NULL");
    if (!g->compiled) return dn_fail(DN_ERR_STATE, "compile the graph before running it");
    if (n < 0) return dn_fail(DN_ERR_INVALID, "the batch size is negative (%lld)", (long long)n);
    return DN_OK;
}

static dn_status bind_inputs(dn_graph_t *g, const float *const *inputs)
{
    for (int k = 0; k < g->n_inputs; k++) {
        int v = g->inputs[k];
        if (!g->plan.active[v]) { g->val[v] = NULL; continue; }
        if (!inputs || !inputs[k])
            return dn_fail(DN_ERR_INVALID, "input %d ('%s') is needed for this run but was not "
                           "given", k, g->nodes[v].name);
        g->val[v] = inputs[k];
    }
    return DN_OK;
}

dn_status dn_graph_forward(dn_graph_t *g, const float *const *inputs, int64_t n, int flags,
                           int nthreads)
{
    dn_status s = check_run(g, n);
    if (s) return s;
    if ((s = dn_exec_prepare(g, n, flags & (DN_RUN_TRAINING | DN_RUN_GRAD), DN_TARGET_OUTPUTS)))
        return s;
    if ((s = bind_inputs(g, inputs))) return s;
    return dn_exec_forward(g, n, flags, dn_graph_step_threads(g, n, nthreads));
}

dn_status dn_graph_output(const dn_graph_t *g, int k, const float **data, int64_t *numel)
{
    if (!g || g->run_n < 0 || !g->plan.valid)
        return dn_fail(DN_ERR_STATE, "run dn_graph_forward before reading outputs");
    if (k < 0 || k >= g->n_outputs)
        return dn_fail(DN_ERR_INVALID, "output %d does not exist (the graph has %d)", k, g->n_outputs);
    int v = g->outputs[k];
    *data = g->val[v];
    *numel = dn_node_out_numel(&g->nodes[v], g->run_n);
    return DN_OK;
}

dn_status dn_graph_backward(dn_graph_t *g, const float *const *grad_outputs, int nthreads)
{
    if (!g || !g->compiled) return dn_fail(DN_ERR_STATE, "compile the graph before running it");
    if (g->run_n < 0 || !g->plan.valid || !(g->run_flags & DN_RUN_GRAD) ||
        g->plan.target != DN_TARGET_OUTPUTS)
        return dn_fail(DN_ERR_STATE, "dn_graph_backward needs a forward run with DN_RUN_GRAD "
                       "just before it");
    return dn_exec_backward(g, grad_outputs, dn_graph_step_threads(g, g->run_n, nthreads));
}

dn_status dn_graph_input_grad(const dn_graph_t *g, int k, const float **data, int64_t *numel)
{
    if (!g || g->run_n < 0 || !g->plan.valid || !(g->run_flags & DN_RUN_GRAD))
        return dn_fail(DN_ERR_STATE, "run forward with DN_RUN_GRAD and backward first");
    if (k < 0 || k >= g->n_inputs)
        return dn_fail(DN_ERR_INVALID, "input %d does not exist (the graph has %d)", k, g->n_inputs);
    int v = g->inputs[k];
    *data = arena_at((dn_graph_t *)g, g->plan.grad_off[v]);
    *numel = dn_node_out_numel(&g->nodes[v], g->run_n);
    if (!*data)
        return dn_fail(DN_ERR_INVALID, "input %d ('%s') does not reach an output, so it has no "
                       "gradient", k, g->nodes[v].name);
    return DN_OK;
}

dn_status dn_graph_predict(dn_graph_t *g, const float *const *inputs, int64_t n, int k,
                           float *out, int64_t chunk, int nthreads)
{
    dn_status s = check_run(g, n);
    if (s) return s;
    if (k < 0 || k >= g->n_outputs)
        return dn_fail(DN_ERR_INVALID, "output %d does not exist (the graph has %d)", k, g->n_outputs);
    if (chunk <= 0) chunk = 1024;
    chunk = DN_MIN(chunk, DN_MAX(n, 1));
    if ((s = dn_exec_prepare(g, chunk, 0, DN_TARGET_OUTPUTS))) return s;
    int v = g->outputs[k];
    const dn_node *ov = &g->nodes[v];
    if (!ov->batched)
        return dn_fail(DN_ERR_INVALID, "output %d ('%s') has no batch dimension; use "
                       "dn_graph_forward", k, ov->name);
    int64_t per = dn_shape_numel(&ov->shape);
    const float *ptrs[64];
    if (g->n_inputs > 64) return dn_fail(DN_ERR_INVALID, "predict takes at most 64 inputs");
    nthreads = dn_graph_step_threads(g, chunk, nthreads);
    for (int64_t start = 0; start < n; start += chunk) {
        int64_t m = DN_MIN(chunk, n - start);
        for (int i = 0; i < g->n_inputs; i++) {
            const dn_node *in = &g->nodes[g->inputs[i]];
            ptrs[i] = inputs && inputs[i] ? inputs[i] + start * dn_shape_numel(&in->shape) : NULL;
        }
        if ((s = bind_inputs(g, ptrs))) return s;
        dn_exec_forward(g, m, 0, nthreads);
        memcpy(out + start * per, g->val[v], (size_t)(m * per) * sizeof(float));
    }
    return DN_OK;
}

int64_t dn_graph_activation_bytes(const dn_graph_t *g)
{
    return g && g->plan.valid ? g->plan.bytes : 0;
}
