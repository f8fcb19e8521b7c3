/* Building and compiling a graph: nodes, the topological order (seed 000,
 * section 3), shape inference and the parameter arena. */
#include <stdio.h>
#include <stdlib.h>
#include "graph_impl.h"

dn_status dn_graph_new(dn_graph_t **out)
{
    *out = NULL;
    dn_graph_t *g = calloc(1, sizeof *g);
    if (!g) return dn_fail(DN_ERR_NOMEM, "could not allocate a graph");
    g->loss_node = -1;
    g->run_n = -1;
    *out = g;
    return DN_OK;
}

void dn_graph_free(dn_graph_t *g)
{
    if (!g) return;
    free(g->nodes);
    free(g->inputs);
    free(g->outputs);
    free(g->order);
    free(g->params);
    dn_free(g->param_arena);
    dn_free(g->grad_arena);
    dn_free(g->optim_state);
    free(g->views);
    dn_plan_free(&g->plan);
    dn_free(g->arena);
    dn_free(g->ws);
    free(g->val);
    free(g->perm);
    free(g);
}

static dn_status check_building(const dn_graph_t *g)
{
    if (!g) return dn_fail(DN_ERR_INVALID, "the graph is NULL");
    if (g->compiled)
        return dn_fail(DN_ERR_STATE,
                       "the graph is compiled; nodes can only be added before dn_graph_compile");
    return DN_OK;
}

static dn_status push_node(dn_graph_t *g, dn_node **out)
{
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? 2 * g->cap_nodes : 16;
        dn_node *nn = realloc(g->nodes, (size_t)cap * sizeof *nn);
        if (!nn) return dn_fail(DN_ERR_NOMEM, "could not grow the graph to %d nodes", cap);
        g->nodes = nn;
        g->cap_nodes = cap;
    }
    dn_node *node = &g->nodes[g->n_nodes];
    memset(node, 0, sizeof *node);
    node->input_index = -1;
    node->share_node = -1;
    node->pos = -1;
    *out = node;
    return DN_OK;
}

dn_status dn_graph_add_input(dn_graph_t *g, const dn_shape *sample_shape, int *id)
{
    dn_status s = check_building(g);
    if (s) return s;
    if (!sample_shape || sample_shape->ndim < 0 || sample_shape->ndim > DN_MAX_DIMS - 1)
        return dn_fail(DN_ERR_INVALID,
                       "an input's per-sample shape has 0 to %d dimensions (the batch "
                       "dimension makes %d)", DN_MAX_DIMS - 1, DN_MAX_DIMS);
    for (int i = 0; i < sample_shape->ndim; i++)
        if (sample_shape->dims[i] < 0)
            return dn_fail(DN_ERR_INVALID, "an input's dimension %d is negative", i);
    if (dn_shape_numel(sample_shape) < 0) {
        char sh[96];
        dn_shape_format(sample_shape, sh, sizeof sh);
        return dn_fail(DN_ERR_INVALID, "an input's per-sample shape %s has more elements than "
                       "a 64-bit count holds; give a shape whose product fits in memory", sh);
    }
    if (g->n_inputs == g->cap_inputs) {
        int cap = g->cap_inputs ? 2 * g->cap_inputs : 4;
        int *ni = realloc(g->inputs, (size_t)cap * sizeof *ni);
        if (!ni) return dn_fail(DN_ERR_NOMEM, "could not grow the input list");
        g->inputs = ni;
        g->cap_inputs = cap;
    }
    dn_node *node = NULL;
    if ((s = push_node(g, &node))) return s;
    node->op = DN_OP_INPUT;
    dn_attrs_default(&node->attrs);
    node->attrs.shape = *sample_shape;
    node->input_index = g->n_inputs;
    snprintf(node->name, sizeof node->name, "input_%d", g->n_inputs);
    g->inputs[g->n_inputs++] = g->n_nodes;
    if (id) *id = g->n_nodes;
    g->n_nodes++;
    return DN_OK;
}

dn_status dn_graph_add_node(dn_graph_t *g, dn_op op, const int *inputs, int n_inputs,
                            const dn_attrs *attrs, int *id)
{
    dn_status s = check_building(g);
    if (s) return s;
    if (op <= DN_OP_INPUT || op >= DN_OP_COUNT)
        return dn_fail(DN_ERR_INVALID, "unknown op %d (inputs are added with dn_graph_add_input)",
                       (int)op);
    const dn_op_def *def = dn_op_get(op);
    if (n_inputs < def->min_in || n_inputs > def->max_in)
        return dn_fail(DN_ERR_INVALID, "op %s takes %d to %d inputs, got %d", def->name,
                       def->min_in, def->max_in, n_inputs);
    for (int i = 0; i < n_inputs; i++)
        if (inputs[i] < 0 || inputs[i] >= g->n_nodes)
            return dn_fail(DN_ERR_INVALID, "input %d of a new %s node is node %d, which does "
                           "not exist (the graph has %d nodes)", i, def->name, inputs[i],
                           g->n_nodes);
    dn_node *node = NULL;
    if ((s = push_node(g, &node))) return s;
    node->op = op;
    if (attrs) node->attrs = *attrs;
    else dn_attrs_default(&node->attrs);
    node->n_in = n_inputs;
    for (int i = 0; i < n_inputs; i++) node->in[i] = inputs[i];
    snprintf(node->name, sizeof node->name, "%s_%d", def->name, g->n_nodes);
    if (id) *id = g->n_nodes;
    g->n_nodes++;
    return DN_OK;
}

dn_status dn_graph_add_split(dn_graph_t *g, int input, int axis, const int64_t *sizes, int k,
                             int *nodes)
{
    if (k < 1) return dn_fail(DN_ERR_INVALID, "a split needs at least one part, got %d", k);
    int64_t start = 0;
    for (int i = 0; i < k; i++) {
        if (sizes[i] < 1)
            return dn_fail(DN_ERR_INVALID, "part %d of a split has size %lld; sizes must be >= 1",
                           i, (long long)sizes[i]);
        dn_attrs a;
        dn_attrs_default(&a);
        a.axis = axis;
        a.start = start;
        a.stop = start + sizes[i];
        start = a.stop;
        dn_status s = dn_graph_add_node(g, DN_OP_SLICE, &input, 1, &a, &nodes[i]);
        if (s) return s;
    }
    return DN_OK;
}

dn_status dn_graph_set_input(dn_graph_t *g, int node, int slot, int src)
{
    dn_status s = check_building(g);
    if (s) return s;
    if (node < 0 || node >= g->n_nodes || src < 0 || src >= g->n_nodes)
        return dn_fail(DN_ERR_INVALID, "dn_graph_set_input: node %d or source %d does not "
                       "exist (the graph has %d nodes)", node, src, g->n_nodes);
    dn_node *nd = &g->nodes[node];
    if (slot < 0 || slot >= nd->n_in)
        return dn_fail(DN_ERR_INVALID, "dn_graph_set_input: %s has inputs 0..%d, not %d",
                       nd->name, nd->n_in - 1, slot);
    nd->in[slot] = src;
    return DN_OK;
}

dn_status dn_graph_set_name(dn_graph_t *g, int node, const char *name)
{
    if (!g || node < 0 || node >= g->n_nodes)
        return dn_fail(DN_ERR_INVALID, "dn_graph_set_name: node %d does not exist", node);
    if (!name || !name[0] || strlen(name) >= sizeof g->nodes[node].name)
        return dn_fail(DN_ERR_INVALID, "a node name has 1 to %d characters",
                       (int)sizeof g->nodes[node].name - 1);
    strcpy(g->nodes[node].name, name);
    return DN_OK;
}

dn_status dn_graph_set_trainable(dn_graph_t *g, int node, int trainable)
{
    if (!g || node < 0 || node >= g->n_nodes)
        return dn_fail(DN_ERR_INVALID, "dn_graph_set_trainable: node %d does not exist (the "
                       "graph has %d nodes)", node, g ? g->n_nodes : 0);
    dn_node *nd = &g->nodes[node];
    nd->frozen = !trainable;
    if (!g->compiled) return DN_OK; /* compile declares the parameters with the flag */
    for (int j = 0; j < nd->n_params; j++)
        nd->params[j].trainable = nd->params[j].learnable && !nd->frozen;
    g->plan.valid = 0; /* which nodes run backward has changed */
    return g->has_optim ? dn_train_bind_params(g) : DN_OK;
}

dn_status dn_graph_share_params(dn_graph_t *g, int node, int src)
{
    dn_status s = check_building(g);
    if (s) return s;
    if (node < 0 || node >= g->n_nodes || src < 0 || src >= g->n_nodes)
        return dn_fail(DN_ERR_INVALID, "dn_graph_share_params: node %d or source %d does not "
                       "exist (the graph has %d nodes)", node, src, g->n_nodes);
    while (g->nodes[src].share_node >= 0) src = g->nodes[src].share_node; /* the owner */
    dn_node *nd = &g->nodes[node];
    if (src == node)
        return dn_fail(DN_ERR_INVALID, "'%s' cannot share parameters with itself", nd->name);
    if (nd->op != g->nodes[src].op)
        return dn_fail(DN_ERR_INVALID, "'%s' (%s) cannot share the parameters of '%s' (%s): "
                       "only nodes of the same op can", nd->name, dn_op_name(nd->op),
                       g->nodes[src].name, dn_op_name(g->nodes[src].op));
    nd->share_node = src;
    return DN_OK;
}

dn_status dn_graph_set_outputs(dn_graph_t *g, const int *nodes, int n)
{
    dn_status s = check_building(g);
    if (s) return s;
    if (n < 1) return dn_fail(DN_ERR_INVALID, "a graph needs at least one output");
    for (int i = 0; i < n; i++)
        if (nodes[i] < 0 || nodes[i] >= g->n_nodes)
            return dn_fail(DN_ERR_INVALID, "output %d is node %d, which does not exist",
                           i, nodes[i]);
    int *o = realloc(g->outputs, (size_t)n * sizeof *o);
    if (!o) return dn_fail(DN_ERR_NOMEM, "could not store the outputs");
    memcpy(o, nodes, (size_t)n * sizeof *o);
    g->outputs = o;
    g->n_outputs = n;
    return DN_OK;
}

/* Kahn's algorithm, iterative; ties go to the smallest id so the order is
 * the insertion order whenever that is valid. */
static dn_status topo_order(dn_graph_t *g)
{
    int n = g->n_nodes;
    int *indeg = calloc((size_t)n, sizeof *indeg);
    int *order = malloc((size_t)n * sizeof *order);
    int *cons_start = calloc((size_t)n + 1, sizeof *cons_start);
    int total = 0;
    for (int v = 0; v < n; v++) total += g->nodes[v].n_in;
    int *cons = malloc((size_t)(total ? total : 1) * sizeof *cons);
    if (!indeg || !order || !cons_start || !cons) {
        free(indeg); free(order); free(cons_start); free(cons);
        return dn_fail(DN_ERR_NOMEM, "could not allocate the topological sort");
    }
    for (int v = 0; v < n; v++) {
        indeg[v] = g->nodes[v].n_in;
        for (int i = 0; i < g->nodes[v].n_in; i++) cons_start[g->nodes[v].in[i] + 1]++;
    }
    for (int v = 0; v < n; v++) cons_start[v + 1] += cons_start[v];
    int *fill = calloc((size_t)n, sizeof *fill);
    if (!fill) {
        free(indeg); free(order); free(cons_start); free(cons);
        return dn_fail(DN_ERR_NOMEM, "could not allocate the topological sort");
    }
    for (int v = 0; v < n; v++)
        for (int i = 0; i < g->nodes[v].n_in; i++) {
            int u = g->nodes[v].in[i];
            cons[cons_start[u] + fill[u]++] = v;
        }
    free(fill);
    /* a min-heap would give strict smallest-id ties; a sorted ready list of
     * small graphs is enough: scan for the smallest ready id each time.
     * Inputs come first, whenever they were added: a run fills them all
     * before the first node computes, so their buffers must be live from
     * the start (a target added after the model would otherwise share
     * memory with the model's early activations). */
    unsigned char *done = calloc((size_t)n, 1);
    int count = 0;
    while (done && count < n) {
        int pick = -1;
        for (int v = 0; v < n && pick < 0; v++)
            if (!done[v] && g->nodes[v].op == DN_OP_INPUT) pick = v;
        for (int v = 0; v < n && pick < 0; v++)
            if (!done[v] && indeg[v] == 0) pick = v;
        if (pick < 0) break;
        done[pick] = 1;
        order[count++] = pick;
        for (int k = cons_start[pick]; k < cons_start[pick + 1]; k++) indeg[cons[k]]--;
    }
    dn_status s = DN_OK;
    if (!done) {
        s = dn_fail(DN_ERR_NOMEM, "could not allocate the topological sort");
    } else if (count < n) {
        char names[512];
        size_t used = 0;
        names[0] = 0;
        for (int v = 0; v < n && used < sizeof names - 80; v++)
            if (!done[v])
                used += (size_t)snprintf(names + used, sizeof names - used, "%s'%s'",
                                         used ? ", " : "", g->nodes[v].name);
        s = dn_fail(DN_ERR_INVALID,
                    "the graph has a cycle through %s; a network must be a directed acyclic "
                    "graph: make each node read only from nodes computed before it", names);
    }
    free(done);
    free(indeg);
    free(cons_start);
    free(cons);
    if (s) { free(order); return s; }
    free(g->order);
    g->order = order;
    for (int p = 0; p < n; p++) g->nodes[order[p]].pos = p;
    return DN_OK;
}

static void describe_output(const dn_graph_t *g, int v, char *buf, size_t size)
{
    char sh[96];
    const dn_node *nd = &g->nodes[v];
    dn_shape_format(&nd->shape, sh, sizeof sh);
    snprintf(buf, size, "'%s' (per-sample shape %s%s)", nd->name, sh,
             nd->batched ? "" : ", unbatched");
}

/* The shape of one node from its inputs' (already inferred). */
static dn_status infer_node(dn_graph_t *g, dn_node *nd)
{
    nd->n_params = 0;
    nd->saved_per_sample = nd->saved_fixed = nd->ws_per_sample = nd->ws_fixed = 0;
    for (int i = 0; i < nd->n_in; i++) {
        nd->in_shape[i] = g->nodes[nd->in[i]].shape;
        nd->in_batched[i] = g->nodes[nd->in[i]].batched;
    }
    const dn_op_def *def = dn_op_get(nd->op);
    dn_status s = def->infer(nd);
    if (s) {
        char msg[1024], ends[512];
        size_t used = 0;
        snprintf(msg, sizeof msg, "%s", dn_last_error());
        ends[0] = 0;
        for (int i = 0; i < nd->n_in && used < sizeof ends - 200; i++) {
            char d[200];
            describe_output(g, nd->in[i], d, sizeof d);
            used += (size_t)snprintf(ends + used, sizeof ends - used, "%s%s",
                                     i ? " and " : "", d);
        }
        return dn_fail(s, "cannot connect %s to '%s': %s", nd->n_in ? ends : "nothing",
                       nd->name, msg);
    }
    if (nd->shape.ndim + (nd->batched ? 1 : 0) > DN_MAX_DIMS)
        return dn_fail_node(nd, DN_ERR_INVALID, "its output would have more than %d "
                            "dimensions", DN_MAX_DIMS);
    if (dn_shape_numel(&nd->shape) < 0)
        return dn_fail_node(nd, DN_ERR_INVALID, "its per-sample output would have more "
                            "elements than a 64-bit count holds; make the layer smaller");
    return DN_OK;
}

static dn_status infer_shapes(dn_graph_t *g)
{
    for (int p = 0; p < g->n_nodes; p++) {
        dn_status s = infer_node(g, &g->nodes[g->order[p]]);
        if (s) return s;
    }
    return DN_OK;
}

/* Multiply-adds per sample of the product a node computes (dense and
 * convolution layers, matmul; one per output element for other ops): what
 * decides whether a run can use threads (dn_graph_step_threads). */
static int64_t product_macs(const dn_node *nd)
{
    const int64_t out = dn_shape_numel(&nd->shape);
    const dn_shape *in = nd->n_in > 0 ? &nd->in_shape[0] : NULL;
    const dn_shape *w = nd->n_params > 0 ? &nd->params[0].shape : NULL;
    switch (nd->op) {
    case DN_OP_LINEAR:
    case DN_OP_LINEAR_TIED:
    case DN_OP_SPECTRAL_LINEAR:
        return in && in->ndim ? out * in->dims[in->ndim - 1] : out;
    case DN_OP_CONV2D: /* out x (C_in / groups) KH KW */
        return w && w->ndim == 4 ? out * (dn_shape_numel(w) / w->dims[0]) : out;
    case DN_OP_CONV2D_TRANSPOSE: /* in x (C_out / groups) KH KW */
        return w && w->ndim == 4 && in ? dn_shape_numel(in) * (dn_shape_numel(w) / w->dims[0])
                                      : out;
    case DN_OP_MATMUL:
        if (!in || in->ndim < 2) return out;
        return out * (nd->attrs.trans_a ? in->dims[in->ndim - 2] : in->dims[in->ndim - 1]);
    case DN_OP_RECURRENT: /* its kernels' gradient over all steps: D T G H (F + H) */
        if (!in || in->ndim != 2 || !w || in->dims[1] < 1) return out;
        return dn_shape_numel(w) / in->dims[1] * in->dims[0] * (in->dims[1] + nd->attrs.units);
    default:
        return out;
    }
}

/* Before compile: infer the node and its ancestors, each once all its inputs
 * are (passes over the ancestors until none is left; compile redoes it all). */
dn_status dn_graph_infer_shape(dn_graph_t *g, int node, dn_shape *shape, int *batched)
{
    if (!g || node < 0 || node >= g->n_nodes)
        return dn_fail(DN_ERR_INVALID, "node %d does not exist", node);
    if (g->compiled) return dn_graph_node_shape(g, node, shape, batched);
    /* state: 0 not an ancestor, 1 ancestor to infer, 2 inferred */
    unsigned char *state = calloc((size_t)g->n_nodes, 1);
    int *stack = malloc((size_t)g->n_nodes * sizeof *stack);
    if (!state || !stack) {
        free(state);
        free(stack);
        return dn_fail(DN_ERR_NOMEM, "out of memory");
    }
    int top = 0, left = 1;
    state[node] = 1;
    stack[top++] = node;
    while (top > 0) {
        const dn_node *nd = &g->nodes[stack[--top]];
        for (int i = 0; i < nd->n_in; i++)
            if (!state[nd->in[i]]) {
                state[nd->in[i]] = 1;
                stack[top++] = nd->in[i];
                left++;
            }
    }
    dn_status s = DN_OK;
    for (int progress = 1; left > 0 && progress && !s;) {
        progress = 0;
        for (int v = 0; v < g->n_nodes && !s; v++) {
            dn_node *nd = &g->nodes[v];
            int ready = state[v] == 1;
            for (int i = 0; i < nd->n_in && ready; i++) ready = state[nd->in[i]] == 2;
            if (!ready) continue;
            s = infer_node(g, nd);
            state[v] = 2;
            left--;
            progress = 1;
        }
    }
    if (!s && left > 0)
        s = dn_fail(DN_ERR_INVALID, "'%s' depends on a cycle; a network must be a directed "
                    "acyclic graph", g->nodes[node].name);
    free(state);
    free(stack);
    if (s) return s;
    *shape = g->nodes[node].shape;
    if (batched) *batched = g->nodes[node].batched;
    return DN_OK;
}

/* Parameter j of nd is the weight of the producer of one of its inputs (tied
 * weights): the same floats and gradient, one parameter of the graph. The
 * producer comes first in the order, so its offset is known. */
static dn_status share_param(dn_graph_t *g, dn_node *nd, int j)
{
    dn_param_decl *d = &nd->params[j];
    dn_node *src = &g->nodes[nd->in[d->share_input]];
    char want[96], have[96];
    dn_shape_format(&d->shape, want, sizeof want);
    if (src->n_params < 1 || src->params[0].share_input >= 0)
        return dn_fail_node(nd, DN_ERR_INVALID, "input %d ('%s') has no weight of its own to "
                            "share; tie to a dense layer", d->share_input, src->name);
    dn_shape_format(&src->params[0].shape, have, sizeof have);
    if (strcmp(want, have) != 0)
        return dn_fail_node(nd, DN_ERR_INVALID, "it needs a weight of shape %s but '%s' has %s; "
                            "tie layers whose sizes mirror each other", want, src->name, have);
    if (nd->op == DN_OP_CONTRACTIVE &&
        (src->op != DN_OP_LINEAR || src->attrs.act != nd->attrs.act ||
         src->attrs.alpha != nd->attrs.alpha))
        return dn_fail_node(nd, DN_ERR_INVALID, "its input 0 must be a dense layer with the "
                            "activation it names ('%s'); '%s' is not", dn_act_name(nd->attrs.act),
                            src->name);
    d->offset = src->params[0].offset;
    d->shared = src->params[0].shared = 1;
    return DN_OK;
}

/* Node nd applies the layer of another node again (dn_graph_share_params):
 * its parameters are that node's floats and gradients, each declared with
 * the same shape. The owner's offsets are set before this runs. */
static dn_status share_node_params(dn_graph_t *g, dn_node *nd)
{
    dn_node *src = &g->nodes[nd->share_node];
    while (src->share_node >= 0) src = &g->nodes[src->share_node];
    if (nd->n_params != src->n_params)
        return dn_fail_node(nd, DN_ERR_INVALID, "it shares the parameters of '%s' but declares "
                            "%d parameters where that node has %d; give both the same settings",
                            src->name, nd->n_params, src->n_params);
    for (int j = 0; j < nd->n_params; j++) {
        dn_param_decl *d = &nd->params[j], *o = &src->params[j];
        if (d->share_input >= 0) continue; /* tied to its own input's producer */
        char want[96], have[96];
        dn_shape_format(&d->shape, want, sizeof want);
        dn_shape_format(&o->shape, have, sizeof have);
        if (strcmp(d->suffix, o->suffix) != 0 || strcmp(want, have) != 0)
            return dn_fail_node(nd, DN_ERR_INVALID, "it shares the parameters of '%s' (the "
                                "same layer applied to another input), whose %s has shape %s, "
                                "but its own input needs a %s of shape %s; a layer applied more "
                                "than once shares its weights, so its inputs must have the same "
                                "size: use a separate layer for this input",
                                src->name, o->suffix, have, d->suffix, want);
        d->offset = o->offset;
        d->shared = o->shared = 1;
    }
    return DN_OK;
}

/* One arena for values and one for gradients, each parameter aligned to 16
 * floats; initialised from the seed, one stream per parameter. Parameters
 * a node shares (dn_graph_share_params, then tied weights) point at others,
 * so they are resolved once those are placed. */
static dn_status alloc_params(dn_graph_t *g)
{
    int count = 0;
    for (int v = 0; v < g->n_nodes; v++)
        for (int j = 0; j < g->nodes[v].n_params; j++)
            count += g->nodes[v].share_node < 0 && g->nodes[v].params[j].share_input < 0;
    free(g->params);
    g->params = calloc((size_t)(count ? count : 1), sizeof *g->params);
    if (!g->params) return dn_fail(DN_ERR_NOMEM, "could not allocate the parameter list");
    int64_t total = 0;
    int k = 0;
    for (int p = 0; p < g->n_nodes; p++) {
        int v = g->order[p];
        dn_node *nd = &g->nodes[v];
        if (nd->share_node >= 0) continue;
        for (int j = 0; j < nd->n_params; j++) {
            if (nd->params[j].share_input >= 0) continue;
            dn_param_rec *r = &g->params[k++];
            int64_t size = dn_shape_numel(&nd->params[j].shape);
            if (size < 0 || total > INT64_MAX / 8 - size)
                return dn_fail_node(nd, DN_ERR_NOMEM, "its parameter %s is too large to "
                                    "allocate", nd->params[j].suffix);
            snprintf(r->name, sizeof r->name, "%s.%s", nd->name, nd->params[j].suffix);
            r->node = v;
            r->index = j;
            r->offset = total;
            r->size = size;
            nd->params[j].offset = total;
            total += (size + 15) / 16 * 16;
        }
    }
    for (int p = 0; p < g->n_nodes; p++) {
        dn_node *nd = &g->nodes[g->order[p]];
        dn_status s = nd->share_node >= 0 ? share_node_params(g, nd) : DN_OK;
        if (s) return s;
    }
    for (int p = 0; p < g->n_nodes; p++) {
        dn_node *nd = &g->nodes[g->order[p]];
        for (int j = 0; j < nd->n_params; j++) {
            dn_status s = nd->params[j].share_input >= 0 ? share_param(g, nd, j) : DN_OK;
            if (s) return s;
        }
    }
    g->n_params = count;
    g->param_floats = total;
    size_t bytes = (size_t)(total ? total : 16) * sizeof(float);
    g->param_arena = dn_alloc(bytes);
    g->grad_arena = dn_alloc(bytes);
    if (!g->param_arena || !g->grad_arena)
        return dn_fail(DN_ERR_NOMEM, "could not allocate %.1f MB for %lld parameters and "
                       "their gradients; make the layers smaller", 2.0 * (double)bytes / 1e6,
                       (long long)total);
    memset(g->param_arena, 0, bytes);
    memset(g->grad_arena, 0, bytes);
    for (k = 0; k < count; k++) {
        dn_param_rec *r = &g->params[k];
        const dn_param_decl *d = &g->nodes[r->node].params[r->index];
        dn_status s = dn_init_fill(g->param_arena + r->offset, r->size, d->init, d->init_scale,
                                   d->fan_in, d->fan_out, g->seed, 1000003ull + (uint64_t)k);
        if (s) return dn_fail(s, "initialising %s: %s", r->name, dn_last_error());
    }
    return DN_OK;
}

dn_status dn_graph_compile(dn_graph_t *g, uint64_t seed)
{
    dn_status s = check_building(g);
    if (s) return s;
    if (g->n_nodes == 0) return dn_fail(DN_ERR_INVALID, "the graph is empty; add an input and a node");
    for (int v = 0; v < g->n_nodes; v++) {
        dn_node *nd = &g->nodes[v];
        for (int i = 0; i < nd->n_in; i++)
            if (nd->in[i] == v)
                return dn_fail_node(nd, DN_ERR_INVALID, "it reads its own output (input %d); "
                                    "a network must be acyclic", i);
    }
    g->seed = seed;
    if ((s = topo_order(g))) return s;
    if ((s = infer_shapes(g))) return s;
    g->max_macs = 0;
    for (int v = 0; v < g->n_nodes; v++)
        g->max_macs = DN_MAX(g->max_macs, product_macs(&g->nodes[v]));
    g->loss_node = -1;
    for (int v = 0; v < g->n_nodes; v++) {
        if (!(dn_op_get(g->nodes[v].op)->flags & DN_OPF_LOSS)) continue;
        if (g->loss_node >= 0) { g->loss_node = -2; break; }
        g->loss_node = v;
    }
    if (g->n_outputs == 0) {
        /* default outputs: the nodes nothing consumes, losses excepted */
        unsigned char *used = calloc((size_t)(unsigned)g->n_nodes, 1);
        int *o = malloc((size_t)(unsigned)g->n_nodes * sizeof *o);
        if (!used || !o) { free(used); free(o); return dn_fail(DN_ERR_NOMEM, "out of memory"); }
        for (int v = 0; v < g->n_nodes; v++)
            for (int i = 0; i < g->nodes[v].n_in; i++) used[g->nodes[v].in[i]] = 1;
        int n = 0;
        for (int v = 0; v < g->n_nodes; v++)
            if (!used[v] && !(dn_op_get(g->nodes[v].op)->flags & DN_OPF_LOSS) &&
                g->nodes[v].op != DN_OP_INPUT)
                o[n++] = v;
        free(used);
        if (n == 0) { free(o); return dn_fail(DN_ERR_INVALID, "the graph has no output node"); }
        g->outputs = o;
        g->n_outputs = n;
    }
    if ((s = alloc_params(g))) return s;
    free(g->val);
    g->val = calloc((size_t)g->n_nodes, sizeof *g->val);
    if (!g->val) return dn_fail(DN_ERR_NOMEM, "out of memory");
    g->compiled = 1;
    return DN_OK;
}

/* --- queries ------------------------------------------------------------- */

int dn_graph_num_nodes(const dn_graph_t *g) { return g ? g->n_nodes : 0; }
int dn_graph_num_inputs(const dn_graph_t *g) { return g ? g->n_inputs : 0; }
int dn_graph_num_outputs(const dn_graph_t *g) { return g ? g->n_outputs : 0; }
int dn_graph_input_node(const dn_graph_t *g, int k)
{
    return (g && k >= 0 && k < g->n_inputs) ? g->inputs[k] : -1;
}
int dn_graph_output_node(const dn_graph_t *g, int k)
{
    return (g && k >= 0 && k < g->n_outputs) ? g->outputs[k] : -1;
}
const int *dn_graph_order(const dn_graph_t *g) { return g && g->compiled ? g->order : NULL; }
int dn_graph_num_params(const dn_graph_t *g) { return g && g->compiled ? g->n_params : 0; }

dn_status dn_graph_node_shape(const dn_graph_t *g, int node, dn_shape *shape, int *batched)
{
    if (!g || !g->compiled) return dn_fail(DN_ERR_STATE, "compile the graph before asking for shapes");
    if (node < 0 || node >= g->n_nodes) return dn_fail(DN_ERR_INVALID, "node %d does not exist", node);
    *shape = g->nodes[node].shape;
    if (batched) *batched = g->nodes[node].batched;
    return DN_OK;
}

dn_status dn_graph_param(const dn_graph_t *g, int k, dn_param_info *info)
{
    if (!g || !g->compiled) return dn_fail(DN_ERR_STATE, "compile the graph before asking for parameters");
    if (k < 0 || k >= g->n_params)
        return dn_fail(DN_ERR_INVALID, "parameter %d does not exist (the graph has %d)", k, g->n_params);
    const dn_param_rec *r = &g->params[k];
    const dn_param_decl *d = &g->nodes[r->node].params[r->index];
    info->name = r->name;
    info->node = r->node;
    info->shape = d->shape;
    info->value = g->param_arena + r->offset;
    info->offset = r->offset;
    info->trainable = d->trainable;
    info->grad = d->trainable ? g->grad_arena + r->offset : NULL;
    return DN_OK;
}
