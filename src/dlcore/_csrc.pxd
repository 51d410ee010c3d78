# _csrc.pxd - Cython view of csrc/include/dlcore/dlcore.h (keep in step with kernels.def).
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t

cdef extern from "dlcore/dlcore.h" nogil:
    ctypedef Py_ssize_t dl_index
    ctypedef enum dl_status:
        DL_OK
        DL_ERR_INDEX
        DL_ERR_NOMEM
        DL_ERR_ARG
    ctypedef enum dl_isa:
        DL_ISA_BASELINE
        DL_ISA_AVX2
        DL_ISA_AVX512

    dl_status dl_init(const char *request) noexcept
    dl_isa dl_isa_selected() noexcept
    int dl_isa_supported(dl_isa isa) noexcept
    const char *dl_isa_name(dl_isa isa) noexcept
    const char *dl_blas_backend() noexcept
    const char *dl_blas_core() noexcept
    int dl_gemm_own() noexcept
    void dl_set_gemm_own(int own) noexcept
    int dl_conv_direct() noexcept
    void dl_set_conv_direct(int direct) noexcept
    dl_index dl_l2_bytes() noexcept
    dl_index dl_gemm_panel_bytes() noexcept
    void dl_set_gemm_panel_bytes(dl_index nbytes) noexcept
    int dl_openmp_enabled() noexcept
    int dl_get_max_threads() noexcept
    void dl_set_num_threads(int n) noexcept
    int dl_max_threads_cap() noexcept
    long long dl_fork_count() noexcept
    double dl_fork_min_work(double work) noexcept
    const char *dl_status_str(dl_status s) noexcept
    const char *dl_version() noexcept

    # gemm
    void dl_gemm_f64(double *C, dl_index ldc, const double *A, dl_index lda, int transA, const double *B, dl_index ldb, int transB, dl_index M, dl_index N, dl_index K, double alpha, double beta) noexcept
    void dl_gemm_f32(float *C, dl_index ldc, const float *A, dl_index lda, int transA, const float *B, dl_index ldb, int transB, dl_index M, dl_index N, dl_index K, float alpha, float beta) noexcept
    void dl_gemm_ref_f64(double *C, dl_index ldc, const double *A, dl_index lda, int transA, const double *B, dl_index ldb, int transB, dl_index M, dl_index N, dl_index K, double alpha, double beta) noexcept
    void dl_gemm_ref_f32(float *C, dl_index ldc, const float *A, dl_index lda, int transA, const float *B, dl_index ldb, int transB, dl_index M, dl_index N, dl_index K, float alpha, float beta) noexcept

    # activations
    void dl_relu_forward_f64(double *y, uint8_t *mask, const double *x, dl_index n) noexcept
    void dl_relu_forward_f32(float *y, uint8_t *mask, const float *x, dl_index n) noexcept
    void dl_relu_backward_f64(double *dx, const uint8_t *mask, const double *dout, dl_index n) noexcept
    void dl_relu_backward_f32(float *dx, const uint8_t *mask, const float *dout, dl_index n) noexcept
    void dl_relu_grad_f64(double *y, const double *x, dl_index n) noexcept
    void dl_relu_grad_f32(float *y, const float *x, dl_index n) noexcept
    void dl_exp_f64(double *y, const double *x, dl_index n) noexcept
    void dl_exp_f32(float *y, const float *x, dl_index n) noexcept
    void dl_sigmoid_forward_f64(double *y, const double *x, dl_index n) noexcept
    void dl_sigmoid_forward_f32(float *y, const float *x, dl_index n) noexcept
    void dl_sigmoid_backward_f64(double *dx, const double *dout, const double *out, dl_index n) noexcept
    void dl_sigmoid_backward_f32(float *dx, const float *dout, const float *out, dl_index n) noexcept
    void dl_sigmoid_grad_f64(double *y, const double *x, dl_index n) noexcept
    void dl_sigmoid_grad_f32(float *y, const float *x, dl_index n) noexcept

    # softmax and losses
    void dl_softmax_forward_f64(double *y, const double *x, dl_index rows, dl_index cols) noexcept
    void dl_softmax_forward_f32(float *y, const float *x, dl_index rows, dl_index cols) noexcept
    dl_status dl_cross_entropy_forward_f64(double *loss, dl_index *bad, const double *y, const int64_t *t, dl_index N, dl_index C) noexcept
    dl_status dl_cross_entropy_forward_f32(float *loss, dl_index *bad, const float *y, const int64_t *t, dl_index N, dl_index C) noexcept
    dl_status dl_softmax_xent_forward_f64(double *y, double *loss, dl_index *bad, const double *x, const int64_t *t, dl_index N, dl_index C) noexcept
    dl_status dl_softmax_xent_forward_f32(float *y, float *loss, dl_index *bad, const float *x, const int64_t *t, dl_index N, dl_index C) noexcept
    dl_status dl_softmax_xent_backward_f64(double *dx, dl_index *bad, const double *y, const int64_t *t, dl_index N, dl_index C) noexcept
    dl_status dl_softmax_xent_backward_f32(float *dx, dl_index *bad, const float *y, const int64_t *t, dl_index N, dl_index C) noexcept
    void dl_softmax_xent_backward_dense_f64(double *dx, const double *y, const double *t, dl_index N, dl_index C) noexcept
    void dl_softmax_xent_backward_dense_f32(float *dx, const float *y, const float *t, dl_index N, dl_index C) noexcept

    # affine
    void dl_affine_forward_f64(double *out, const double *x, const double *W, const double *b, dl_index N, dl_index D, dl_index M) noexcept
    void dl_affine_forward_f32(float *out, const float *x, const float *W, const float *b, dl_index N, dl_index D, dl_index M) noexcept
    dl_status dl_affine_forward_x32_f64(double *out, const float *x, const double *W, const double *b, dl_index N, dl_index D, dl_index M) noexcept
    dl_status dl_affine_forward_x32_f32(float *out, const float *x, const float *W, const float *b, dl_index N, dl_index D, dl_index M) noexcept
    void dl_affine_backward_f64(double *dx, double *dW, double *db, const double *dout, const double *x, const double *W, dl_index N, dl_index D, dl_index M) noexcept
    void dl_affine_backward_f32(float *dx, float *dW, float *db, const float *dout, const float *x, const float *W, dl_index N, dl_index D, dl_index M) noexcept

    # optimizers
    void dl_sgd_update_f64(double *p, const double *g, dl_index n, double lr) noexcept
    void dl_sgd_update_f32(float *p, const float *g, dl_index n, double lr) noexcept
    void dl_momentum_update_f64(double *p, double *v, const double *g, dl_index n, double lr, double mu) noexcept
    void dl_momentum_update_f32(float *p, float *v, const float *g, dl_index n, double lr, double mu) noexcept
    void dl_nesterov_update_f64(double *p, double *v, const double *g, dl_index n, double lr, double mu) noexcept
    void dl_nesterov_update_f32(float *p, float *v, const float *g, dl_index n, double lr, double mu) noexcept
    void dl_adagrad_update_f64(double *p, double *h, const double *g, dl_index n, double lr, double eps) noexcept
    void dl_adagrad_update_f32(float *p, float *h, const float *g, dl_index n, double lr, double eps) noexcept
    void dl_rmsprop_update_f64(double *p, double *h, const double *g, dl_index n, double lr, double rho, double eps) noexcept
    void dl_rmsprop_update_f32(float *p, float *h, const float *g, dl_index n, double lr, double rho, double eps) noexcept
    void dl_adam_update_f64(double *p, double *m, double *v, const double *g, dl_index n, double lr_t, double beta1, double beta2, double eps) noexcept
    void dl_adam_update_f32(float *p, float *m, float *v, const float *g, dl_index n, double lr_t, double beta1, double beta2, double eps) noexcept

    # dropout
    void dl_dropout_forward_f64(double *y, const double *x, const uint8_t *mask, dl_index n, double scale) noexcept
    void dl_dropout_forward_f32(float *y, const float *x, const uint8_t *mask, dl_index n, double scale) noexcept
    void dl_dropout_backward_f64(double *dx, const double *dout, const uint8_t *mask, dl_index n, double scale) noexcept
    void dl_dropout_backward_f32(float *dx, const float *dout, const uint8_t *mask, dl_index n, double scale) noexcept

    # batch normalization
    void dl_batchnorm_forward_train_f64(double *out, double *xc, double *xn, double *std, double *mean, double *var, const double *x, const double *gamma, const double *beta, dl_index N, dl_index D, double eps) noexcept
    void dl_batchnorm_forward_train_f32(float *out, float *xc, float *xn, float *std, float *mean, float *var, const float *x, const float *gamma, const float *beta, dl_index N, dl_index D, double eps) noexcept
    void dl_batchnorm_forward_test_f64(double *out, const double *x, const double *gamma, const double *beta, const double *running_mean, const double *running_var, dl_index N, dl_index D, double eps) noexcept
    void dl_batchnorm_forward_test_f32(float *out, const float *x, const float *gamma, const float *beta, const float *running_mean, const float *running_var, dl_index N, dl_index D, double eps) noexcept
    void dl_batchnorm_backward_f64(double *dx, double *dgamma, double *dbeta, const double *dout, const double *xn, const double *xc, const double *std, const double *gamma, dl_index N, dl_index D) noexcept
    void dl_batchnorm_backward_f32(float *dx, float *dgamma, float *dbeta, const float *dout, const float *xn, const float *xc, const float *std, const float *gamma, dl_index N, dl_index D) noexcept
    void dl_batchnorm_running_update_f64(double *rm_out, double *rv_out, const double *rm, const double *rv, const double *mean, const double *var, dl_index D, double momentum) noexcept
    void dl_batchnorm_running_update_f32(float *rm_out, float *rv_out, const float *rm, const float *rv, const float *mean, const float *var, dl_index D, double momentum) noexcept
    void dl_sumsq_f64(double *out, const double *x, dl_index n) noexcept
    void dl_sumsq_f32(float *out, const float *x, dl_index n) noexcept

    # convolution and max pooling
    void dl_im2col_f64(double *col, const double *x, dl_index N, dl_index C, dl_index H, dl_index W, dl_index fh, dl_index fw, dl_index stride, dl_index pad, dl_index oh, dl_index ow) noexcept
    void dl_im2col_f32(float *col, const float *x, dl_index N, dl_index C, dl_index H, dl_index W, dl_index fh, dl_index fw, dl_index stride, dl_index pad, dl_index oh, dl_index ow) noexcept
    void dl_col2im_f64(double *x, const double *col, dl_index N, dl_index C, dl_index H, dl_index W, dl_index fh, dl_index fw, dl_index stride, dl_index pad, dl_index oh, dl_index ow) noexcept
    void dl_col2im_f32(float *x, const float *col, dl_index N, dl_index C, dl_index H, dl_index W, dl_index fh, dl_index fw, dl_index stride, dl_index pad, dl_index oh, dl_index ow) noexcept
    dl_status dl_conv_forward_f64(double *out, double *col, const double *x, const double *Wf, const double *b, dl_index N, dl_index C, dl_index H, dl_index W, dl_index FN, dl_index fh, dl_index fw, dl_index stride, dl_index pad, dl_index oh, dl_index ow) noexcept
    dl_status dl_conv_forward_f32(float *out, float *col, const float *x, const float *Wf, const float *b, dl_index N, dl_index C, dl_index H, dl_index W, dl_index FN, dl_index fh, dl_index fw, dl_index stride, dl_index pad, dl_index oh, dl_index ow) noexcept
    dl_status dl_conv_backward_f64(double *dx, double *dW, double *db, const double *dout, const double *col, const double *Wf, dl_index N, dl_index C, dl_index H, dl_index W, dl_index FN, dl_index fh, dl_index fw, dl_index stride, dl_index pad, dl_index oh, dl_index ow) noexcept
    dl_status dl_conv_backward_f32(float *dx, float *dW, float *db, const float *dout, const float *col, const float *Wf, dl_index N, dl_index C, dl_index H, dl_index W, dl_index FN, dl_index fh, dl_index fw, dl_index stride, dl_index pad, dl_index oh, dl_index ow) noexcept
    dl_status dl_conv_backward_x_f32(float *dx, float *dW, float *db, const float *dout, const float *x, const float *Wf, dl_index N, dl_index C, dl_index H, dl_index W, dl_index FN, dl_index fh, dl_index fw, dl_index stride, dl_index pad, dl_index oh, dl_index ow) noexcept
    dl_status dl_conv_backward_x_f64(double *dx, double *dW, double *db, const double *dout, const double *x, const double *Wf, dl_index N, dl_index C, dl_index H, dl_index W, dl_index FN, dl_index fh, dl_index fw, dl_index stride, dl_index pad, dl_index oh, dl_index ow) noexcept
    void dl_pool_forward_f64(double *out, int64_t *arg_max, const double *x, dl_index N, dl_index C, dl_index H, dl_index W, dl_index ph, dl_index pw, dl_index stride, dl_index oh, dl_index ow) noexcept
    void dl_pool_forward_f32(float *out, int64_t *arg_max, const float *x, dl_index N, dl_index C, dl_index H, dl_index W, dl_index ph, dl_index pw, dl_index stride, dl_index oh, dl_index ow) noexcept
    dl_status dl_pool_backward_f64(double *dx, dl_index *bad, const double *dout, const int64_t *arg_max, dl_index N, dl_index C, dl_index H, dl_index W, dl_index ph, dl_index pw, dl_index stride, dl_index oh, dl_index ow) noexcept
    dl_status dl_pool_backward_f32(float *dx, dl_index *bad, const float *dout, const int64_t *arg_max, dl_index N, dl_index C, dl_index H, dl_index W, dl_index ph, dl_index pw, dl_index stride, dl_index oh, dl_index ow) noexcept


    # fused engine (engine.c, tmpl/engine.inc)
    ctypedef struct dl_engine:
        pass
    dl_engine *dl_engine_new(int elem, dl_index cap, dl_index C, dl_index H, dl_index W) noexcept
    dl_status dl_engine_add(dl_engine *e, int kind, const dl_index *iargs, const double *dargs) noexcept
    dl_status dl_engine_finish(dl_engine *e) noexcept
    dl_status dl_engine_bind(dl_engine *e, int op, int slot, void *ptr, dl_index n) noexcept
    dl_status dl_engine_set_optimizer(dl_engine *e, int opt, double weight_decay) noexcept
    void dl_engine_set_rng(dl_engine *e, int mode, double (*next_double)(void *) noexcept nogil, void *state, uint64_t seed) noexcept
    void dl_dropout_draw(uint8_t *mask, dl_index n, double ratio, double (*next_double)(void *) noexcept nogil, void *state) noexcept
    ctypedef struct dl_mt19937:
        uint32_t key[624]
        int pos
    int dl_mt19937_doubles(double *u, dl_index n, dl_mt19937 *s) noexcept nogil
    int dl_dropout_draw_mt19937(uint8_t *mask, dl_index n, double ratio, dl_mt19937 *s) noexcept nogil
    dl_index dl_engine_classes(const dl_engine *e) noexcept
    dl_index dl_engine_capacity(const dl_engine *e) noexcept
    const uint8_t *dl_engine_mask(const dl_engine *e, int op) noexcept
    dl_index dl_engine_out_size(const dl_engine *e, int op) noexcept
    void dl_engine_free(dl_engine *e) noexcept
    long long dl_engine_alloc_count() noexcept
    dl_status dl_engine_forward_f64(dl_engine *e, double *logits, double *loss, dl_index *bad, const void *x, int x_type, const void *t, int t_type, dl_index N, int mode) noexcept
    dl_status dl_engine_forward_f32(dl_engine *e, float *logits, double *loss, dl_index *bad, const void *x, int x_type, const void *t, int t_type, dl_index N, int mode) noexcept
    dl_status dl_engine_backward_f64(dl_engine *e) noexcept
    dl_status dl_engine_backward_f32(dl_engine *e) noexcept
    dl_status dl_engine_update_f64(dl_engine *e, double a, double b, double c, double d) noexcept
    dl_status dl_engine_update_f32(dl_engine *e, double a, double b, double c, double d) noexcept
    dl_status dl_engine_predict_f64(dl_engine *e, double *logits, const void *x, int x_type, dl_index N) noexcept
    dl_status dl_engine_predict_f32(dl_engine *e, float *logits, const void *x, int x_type, dl_index N) noexcept
