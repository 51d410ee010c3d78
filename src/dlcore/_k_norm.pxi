# _k_norm.pxi - batch normalization (included by _kernels.pyx).
# x, dout and the caches are C-contiguous (N, D) arrays, gamma, beta and the statistics (D,)
# vectors, all of one dtype; outputs are allocated by the caller (layers.BatchNormalization).

def batchnorm_forward_train(floating[:, ::1] out, floating[:, ::1] xc, floating[:, ::1] xn,
                            floating[::1] std, floating[::1] mean, floating[::1] var,
                            const floating[:, ::1] x, const floating[::1] gamma,
                            const floating[::1] beta, double eps):
    """Training forward: batch statistics, the normalised xn and out = gamma * xn + beta."""
    cdef dl_index N = x.shape[0], D = x.shape[1]
    same_size(out.shape[0], N, "batchnorm_forward_train out")
    same_size(out.shape[1], D, "batchnorm_forward_train out")
    same_size(xc.shape[0], N, "batchnorm_forward_train xc")
    same_size(xc.shape[1], D, "batchnorm_forward_train xc")
    same_size(xn.shape[0], N, "batchnorm_forward_train xn")
    same_size(xn.shape[1], D, "batchnorm_forward_train xn")
    same_size(std.shape[0], D, "batchnorm_forward_train std")
    same_size(mean.shape[0], D, "batchnorm_forward_train mean")
    same_size(var.shape[0], D, "batchnorm_forward_train var")
    same_size(gamma.shape[0], D, "batchnorm_forward_train gamma")
    same_size(beta.shape[0], D, "batchnorm_forward_train beta")
    if N == 0 or D == 0:
        return
    with nogil:
        if floating is float:
            dl_batchnorm_forward_train_f32(&out[0, 0], &xc[0, 0], &xn[0, 0], &std[0], &mean[0],
                                           &var[0], &x[0, 0], &gamma[0], &beta[0], N, D, eps)
        else:
            dl_batchnorm_forward_train_f64(&out[0, 0], &xc[0, 0], &xn[0, 0], &std[0], &mean[0],
                                           &var[0], &x[0, 0], &gamma[0], &beta[0], N, D, eps)


def batchnorm_forward_test(floating[:, ::1] out, const floating[:, ::1] x,
                           const floating[::1] gamma, const floating[::1] beta,
                           const floating[::1] running_mean, const floating[::1] running_var,
                           double eps):
    """Test forward with the running statistics."""
    cdef dl_index N = x.shape[0], D = x.shape[1]
    same_size(out.shape[0], N, "batchnorm_forward_test out")
    same_size(out.shape[1], D, "batchnorm_forward_test out")
    same_size(gamma.shape[0], D, "batchnorm_forward_test gamma")
    same_size(beta.shape[0], D, "batchnorm_forward_test beta")
    same_size(running_mean.shape[0], D, "batchnorm_forward_test running_mean")
    same_size(running_var.shape[0], D, "batchnorm_forward_test running_var")
    if N == 0 or D == 0:
        return
    with nogil:
        if floating is float:
            dl_batchnorm_forward_test_f32(&out[0, 0], &x[0, 0], &gamma[0], &beta[0],
                                          &running_mean[0], &running_var[0], N, D, eps)
        else:
            dl_batchnorm_forward_test_f64(&out[0, 0], &x[0, 0], &gamma[0], &beta[0],
                                          &running_mean[0], &running_var[0], N, D, eps)


def batchnorm_backward(floating[:, ::1] dx, floating[::1] dgamma, floating[::1] dbeta,
                       const floating[:, ::1] dout, const floating[:, ::1] xn,
                       const floating[:, ::1] xc, const floating[::1] std,
                       const floating[::1] gamma):
    """Backward from the training forward's caches xn, xc, std."""
    cdef dl_index N = dout.shape[0], D = dout.shape[1]
    same_size(dx.shape[0], N, "batchnorm_backward dx")
    same_size(dx.shape[1], D, "batchnorm_backward dx")
    same_size(xn.shape[0], N, "batchnorm_backward xn")
    same_size(xn.shape[1], D, "batchnorm_backward xn")
    same_size(xc.shape[0], N, "batchnorm_backward xc")
    same_size(xc.shape[1], D, "batchnorm_backward xc")
    same_size(dgamma.shape[0], D, "batchnorm_backward dgamma")
    same_size(dbeta.shape[0], D, "batchnorm_backward dbeta")
    same_size(std.shape[0], D, "batchnorm_backward std")
    same_size(gamma.shape[0], D, "batchnorm_backward gamma")
    if D == 0:
        return
    cdef floating *pdx = &dx[0, 0] if N > 0 else NULL
    cdef const floating *pdout = &dout[0, 0] if N > 0 else NULL
    cdef const floating *pxn = &xn[0, 0] if N > 0 else NULL
    cdef const floating *pxc = &xc[0, 0] if N > 0 else NULL
    with nogil:
        if floating is float:
            dl_batchnorm_backward_f32(pdx, &dgamma[0], &dbeta[0], pdout, pxn, pxc, &std[0],
                                      &gamma[0], N, D)
        else:
            dl_batchnorm_backward_f64(pdx, &dgamma[0], &dbeta[0], pdout, pxn, pxc, &std[0],
                                      &gamma[0], N, D)


def batchnorm_running_update(floating[::1] rm_out, floating[::1] rv_out,
                             const floating[::1] rm, const floating[::1] rv,
                             const floating[::1] mean, const floating[::1] var,
                             double momentum):
    """rm_out = momentum * rm + (1 - momentum) * mean, rv_out likewise with var."""
    cdef dl_index D = rm.shape[0]
    for a, name in ((rm_out, "rm_out"), (rv_out, "rv_out"), (rv, "rv"), (mean, "mean"),
                    (var, "var")):
        same_size(a.shape[0], D, f"batchnorm_running_update {name}")
    if D == 0:
        return
    with nogil:
        if floating is float:
            dl_batchnorm_running_update_f32(&rm_out[0], &rv_out[0], &rm[0], &rv[0], &mean[0],
                                            &var[0], D, momentum)
        else:
            dl_batchnorm_running_update_f64(&rm_out[0], &rv_out[0], &rm[0], &rv[0], &mean[0],
                                            &var[0], D, momentum)


def sumsq(const floating[::1] x):
    """sum(x**2) summed in double in index order and rounded to x's dtype (returned as a
    Python float, exact)."""
    cdef float r32 = 0
    cdef double r64 = 0
    cdef dl_index n = x.shape[0]
    if floating is float:
        if n > 0:
            with nogil:
                dl_sumsq_f32(&r32, &x[0], n)
        return r32
    else:
        if n > 0:
            with nogil:
                dl_sumsq_f64(&r64, &x[0], n)
        return r64
