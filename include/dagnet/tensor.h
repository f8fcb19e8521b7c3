/* dagnet/tensor.h: shapes and tensors.
 *
 * A tensor is float32, row-major and contiguous, with up to DN_MAX_DIMS
 * dimensions including the batch dimension. Graph nodes carry a per-sample
 * shape (dn_shape, without the batch dimension) and a flag saying whether
 * the batch dimension is present; the batch size is given at run time.
 * Images are NCHW, sequences (batch, time, features).
 */
#ifndef DAGNET_TENSOR_H
#define DAGNET_TENSOR_H

#include <stdint.h>
#include <stddef.h>
#include "dagnet/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DN_MAX_DIMS 6

/* A shape of `ndim` dimensions (0 <= ndim <= DN_MAX_DIMS). */
typedef struct dn_shape {
    int ndim;
    int64_t dims[DN_MAX_DIMS];
} dn_shape;

typedef enum dn_device { DN_DEVICE_CPU = 0, DN_DEVICE_CUDA = 1 } dn_device;

/* A float32 tensor that owns its memory or borrows it (a numpy buffer, an
 * arena slice). Strides are in elements. */
typedef struct dn_tensor {
    float *data;
    dn_shape shape;
    int64_t strides[DN_MAX_DIMS];
    dn_device device;
    int owns;
} dn_tensor;

/* Number of elements of a shape (1 for ndim == 0); -1 when it overflows. */
int64_t dn_shape_numel(const dn_shape *s);

/* Build a shape from an array of dimensions; DN_ERR_INVALID when ndim is out
 * of range or a dimension is negative. */
dn_status dn_shape_make(dn_shape *out, int ndim, const int64_t *dims);

/* Write "(2, 3, 4)" into buf (always NUL-terminated). */
void dn_shape_format(const dn_shape *s, char *buf, size_t bufsize);

/* Allocate a zeroed contiguous CPU tensor; pair with dn_tensor_free. */
dn_status dn_tensor_init(dn_tensor *t, const dn_shape *shape);

/* Wrap memory owned elsewhere as a contiguous tensor (not freed by
 * dn_tensor_free). */
dn_status dn_tensor_borrow(dn_tensor *t, float *data, const dn_shape *shape);

void dn_tensor_free(dn_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
