/* The CPU op table, indexed by dn_op. The static check below fails the build
 * when an op is added to dn_op without an entry here. */
#include "internal.h"

static const dn_op_def *const table[] = {
    [DN_OP_INPUT] = &dn_opdef_input,
    [DN_OP_LINEAR] = &dn_opdef_linear,
    [DN_OP_MATMUL] = &dn_opdef_matmul,
    [DN_OP_ADD] = &dn_opdef_add,
    [DN_OP_SUB] = &dn_opdef_sub,
    [DN_OP_MUL] = &dn_opdef_mul,
    [DN_OP_SCALE] = &dn_opdef_scale,
    [DN_OP_BROADCAST] = &dn_opdef_broadcast,
    [DN_OP_ACTIVATION] = &dn_opdef_activation,
    [DN_OP_SOFTMAX] = &dn_opdef_softmax,
    [DN_OP_LOG_SOFTMAX] = &dn_opdef_log_softmax,
    [DN_OP_SUM] = &dn_opdef_sum,
    [DN_OP_MEAN] = &dn_opdef_mean,
    [DN_OP_RESHAPE] = &dn_opdef_reshape,
    [DN_OP_CONCAT] = &dn_opdef_concat,
    [DN_OP_SLICE] = &dn_opdef_slice,
    [DN_OP_DROPOUT] = &dn_opdef_dropout,
    [DN_OP_BATCHNORM] = &dn_opdef_batchnorm,
    [DN_OP_LAYERNORM] = &dn_opdef_layernorm,
    [DN_OP_LOSS] = &dn_opdef_loss,
    [DN_OP_CONV2D] = &dn_opdef_conv2d,
    [DN_OP_CONV2D_TRANSPOSE] = &dn_opdef_conv2d_transpose,
    [DN_OP_MAXPOOL2D] = &dn_opdef_maxpool2d,
    [DN_OP_AVGPOOL2D] = &dn_opdef_avgpool2d,
    [DN_OP_GLOBAL_AVGPOOL2D] = &dn_opdef_global_avgpool2d,
    [DN_OP_UPSAMPLE2D] = &dn_opdef_upsample2d,
    [DN_OP_REPARAMETERIZE] = &dn_opdef_reparameterize,
    [DN_OP_GAUSSIAN_KL] = &dn_opdef_gaussian_kl,
    [DN_OP_VAE_LOSS] = &dn_opdef_vae_loss,
    [DN_OP_SPECTRAL_LINEAR] = &dn_opdef_spectral_linear,
    [DN_OP_LINEAR_TIED] = &dn_opdef_linear_tied,
    [DN_OP_MASKING_NOISE] = &dn_opdef_masking_noise,
    [DN_OP_GAUSSIAN_NOISE] = &dn_opdef_gaussian_noise,
    [DN_OP_L1_PENALTY] = &dn_opdef_l1_penalty,
    [DN_OP_KL_SPARSITY] = &dn_opdef_kl_sparsity,
    [DN_OP_CONTRACTIVE] = &dn_opdef_contractive,
    [DN_OP_RECURRENT] = &dn_opdef_recurrent,
    [DN_OP_SEQUENCE_MASK] = &dn_opdef_sequence_mask,
    [DN_OP_EMBEDDING] = &dn_opdef_embedding,
};

_Static_assert(sizeof table / sizeof table[0] == DN_OP_COUNT,
               "every dn_op needs an entry in the op table");

const dn_op_def *dn_op_get(dn_op op)
{
    return (op >= 0 && op < DN_OP_COUNT) ? table[op] : NULL;
}
