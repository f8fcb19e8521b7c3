/* Helpers on nodes shared by shape inference and kernels. */
#include <stdio.h>
#include "internal.h"

static dn_shape full_shape(const dn_shape *s, int batched, int64_t n)
{
    dn_shape f;
    memset(&f, 0, sizeof f);
    if (!batched) return *s;
    f.ndim = s->ndim + 1;
    f.dims[0] = n;
    for (int i = 0; i < s->ndim && i + 1 < DN_MAX_DIMS; i++) f.dims[i + 1] = s->dims[i];
    return f;
}

dn_shape dn_node_in_full(const dn_node *node, int i, int64_t n)
{
    return full_shape(&node->in_shape[i], node->in_batched[i], n);
}

dn_shape dn_node_out_full(const dn_node *node, int64_t n)
{
    return full_shape(&node->shape, node->batched, n);
}

int64_t dn_node_in_numel(const dn_node *node, int i, int64_t n)
{
    int64_t m = dn_shape_numel(&node->in_shape[i]);
    return node->in_batched[i] ? m * n : m;
}

int64_t dn_node_out_numel(const dn_node *node, int64_t n)
{
    int64_t m = dn_shape_numel(&node->shape);
    return node->batched ? m * n : m;
}

int dn_axis_norm(int axis, int full_ndim)
{
    if (axis < 0) axis += full_ndim;
    return (axis < 0 || axis >= full_ndim) ? -1 : axis;
}

int dn_node_param(dn_node *node, const char *suffix, const dn_shape *shape,
                  dn_init init, float scale, int64_t fan_in, int64_t fan_out,
                  int trainable, int decay, int constrain)
{
    if (node->n_params >= DN_MAX_PARAMS) return -1;
    dn_param_decl *p = &node->params[node->n_params];
    memset(p, 0, sizeof *p);
    p->suffix = suffix;
    p->shape = *shape;
    p->init = init;
    p->init_scale = scale;
    p->fan_in = fan_in;
    p->fan_out = fan_out;
    p->learnable = trainable;
    p->trainable = trainable && !node->frozen;
    p->decay = decay;
    p->constrain = constrain;
    p->share_input = -1;
    return node->n_params++;
}

int dn_node_param_shared(dn_node *node, const char *suffix, const dn_shape *shape, int slot)
{
    int j = dn_node_param(node, suffix, shape, DN_INIT_ZEROS, 0.0f, 0, 0, 1, 0, 0);
    if (j >= 0) node->params[j].share_input = slot;
    return j;
}

/* "(batch, 3, 4)" for the per-sample shape (3, 4) of a batched input. */
void dn_format_full(const dn_shape *s, int batched, char *buf, size_t size)
{
    int used = snprintf(buf, size, "(%s", batched ? "batch" : "");
    for (int i = 0; i < s->ndim && used > 0 && (size_t)used < size; i++)
        used += snprintf(buf + used, size - (size_t)used, "%s%lld",
                         (i || batched) ? ", " : "", (long long)s->dims[i]);
    if (used > 0 && (size_t)used < size)
        snprintf(buf + used, size - (size_t)used,
                 s->ndim + (batched ? 1 : 0) == 1 ? ",)" : ")");
}

dn_status dn_node_expect_image(dn_node *node, int i)
{
    const dn_shape *in = &node->in_shape[i];
    if (in->ndim == 3) return DN_OK;
    char got[96];
    dn_shape_format(in, got, sizeof got);
    return dn_fail_node(node, DN_ERR_INVALID, "expected images of per-sample shape "
                        "(channels, height, width), got %s; reshape the input first", got);
}
