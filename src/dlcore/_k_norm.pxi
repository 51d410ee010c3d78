# _k_norm.pxi - batch normalization (included by _kernels.pyx).
# x, dout and the caches are C-contiguous (N, D) arrays, gamma, beta and the statistics (D,)
# vectors, all of one dtype; outputs are allocated by the caller (layers.BatchNormalization).
# The per-step wrappers take their arrays through the buffer protocol (Args, _kernels.pyx):
# a (100, 10) training forward's call took 7.3 us with typed memoryviews, 3.6 us this way
# (timeit, float64).

def batchnorm_forward_train(out, xc, xn, std, mean, var, x, gamma, beta, double eps):
    """Training forward: batch statistics, the normalised xn and out = gamma * xn + beta."""
    cdef Args A
    args_init(&A)
    cdef int io, ic, iN, isd, im, iv, ix, ig, ib
    cdef dl_index N, D
    try:
        io = take(&A, out, A_FLOAT | A_WRITE, 2, "batchnorm_forward_train out")
        ic = take(&A, xc, A_FLOAT | A_WRITE, 2, "batchnorm_forward_train xc")
        iN = take(&A, xn, A_FLOAT | A_WRITE, 2, "batchnorm_forward_train xn")
        isd = take(&A, std, A_FLOAT | A_WRITE, 1, "batchnorm_forward_train std")
        im = take(&A, mean, A_FLOAT | A_WRITE, 1, "batchnorm_forward_train mean")
        iv = take(&A, var, A_FLOAT | A_WRITE, 1, "batchnorm_forward_train var")
        ix = take(&A, x, A_FLOAT, 2, "batchnorm_forward_train x")
        ig = take(&A, gamma, A_FLOAT, 1, "batchnorm_forward_train gamma")
        ib = take(&A, beta, A_FLOAT, 1, "batchnorm_forward_train beta")
        N = dim(&A, ix, 0)
        D = dim(&A, ix, 1)
        for i, name in ((io, "out"), (ic, "xc"), (iN, "xn")):
            same_size(dim(&A, i, 0), N, f"batchnorm_forward_train {name}")
            same_size(dim(&A, i, 1), D, f"batchnorm_forward_train {name}")
        for i, name in ((isd, "std"), (im, "mean"), (iv, "var"), (ig, "gamma"), (ib, "beta")):
            same_size(dim(&A, i, 0), D, f"batchnorm_forward_train {name}")
        if N == 0 or D == 0:
            return
        with nogil:
            if A.t == T_F32:
                dl_batchnorm_forward_train_f32(
                    <float *>ptr(&A, io), <float *>ptr(&A, ic), <float *>ptr(&A, iN),
                    <float *>ptr(&A, isd), <float *>ptr(&A, im), <float *>ptr(&A, iv),
                    <const float *>ptr(&A, ix), <const float *>ptr(&A, ig),
                    <const float *>ptr(&A, ib), N, D, eps)
            else:
                dl_batchnorm_forward_train_f64(
                    <double *>ptr(&A, io), <double *>ptr(&A, ic), <double *>ptr(&A, iN),
                    <double *>ptr(&A, isd), <double *>ptr(&A, im), <double *>ptr(&A, iv),
                    <const double *>ptr(&A, ix), <const double *>ptr(&A, ig),
                    <const double *>ptr(&A, ib), N, D, eps)
    finally:
        args_release(&A)


def batchnorm_forward_test(out, x, gamma, beta, running_mean, running_var, double eps):
    """Test forward with the running statistics."""
    cdef Args A
    args_init(&A)
    cdef int io, ix, ig, ib, im, iv
    cdef dl_index N, D
    try:
        io = take(&A, out, A_FLOAT | A_WRITE, 2, "batchnorm_forward_test out")
        ix = take(&A, x, A_FLOAT, 2, "batchnorm_forward_test x")
        ig = take(&A, gamma, A_FLOAT, 1, "batchnorm_forward_test gamma")
        ib = take(&A, beta, A_FLOAT, 1, "batchnorm_forward_test beta")
        im = take(&A, running_mean, A_FLOAT, 1, "batchnorm_forward_test running_mean")
        iv = take(&A, running_var, A_FLOAT, 1, "batchnorm_forward_test running_var")
        N = dim(&A, ix, 0)
        D = dim(&A, ix, 1)
        same_size(dim(&A, io, 0), N, "batchnorm_forward_test out")
        same_size(dim(&A, io, 1), D, "batchnorm_forward_test out")
        for i, name in ((ig, "gamma"), (ib, "beta"), (im, "running_mean"),
                        (iv, "running_var")):
            same_size(dim(&A, i, 0), D, f"batchnorm_forward_test {name}")
        if N == 0 or D == 0:
            return
        with nogil:
            if A.t == T_F32:
                dl_batchnorm_forward_test_f32(
                    <float *>ptr(&A, io), <const float *>ptr(&A, ix), <const float *>ptr(&A, ig),
                    <const float *>ptr(&A, ib), <const float *>ptr(&A, im),
                    <const float *>ptr(&A, iv), N, D, eps)
            else:
                dl_batchnorm_forward_test_f64(
                    <double *>ptr(&A, io), <const double *>ptr(&A, ix),
                    <const double *>ptr(&A, ig), <const double *>ptr(&A, ib),
                    <const double *>ptr(&A, im), <const double *>ptr(&A, iv), N, D, eps)
    finally:
        args_release(&A)


def batchnorm_backward(dx, dgamma, dbeta, dout, xn, xc, std, gamma):
    """Backward from the training forward's caches xn, xc, std."""
    cdef Args A
    args_init(&A)
    cdef int idx, idg, idb, ido, iN, ic, isd, ig
    cdef dl_index N, D
    try:
        idx = take(&A, dx, A_FLOAT | A_WRITE, 2, "batchnorm_backward dx")
        idg = take(&A, dgamma, A_FLOAT | A_WRITE, 1, "batchnorm_backward dgamma")
        idb = take(&A, dbeta, A_FLOAT | A_WRITE, 1, "batchnorm_backward dbeta")
        ido = take(&A, dout, A_FLOAT, 2, "batchnorm_backward dout")
        iN = take(&A, xn, A_FLOAT, 2, "batchnorm_backward xn")
        ic = take(&A, xc, A_FLOAT, 2, "batchnorm_backward xc")
        isd = take(&A, std, A_FLOAT, 1, "batchnorm_backward std")
        ig = take(&A, gamma, A_FLOAT, 1, "batchnorm_backward gamma")
        N = dim(&A, ido, 0)
        D = dim(&A, ido, 1)
        for i, name in ((idx, "dx"), (iN, "xn"), (ic, "xc")):
            same_size(dim(&A, i, 0), N, f"batchnorm_backward {name}")
            same_size(dim(&A, i, 1), D, f"batchnorm_backward {name}")
        for i, name in ((idg, "dgamma"), (idb, "dbeta"), (isd, "std"), (ig, "gamma")):
            same_size(dim(&A, i, 0), D, f"batchnorm_backward {name}")
        if D == 0:
            return
        # (N == 0: the kernel gets NULL rows and writes dgamma = dbeta = 0)
        with nogil:
            if A.t == T_F32:
                dl_batchnorm_backward_f32(
                    <float *>ptr(&A, idx) if N > 0 else NULL, <float *>ptr(&A, idg),
                    <float *>ptr(&A, idb), <const float *>ptr(&A, ido) if N > 0 else NULL,
                    <const float *>ptr(&A, iN) if N > 0 else NULL,
                    <const float *>ptr(&A, ic) if N > 0 else NULL,
                    <const float *>ptr(&A, isd), <const float *>ptr(&A, ig), N, D)
            else:
                dl_batchnorm_backward_f64(
                    <double *>ptr(&A, idx) if N > 0 else NULL, <double *>ptr(&A, idg),
                    <double *>ptr(&A, idb), <const double *>ptr(&A, ido) if N > 0 else NULL,
                    <const double *>ptr(&A, iN) if N > 0 else NULL,
                    <const double *>ptr(&A, ic) if N > 0 else NULL,
                    <const double *>ptr(&A, isd), <const double *>ptr(&A, ig), N, D)
    finally:
        args_release(&A)


def batchnorm_running_update(rm_out, rv_out, rm, rv, mean, var, double momentum):
    """rm_out = momentum * rm + (1 - momentum) * mean, rv_out likewise with var."""
    cdef Args A
    args_init(&A)
    cdef int i0, i1, i2, i3, i4, i5
    cdef dl_index D
    try:
        i0 = take(&A, rm_out, A_FLOAT | A_WRITE, 1, "batchnorm_running_update rm_out")
        i1 = take(&A, rv_out, A_FLOAT | A_WRITE, 1, "batchnorm_running_update rv_out")
        i2 = take(&A, rm, A_FLOAT, 1, "batchnorm_running_update rm")
        i3 = take(&A, rv, A_FLOAT, 1, "batchnorm_running_update rv")
        i4 = take(&A, mean, A_FLOAT, 1, "batchnorm_running_update mean")
        i5 = take(&A, var, A_FLOAT, 1, "batchnorm_running_update var")
        D = dim(&A, i2, 0)
        for i, name in ((i0, "rm_out"), (i1, "rv_out"), (i3, "rv"), (i4, "mean"),
                        (i5, "var")):
            same_size(dim(&A, i, 0), D, f"batchnorm_running_update {name}")
        if D == 0:
            return
        with nogil:
            if A.t == T_F32:
                dl_batchnorm_running_update_f32(
                    <float *>ptr(&A, i0), <float *>ptr(&A, i1), <const float *>ptr(&A, i2),
                    <const float *>ptr(&A, i3), <const float *>ptr(&A, i4),
                    <const float *>ptr(&A, i5), D, momentum)
            else:
                dl_batchnorm_running_update_f64(
                    <double *>ptr(&A, i0), <double *>ptr(&A, i1), <const double *>ptr(&A, i2),
                    <const double *>ptr(&A, i3), <const double *>ptr(&A, i4),
                    <const double *>ptr(&A, i5), D, momentum)
    finally:
        args_release(&A)


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
