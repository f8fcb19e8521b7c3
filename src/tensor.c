/* Shapes and tensors. */
#include <stdio.h>
#include <stdlib.h>
#include "internal.h"

int64_t dn_shape_numel(const dn_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++)
        if (!dn_mul_ok(n, s->dims[i], &n)) return -1;
    return n;
}

dn_status dn_shape_make(dn_shape *out, int ndim, const int64_t *dims)
{
    if (ndim < 0 || ndim > DN_MAX_DIMS)
        return dn_fail(DN_ERR_INVALID,
                       "a shape has %d dimensions; dagnet tensors have 0 to %d",
                       ndim, DN_MAX_DIMS);
    memset(out, 0, sizeof *out);
    out->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0)
            return dn_fail(DN_ERR_INVALID,
                           "dimension %d of a shape is %lld; sizes must be >= 0",
                           i, (long long)dims[i]);
        out->dims[i] = dims[i];
    }
    return DN_OK;
}

void dn_shape_format(const dn_shape *s, char *buf, size_t bufsize)
{
    size_t used = 0;
    if (bufsize == 0) return;
    buf[0] = 0;
    used += (size_t)snprintf(buf + used, bufsize - used, "(");
    for (int i = 0; i < s->ndim && used < bufsize; i++)
        used += (size_t)snprintf(buf + used, bufsize - used, "%s%lld",
                                 i ? ", " : "", (long long)s->dims[i]);
    if (used < bufsize)
        snprintf(buf + used, bufsize - used, s->ndim == 1 ? ",)" : ")");
}

static void contiguous_strides(dn_tensor *t)
{
    int64_t st = 1;
    for (int i = t->shape.ndim - 1; i >= 0; i--) {
        t->strides[i] = st;
        st *= t->shape.dims[i];
    }
}

dn_status dn_tensor_init(dn_tensor *t, const dn_shape *shape)
{
    memset(t, 0, sizeof *t);
    int64_t n = dn_shape_numel(shape), bytes;
    if (n < 0 || !dn_mul_ok(n, (int64_t)sizeof(float), &bytes))
        return dn_fail(DN_ERR_NOMEM, "a tensor of that shape does not fit in memory");
    t->data = dn_alloc((size_t)bytes);
    if (!t->data)
        return dn_fail(DN_ERR_NOMEM, "could not allocate %lld bytes for a tensor",
                       (long long)bytes);
    memset(t->data, 0, (size_t)bytes);
    t->shape = *shape;
    t->owns = 1;
    contiguous_strides(t);
    return DN_OK;
}

dn_status dn_tensor_borrow(dn_tensor *t, float *data, const dn_shape *shape)
{
    memset(t, 0, sizeof *t);
    if (!data && dn_shape_numel(shape) > 0)
        return dn_fail(DN_ERR_INVALID, "dn_tensor_borrow: data is NULL");
    t->data = data;
    t->shape = *shape;
    contiguous_strides(t);
    return DN_OK;
}

void dn_tensor_free(dn_tensor *t)
{
    if (t->owns) dn_free(t->data);
    memset(t, 0, sizeof *t);
}
