/* Names of ops, activations, losses and initialisers, and the registries
 * that map names to enums; the defaults of dn_attrs. */
#include <stdio.h>
#include "internal.h"

static const char *const op_names[DN_OP_COUNT] = {
    "input", "linear", "matmul", "add", "sub", "mul", "scale", "broadcast",
    "activation", "softmax", "log_softmax", "sum", "mean", "reshape",
    "concat", "slice", "dropout", "batchnorm", "layernorm", "loss", "conv2d",
    "conv2d_transpose", "maxpool2d", "avgpool2d", "global_avgpool2d", "upsample2d",
    "reparameterize", "gaussian_kl", "vae_loss", "spectral_linear",
    "linear_tied", "masking_noise", "gaussian_noise", "l1_penalty", "kl_sparsity",
    "contractive", "recurrent", "sequence_mask", "embedding"};

static const char *const cell_names[DN_CELL_COUNT] = {"rnn", "lstm", "gru"};

static const char *const act_names[DN_ACT_COUNT] = {
    "identity", "relu", "leaky_relu", "elu", "sigmoid", "tanh", "softplus",
    "gelu", "silu"};

static const char *const loss_names[DN_LOSS_COUNT] = {
    "squared_error", "binary_cross_entropy", "softmax_cross_entropy",
    "poisson"};

static const char *const init_names[DN_INIT_COUNT] = {
    "zeros", "constant", "uniform", "normal", "lecun_uniform", "lecun_normal",
    "glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "sklearn"};

static const char *name_of(const char *const *names, int count, int v)
{
    return (v >= 0 && v < count) ? names[v] : "unknown";
}

const char *dn_op_name(dn_op op) { return name_of(op_names, DN_OP_COUNT, op); }
const char *dn_act_name(dn_act a) { return name_of(act_names, DN_ACT_COUNT, a); }
const char *dn_loss_name(dn_loss l) { return name_of(loss_names, DN_LOSS_COUNT, l); }
const char *dn_init_name(dn_init i) { return name_of(init_names, DN_INIT_COUNT, i); }
const char *dn_cell_name(dn_cell c) { return name_of(cell_names, DN_CELL_COUNT, c); }

/* Find `name` in `names`; on failure the message lists every valid name. */
static dn_status lookup(const char *what, const char *const *names, int count,
                        const char *name, int *out)
{
    char list[512];
    size_t used = 0;
    for (int i = 0; i < count; i++) {
        if (name && strcmp(name, names[i]) == 0) {
            *out = i;
            return DN_OK;
        }
    }
    list[0] = 0;
    for (int i = 0; i < count && used < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s'%s'",
                                 i ? ", " : "", names[i]);
    return dn_fail(DN_ERR_INVALID, "unknown %s '%s'; use one of %s", what,
                   name ? name : "(null)", list);
}

dn_status dn_act_from_name(const char *name, dn_act *out)
{
    int v = 0;
    dn_status s = lookup("activation", act_names, DN_ACT_COUNT, name, &v);
    *out = (dn_act)v;
    return s;
}

dn_status dn_loss_from_name(const char *name, dn_loss *out)
{
    int v = 0;
    dn_status s = lookup("loss", loss_names, DN_LOSS_COUNT, name, &v);
    *out = (dn_loss)v;
    return s;
}

dn_status dn_init_from_name(const char *name, dn_init *out)
{
    int v = 0;
    dn_status s = lookup("initialiser", init_names, DN_INIT_COUNT, name, &v);
    *out = (dn_init)v;
    return s;
}

void dn_attrs_default(dn_attrs *a)
{
    memset(a, 0, sizeof *a);
    a->units = 0;
    a->use_bias = 1;
    a->act = DN_ACT_IDENTITY;
    a->alpha = 0.01f;
    a->scale = 1.0f;
    a->rate = 0.5f;
    a->eps = 1e-5f;
    a->momentum = 0.1f;
    a->axis = -1;
    a->keepdims = 0;
    a->start = 0;
    a->stop = 0;
    a->loss = DN_LOSS_MSE;
    a->w_init = DN_INIT_GLOROT_UNIFORM;
    a->w_scale = 1.0f;
    a->b_init = DN_INIT_ZEROS;
    a->b_scale = 0.0f;
    a->kernel[0] = a->kernel[1] = 1;
    a->stride[0] = a->stride[1] = 0;
    a->dilation[0] = a->dilation[1] = 1;
    a->groups = 1;
    a->count_pad = 1;
    a->factor[0] = a->factor[1] = 2;
    a->cell = DN_CELL_RNN;
    a->directions = 1;
}

dn_status dn_cell_from_name(const char *name, dn_cell *out)
{
    int v = 0;
    dn_status s = lookup("recurrent cell", cell_names, DN_CELL_COUNT, name, &v);
    *out = (dn_cell)v;
    return s;
}
