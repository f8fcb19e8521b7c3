/* Internal structures of the core: nodes, the op table, the context a
 * kernel sees. Not installed; the public headers are under include/dagnet. */
#ifndef DAGNET_INTERNAL_H
#define DAGNET_INTERNAL_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include "dagnet/status.h"
#include "dagnet/tensor.h"
#include "dagnet/ops.h"
#include "dagnet/cpu.h"
#include "dagnet/gemm.h"
#include "dagnet/rng.h"
#include "dagnet/optim.h"
#include "dagnet/init.h"
#include "dagnet/graph.h"

#define DN_ALIGN 64

/* Below this many multiply-adds a product runs on one thread; above, each
 * thread gets at least this many. Opening a parallel region is cheap, but a
 * product split over cores leaves its inputs and output spread over their
 * caches, and the next, serial step pays to bring them back: below about a
 * million multiply-adds per thread (10 us) that costs more than it saves.
 * Graph runs whose largest product is below it run on one thread altogether
 * (dn_graph_step_threads): their smaller parallel regions would only wake
 * the team. */
#define DN_MIN_FMA_PER_THREAD (1 << 20)
/* The same inside a graph run that uses several threads (dn_sgemm_run): its
 * team has just left the previous region and is still spinning, so a share
 * of 128k multiply-adds (a few microseconds) already pays. Run on one
 * thread instead, the small products of a step (a 10-unit output layer
 * forward and backward: 56 us in a row on a 784-512-256-10 network) leave
 * the other threads idle past libgomp's spin (see dagnet/__init__.py); they
 * fall asleep, and waking a sleeping core costs 25-40 us on a virtual
 * machine, every step. */
#define DN_RUN_MIN_FMA_PER_THREAD (1 << 17)

/* Compile a hot elementwise loop for AVX-512, AVX2 and baseline x86-64 and
 * pick the clone at load time (no -march=native in a default build). */
#if defined(DAGNET_X86) && defined(__GNUC__) && !defined(__clang__)
#define DN_TARGET_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DN_TARGET_CLONES
#endif
/* The largest kernel, window, stride, dilation or padding of an image op:
 * with sizes below 2^31, output sizes are computed without overflow. */
#define DN_MAX_WINDOW ((int64_t)1 << 31)
#define DN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define DN_MAX(a, b) ((a) > (b) ? (a) : (b))

/* A parameter a node declares while its shape is inferred. */
typedef struct dn_param_decl {
    const char *suffix;  /* "weight", "bias", "gamma", ... (static string) */
    dn_shape shape;
    dn_init init;
    float init_scale;
    int64_t fan_in, fan_out;
    int learnable;       /* declared by the op; 0: state such as running statistics */
    int trainable;       /* learnable and its node not frozen (dn_graph_set_trainable) */
    int decay;           /* weight decay applies */
    int constrain;       /* max-norm applies */
    int share_input;     /* >= 0: no new parameter, but the weight (parameter 0)
                            of the producer of this input slot, read and
                            trained by both nodes (tied weights); else -1 */
    int shared;          /* set by compile: two nodes use it, so neither may
                            write its gradient fresh */
    int64_t offset;      /* floats into the parameter arena (set by compile) */
} dn_param_decl;

typedef struct dn_node {
    dn_op op;
    dn_attrs attrs;
    char name[64];
    int n_in;
    int in[DN_MAX_INPUTS];        /* producer node ids (the seeds' P_i) */
    int frozen;                   /* dn_graph_set_trainable(g, v, 0): parameters
                                     fixed, forward as at inference */
    int share_node;               /* >= 0: no parameters of its own, but every
                                     parameter of that node (one layer applied
                                     again, dn_graph_share_params); else -1 */
    /* set by shape inference (op infer function) */
    dn_shape in_shape[DN_MAX_INPUTS]; /* copies of the producers' shapes */
    int in_batched[DN_MAX_INPUTS];
    dn_shape shape;               /* per-sample output shape */
    int batched;                  /* output has a leading batch dimension */
    int n_params;
    dn_param_decl params[DN_MAX_PARAMS];
    /* floats kept from forward to backward (masks, statistics): per sample
     * and fixed; and scratch used within one call */
    int64_t saved_per_sample, saved_fixed;
    int64_t ws_per_sample, ws_fixed;
    /* set by compile */
    int input_index;              /* INPUT: k-th input; else -1 */
    int pos;                      /* position in the execution order */
} dn_node;

/* What a kernel sees. Pointers to absent things are NULL: gin[i] when input
 * i needs no gradient, gparam[j] outside backward. */
typedef struct dn_ctx {
    const dn_node *node;
    int64_t n;                    /* batch size of this run */
    const float *in[DN_MAX_INPUTS];
    float *gin[DN_MAX_INPUTS];    /* ADD into these */
    float *out;
    float *gout;                  /* gradient of the output; the op may overwrite it */
    float *param[DN_MAX_PARAMS];
    float *gparam[DN_MAX_PARAMS]; /* ADD into these */
    /* DN_OPF_BWD_FRESH ops: bit i of gin_fresh (j of gparam_fresh) is set when
     * gin[i] (gparam[j]) holds nothing yet: write it whole instead of adding */
    unsigned gin_fresh, gparam_fresh;
    float *saved;
    float *ws;
    int training;                 /* DN_RUN_TRAINING was given */
    int nthreads;
    uint64_t seed;                /* graph seed */
    uint64_t stream;              /* a stream of this node for random draws */
    uint64_t step;                /* the run counter: a new draw each run */
} dn_ctx;

typedef void (*dn_kernel_fn)(const dn_ctx *c);

/* Op flags: what backward reads. */
#define DN_OPF_BWD_IN0 (1u << 0)  /* input 0's value */
#define DN_OPF_BWD_IN1 (1u << 1)  /* input 1's value */
#define DN_OPF_BWD_INALL (0xffu)  /* every input's value */
#define DN_OPF_BWD_OUT (1u << 8)  /* the output's value */
#define DN_OPF_LOSS (1u << 9)     /* a loss: output is a scalar, seeded with 1 */
/* Batched inputs 1 and on get no gradient (targets, sample weights);
 * unbatched ones do (a loss's added terms): see dn_input_gets_grad. */
#define DN_OPF_NO_GRAD_IN1 (1u << 10)
/* Backward honours gin_fresh and gparam_fresh: it writes every element of a
 * fresh gradient instead of adding, so the executor need not zero it first
 * (of an input given twice, only the first slot is fresh). */
#define DN_OPF_BWD_FRESH (1u << 11)

/* 1 when backward passes a gradient to input i of nd (op flags `flags`). */
static inline int dn_input_gets_grad(const dn_node *nd, unsigned flags, int i)
{
    return i == 0 || !(flags & DN_OPF_NO_GRAD_IN1) || !nd->in_batched[i];
}

/* The node id of a LOSS node's sample weights (a batched input 2), or -1. */
static inline int dn_loss_weight_node(const dn_node *loss)
{
    return loss->n_in >= 3 && loss->in_batched[2] ? loss->in[2] : -1;
}

typedef struct dn_op_def {
    dn_op op;
    const char *name;
    int min_in, max_in;
    unsigned flags;
    /* Check node->in_shape/in_batched (already filled) and node->attrs, then
     * set node->shape, batched, params, saved and ws sizes. Errors name the
     * node and both ends (see dn_fail_node). */
    dn_status (*infer)(dn_node *node);
    dn_kernel_fn forward, backward;
    dn_kernel_fn forward_ref, backward_ref;
} dn_op_def;

/* The table, indexed by dn_op (src/ops/op_table.c). */
const dn_op_def *dn_op_get(dn_op op);

/* Each family file defines its entries: */
extern const dn_op_def dn_opdef_input, dn_opdef_linear, dn_opdef_matmul,
    dn_opdef_add, dn_opdef_sub, dn_opdef_mul, dn_opdef_scale,
    dn_opdef_broadcast, dn_opdef_activation, dn_opdef_softmax,
    dn_opdef_log_softmax, dn_opdef_sum, dn_opdef_mean, dn_opdef_reshape,
    dn_opdef_concat, dn_opdef_slice, dn_opdef_dropout, dn_opdef_batchnorm,
    dn_opdef_layernorm, dn_opdef_loss, dn_opdef_conv2d, dn_opdef_conv2d_transpose,
    dn_opdef_maxpool2d, dn_opdef_avgpool2d, dn_opdef_global_avgpool2d, dn_opdef_upsample2d;
extern const dn_op_def dn_opdef_reparameterize, dn_opdef_gaussian_kl, dn_opdef_vae_loss,
    dn_opdef_spectral_linear;
extern const dn_op_def dn_opdef_linear_tied, dn_opdef_masking_noise, dn_opdef_gaussian_noise,
    dn_opdef_l1_penalty, dn_opdef_kl_sparsity, dn_opdef_contractive;
extern const dn_op_def dn_opdef_recurrent, dn_opdef_sequence_mask, dn_opdef_embedding;

/* Helpers for infer functions and kernels (src/graph.c, src/status.c). */
dn_status dn_fail_node(const dn_node *node, dn_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Full shape (batch first when batched) of input i / the output, for n. */
dn_shape dn_node_in_full(const dn_node *node, int i, int64_t n);
dn_shape dn_node_out_full(const dn_node *node, int64_t n);
/* Elements of input i / of the output for batch size n. */
int64_t dn_node_in_numel(const dn_node *node, int i, int64_t n);
int64_t dn_node_out_numel(const dn_node *node, int64_t n);
/* Write a full shape as "(batch, 3, 4)" (per-sample (3, 4), batched). */
void dn_format_full(const dn_shape *s, int batched, char *buf, size_t size);
/* Normalise a full-tensor axis (negative from the end) for a full rank;
 * -1 when out of range. */
int dn_axis_norm(int axis, int full_ndim);
/* DN_ERR_INVALID naming the shape unless input i of node is an image
 * (channels, height, width) per sample. */
dn_status dn_node_expect_image(dn_node *node, int i);
/* DN_ERR_INVALID unless a dense layer's units and fused activation (with its
 * alpha) are valid (src/ops/linear.c; dense-like ops share it). */
dn_status dn_dense_attrs_check(dn_node *node);
/* Declare a parameter on a node during infer; returns its index. */
int dn_node_param(dn_node *node, const char *suffix, const dn_shape *shape,
                  dn_init init, float scale, int64_t fan_in, int64_t fan_out,
                  int trainable, int decay, int constrain);
/* Declare that the node uses the weight (parameter 0, of shape `shape`) of
 * the producer of input `slot` as its parameter; compile checks the shape.
 * Returns its index. */
int dn_node_param_shared(dn_node *node, const char *suffix, const dn_shape *shape, int slot);

/* Elementwise activation math shared by the ACTIVATION op, fused LINEAR and
 * the GEMM epilogue (src/ops/activation.c). y and x may alias. */
void dn_act_forward(dn_act act, float alpha, const float *x, float *y,
                    int64_t n);
/* g *= act'(x) computed from the output y (fusable activations only). */
void dn_act_backward_from_out(dn_act act, float alpha, const float *y,
                              float *g, int64_t n);
/* The sum of x (n) in double, in a fixed order (src/ops/pool.c). */
double dn_plane_sum(const float *x, int64_t n);

/* dn_sgemm's signature, so an op can run with the fast GEMM or the
 * reference one (dn_sgemm_ref_mt ignores nthreads). */
typedef void (*dn_gemm_fn)(int, int, int64_t, int64_t, int64_t, float, const float *,
                           int64_t, const float *, int64_t, float, float *, int64_t,
                           const dn_gemm_epilogue *, int);
/* dn_sgemm for the ops of a graph run: threads from DN_RUN_MIN_FMA_PER_THREAD
 * (src/gemm/gemm.c). */
void dn_sgemm_run(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                  float *C, int64_t ldc, const dn_gemm_epilogue *ep, int nthreads);
static inline void dn_sgemm_ref_mt(int ta, int tb, int64_t M, int64_t N, int64_t K,
                                   float alpha, const float *A, int64_t lda, const float *B,
                                   int64_t ldb, float beta, float *C, int64_t ldc,
                                   const dn_gemm_epilogue *ep, int nthreads)
{
    (void)nthreads;
    dn_sgemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep);
}

/* Aligned allocation (64 bytes); NULL on failure or size overflow. */
void *dn_alloc(size_t bytes);
void dn_free(void *p);
/* a * b into *out; 0 on overflow. */
int dn_mul_ok(int64_t a, int64_t b, int64_t *out);

#endif
