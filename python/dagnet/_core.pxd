# Declarations of the C core's public headers (include/dagnet/*.h).
from libc.stdint cimport int64_t, uint64_t, uint32_t

cdef extern from "dagnet/status.h":
    ctypedef enum dn_status:
        DN_OK
        DN_ERR_INVALID
        DN_ERR_TYPE
        DN_ERR_NOMEM
        DN_ERR_STATE
        DN_ERR_NUMERIC
        DN_ERR_UNSUPPORTED
        DN_ERR_INTERNAL
    const char *dn_last_error()

cdef extern from "dagnet/tensor.h":
    enum: DN_MAX_DIMS
    ctypedef struct dn_shape:
        int ndim
        int64_t dims[6]

cdef extern from "dagnet/cpu.h":
    ctypedef enum dn_isa:
        DN_ISA_GENERIC
        DN_ISA_AVX2
        DN_ISA_AVX512
    dn_isa dn_cpu_detect()
    dn_isa dn_cpu_isa()
    dn_isa dn_cpu_set_isa(dn_isa isa)
    const char *dn_isa_name(dn_isa isa)
    int dn_max_threads()
    int dn_have_openmp()
    int dn_set_reference_mode(int on)
    int dn_set_thread_trim(int on)
    int dn_set_conv_winograd(int mode)

cdef extern from "dagnet/ops.h":
    ctypedef enum dn_op:
        DN_OP_INPUT
        DN_OP_COUNT
    ctypedef enum dn_act:
        DN_ACT_IDENTITY
    ctypedef enum dn_loss:
        DN_LOSS_MSE
    ctypedef enum dn_init:
        DN_INIT_ZEROS
    ctypedef enum dn_cell:
        DN_CELL_RNN
    enum: DN_MAX_INPUTS
    enum: DN_AXIS_ALL
    ctypedef struct dn_attrs:
        int64_t units
        int use_bias
        dn_act act
        float alpha
        float scale
        float rate
        float eps
        float momentum
        int axis
        int keepdims
        int64_t start
        int64_t stop
        dn_shape shape
        dn_loss loss
        int trans_a
        int trans_b
        dn_init w_init
        float w_scale
        dn_init b_init
        float b_scale
        int64_t kernel[2]
        int64_t stride[2]
        int64_t pad[4]
        int64_t dilation[2]
        int64_t out_pad[2]
        int64_t groups
        int count_pad
        int64_t factor[2]
        dn_cell cell
        int directions
        int go_backwards
        int peepholes
        int reset_after
        int has_mask
        int64_t truncate
        float recurrent_dropout
        int64_t vocab
    void dn_attrs_default(dn_attrs *a)
    const char *dn_op_name(dn_op op)
    int dn_act_fusable(dn_act act)
    dn_status dn_act_from_name(const char *name, dn_act *out)
    dn_status dn_loss_from_name(const char *name, dn_loss *out)
    dn_status dn_init_from_name(const char *name, dn_init *out)
    dn_status dn_cell_from_name(const char *name, dn_cell *out)

cdef extern from "dagnet/gemm.h":
    ctypedef struct dn_gemm_epilogue:
        const float *bias
        dn_act act
        float act_alpha
    void dn_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                  float alpha, const float *A, int64_t lda, const float *B,
                  int64_t ldb, float beta, float *C, int64_t ldc,
                  const dn_gemm_epilogue *ep, int nthreads) nogil
    int64_t dn_sgemm_packed_floats(int64_t K, int64_t N)
    void dn_sgemm_pack_b(int trans_b, int64_t K, int64_t N, const float *B, int64_t ldb,
                         float *packed) nogil
    void dn_sgemm_packed(int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                         int64_t lda, const float *packed, float beta, float *C, int64_t ldc,
                         const dn_gemm_epilogue *ep, int nthreads) nogil
    void dn_sgemm_ref(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                      float alpha, const float *A, int64_t lda, const float *B,
                      int64_t ldb, float beta, float *C, int64_t ldc,
                      const dn_gemm_epilogue *ep) nogil

cdef extern from "dagnet/rng.h":
    void dn_philox4x32(const uint32_t ctr[4], uint64_t key, uint32_t out[4])
    void dn_rng_fill_u32(uint64_t seed, uint64_t stream, uint64_t offset, uint32_t *out, int64_t n) nogil
    void dn_rng_uniform(uint64_t seed, uint64_t stream, uint64_t offset, float *out, int64_t n) nogil
    void dn_rng_normal(uint64_t seed, uint64_t stream, uint64_t offset, float *out, int64_t n) nogil
    void dn_rng_permutation(uint64_t seed, uint64_t stream, int64_t *perm, int64_t n) nogil

cdef extern from "dagnet/init.h":
    dn_status dn_init_fill(float *out, int64_t n, dn_init init, float scale,
                           int64_t fan_in, int64_t fan_out, uint64_t seed, uint64_t stream) nogil

cdef extern from "dagnet/optim.h":
    ctypedef enum dn_optim_kind:
        DN_OPTIM_SGD
    ctypedef struct dn_optim_config:
        dn_optim_kind kind
        float lr
        float momentum
        float beta1
        float beta2
        float eps
        float rho
        float weight_decay
        float l2
        float l1
        int reg_per_sample
        float max_norm
        float clip_norm
        float clip_value
    void dn_optim_default(dn_optim_config *c, dn_optim_kind kind)
    dn_status dn_optim_from_name(const char *name, dn_optim_kind *out)
    int dn_optim_state_slots(dn_optim_kind kind)
    dn_status dn_optim_check(const dn_optim_config *c)
    ctypedef struct dn_param_view:
        float *value
        const float *grad_in
        float *state[2]
        int64_t size
        int64_t cols
        int decay
        int constrain
    dn_status dn_optim_step(const dn_optim_config *c, dn_param_view *params, int n,
                            int64_t t, double batch, int nthreads, double *reg_loss) nogil

cdef extern from "dagnet/graph.h":
    ctypedef struct dn_graph_t:
        pass
    enum: DN_RUN_TRAINING
    enum: DN_RUN_GRAD
    dn_status dn_graph_new(dn_graph_t **out)
    void dn_graph_free(dn_graph_t *g)
    dn_status dn_graph_add_input(dn_graph_t *g, const dn_shape *sample_shape, int *node)
    dn_status dn_graph_add_node(dn_graph_t *g, dn_op op, const int *inputs, int n_inputs,
                                const dn_attrs *attrs, int *node)
    dn_status dn_graph_add_split(dn_graph_t *g, int input, int axis, const int64_t *sizes,
                                 int k, int *nodes)
    dn_status dn_graph_set_input(dn_graph_t *g, int node, int slot, int src)
    dn_status dn_graph_set_name(dn_graph_t *g, int node, const char *name)
    dn_status dn_graph_set_outputs(dn_graph_t *g, const int *nodes, int n)
    dn_status dn_graph_set_trainable(dn_graph_t *g, int node, int trainable)
    dn_status dn_graph_share_params(dn_graph_t *g, int node, int src)
    dn_status dn_graph_compile(dn_graph_t *g, uint64_t seed) nogil
    int dn_graph_num_nodes(const dn_graph_t *g)
    int dn_graph_num_inputs(const dn_graph_t *g)
    int dn_graph_num_outputs(const dn_graph_t *g)
    int dn_graph_input_node(const dn_graph_t *g, int k)
    int dn_graph_output_node(const dn_graph_t *g, int k)
    dn_status dn_graph_node_shape(const dn_graph_t *g, int node, dn_shape *shape, int *batched)
    dn_status dn_graph_infer_shape(dn_graph_t *g, int node, dn_shape *shape, int *batched)
    const int *dn_graph_order(const dn_graph_t *g)
    int dn_graph_num_params(const dn_graph_t *g)
    ctypedef struct dn_param_info:
        const char *name
        int node
        dn_shape shape
        float *value
        int64_t offset
        float *grad
        int trainable
    dn_status dn_graph_param(const dn_graph_t *g, int k, dn_param_info *info)
    dn_status dn_graph_forward(dn_graph_t *g, const float *const *inputs, int64_t n,
                               int flags, int nthreads) nogil
    dn_status dn_graph_output(const dn_graph_t *g, int k, const float **data, int64_t *numel)
    dn_status dn_graph_backward(dn_graph_t *g, const float *const *grad_outputs,
                                int nthreads) nogil
    dn_status dn_graph_input_grad(const dn_graph_t *g, int k, const float **data, int64_t *numel)
    dn_status dn_graph_predict(dn_graph_t *g, const float *const *inputs, int64_t n, int k,
                               float *out, int64_t chunk, int nthreads) nogil
    int64_t dn_graph_activation_bytes(const dn_graph_t *g)
    dn_status dn_graph_set_optimizer(dn_graph_t *g, const dn_optim_config *c)
    dn_status dn_graph_set_lr(dn_graph_t *g, float lr)
    dn_status dn_graph_train_epoch(dn_graph_t *g, const float *const *data, int64_t n_samples,
                                   int64_t batch_size, int shuffle, int nthreads,
                                   double *mean_loss) nogil
    int64_t dn_graph_step_count(const dn_graph_t *g)
    int dn_graph_step_threads(const dn_graph_t *g, int64_t n, int nthreads)
    double dn_graph_last_reg_loss(const dn_graph_t *g)
    dn_status dn_graph_objective(dn_graph_t *g, const float *const *data, int64_t n,
                                 int64_t chunk, double l2, int reg_per_sample, int nthreads,
                                 double *value, float *grad) nogil
    int64_t dn_graph_param_floats(const dn_graph_t *g)
    dn_status dn_graph_optim_state(dn_graph_t *g, float **state, int64_t *n_floats)
    int64_t dn_graph_epoch_count(const dn_graph_t *g)
    dn_status dn_graph_set_counters(dn_graph_t *g, int64_t steps, int64_t epochs)
    uint64_t dn_graph_run_count(const dn_graph_t *g)
    dn_status dn_graph_set_run_count(dn_graph_t *g, uint64_t runs)


# ---------------------------------------------------------------------------
# RBM: energy-based models (include/dagnet/rbm.h)
# ---------------------------------------------------------------------------

cdef extern from "dagnet/rbm.h":
    ctypedef enum dn_rbm_visible:
        DN_RBM_BERNOULLI
        DN_RBM_GAUSSIAN
    ctypedef struct dn_rbm:
        int64_t n_visible
        int64_t n_hidden
        dn_rbm_visible visible
        float *W
        float *b
        float *c
    ctypedef enum dn_rbm_method:
        DN_RBM_CD
        DN_RBM_PCD
    ctypedef struct dn_rbm_train_config:
        dn_rbm_method method
        int k
        int64_t batch_size
        float lr
        float momentum
        float l2
        int shuffle
        int neg_per_batch
        int monitor
        uint64_t seed
        const float *sample_weight
    ctypedef struct dn_rbm_train_state:
        float *chains
        int64_t n_chains
        float *vel_W
        float *vel_b
        float *vel_c
        int64_t epoch
    ctypedef struct dn_rbm_ais_config:
        int64_t n_runs
        int64_t n_betas
        const double *betas
        const float *base_b
        uint64_t seed
    ctypedef struct dn_rbm_ais_result:
        double log_z
        double log_z_base
        double log_se
        double rel_se

    dn_status dn_rbm_check(const dn_rbm *m)
    dn_status dn_rbm_hidden_probs(const dn_rbm *m, const float *v, int64_t n, float *ph,
                                  int nthreads) nogil
    dn_status dn_rbm_visible_means(const dn_rbm *m, const float *h, int64_t n, float *mv,
                                   int nthreads) nogil
    dn_status dn_rbm_sample_bernoulli(const float *p, int64_t rows, int64_t cols, float *x,
                                      uint64_t seed, uint64_t stream, uint64_t offset,
                                      int nthreads) nogil
    dn_status dn_rbm_sample_gaussian(const float *mean, int64_t rows, int64_t cols, float *x,
                                     uint64_t seed, uint64_t stream, uint64_t offset,
                                     int nthreads) nogil
    dn_status dn_rbm_gibbs(const dn_rbm *m, int64_t n, int k, int from_hidden, float *v,
                           float *h, float *v_mean, float *h_prob, uint64_t seed,
                           uint64_t stream, uint64_t offset, int nthreads) nogil
    uint64_t dn_rbm_gibbs_positions(const dn_rbm *m, int64_t n, int k)
    dn_status dn_rbm_free_energy(const dn_rbm *m, const float *v, int64_t n, double *F,
                                 int nthreads) nogil
    dn_status dn_rbm_pseudo_likelihood(const dn_rbm *m, const float *v, int64_t n,
                                       const int64_t *feature, double *pl, int nthreads) nogil
    void dn_rbm_train_default(dn_rbm_train_config *c)
    void dn_rbm_train_sklearn(dn_rbm_train_config *c, float lr, int64_t batch_size,
                              uint64_t seed)
    dn_status dn_rbm_train_epoch(dn_rbm *m, const dn_rbm_train_config *c,
                                 dn_rbm_train_state *st, const float *X, int64_t n,
                                 int nthreads, double *monitor) nogil
    dn_status dn_rbm_log_z_exact(const dn_rbm *m, int nthreads, double *log_z) nogil
    void dn_rbm_ais_default(dn_rbm_ais_config *c)
    dn_status dn_rbm_ais_betas(int64_t n, double *betas)
    dn_status dn_rbm_log_z_ais(const dn_rbm *m, const dn_rbm_ais_config *c, int nthreads,
                               dn_rbm_ais_result *out, double *log_w) nogil

cdef extern from "dagnet/augment.h":
    ctypedef struct dn_augment_config:
        int max_shift
        int flip
        float max_degrees
        float fill_value
    ctypedef struct dn_augment_draw:
        int flip
        float degrees
        int dy, dx
    dn_status dn_augment_check(const dn_augment_config *c, int64_t H, int64_t W)
    void dn_augment_draw_sample(const dn_augment_config *c, uint64_t seed, uint64_t epoch,
                                int64_t index, dn_augment_draw *t)
    void dn_augment_apply(const dn_augment_draw *t, float fill_value, const float *src,
                          int64_t C, int64_t H, int64_t W, float *dst) nogil
    void dn_augment_apply_ref(const dn_augment_draw *t, float fill_value, const float *src,
                              int64_t C, int64_t H, int64_t W, float *dst) nogil
    dn_status dn_augment_batch(const dn_augment_config *c, const float *src,
                               const int64_t *rows, int64_t m, int64_t C, int64_t H, int64_t W,
                               uint64_t seed, uint64_t epoch, float *dst, int nthreads) nogil
    dn_status dn_graph_set_augment(dn_graph_t *g, int input, const dn_augment_config *c)
