/* dagnet/init.h: filling parameters with initial values (seed 000, section 7). */
#ifndef DAGNET_INIT_H
#define DAGNET_INIT_H

#include <stdint.h>
#include "dagnet/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fill out[0..n) by `init` for a layer with fan_in / fan_out; scale is the
 * range or standard deviation (UNIFORM, NORMAL), the value (CONSTANT) or the
 * factor (SKLEARN). Draws come from stream `stream` of `seed`.
 * DN_ERR_INVALID for a fan <= 0 where the rule needs it. */
dn_status dn_init_fill(float *out, int64_t n, dn_init init, float scale,
                       int64_t fan_in, int64_t fan_out, uint64_t seed,
                       uint64_t stream);

#ifdef __cplusplus
}
#endif
#endif
