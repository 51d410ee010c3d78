# _k_core.pxi - gemm, activations, softmax/losses, affine (included by _kernels.pyx).

def gemm(floating[:, ::1] C, const floating[:, ::1] A, bint transA, const floating[:, ::1] B,
         bint transB, floating alpha=1, floating beta=0, bint reference=False):
    """C = alpha op(A) @ op(B) + beta C on C-contiguous 2-D arrays (test and benchmark hook)."""
    cdef dl_index M = C.shape[0], N = C.shape[1]
    cdef dl_index K = A.shape[0] if transA else A.shape[1]
    same_size(A.shape[1] if transA else A.shape[0], M, "gemm A")
    same_size(B.shape[1] if transB else B.shape[0], K, "gemm B rows")
    same_size(B.shape[0] if transB else B.shape[1], N, "gemm B cols")
    if M == 0 or N == 0:
        return
    cdef const floating *pa = &A[0, 0] if A.shape[0] * A.shape[1] > 0 else NULL
    cdef const floating *pb = &B[0, 0] if B.shape[0] * B.shape[1] > 0 else NULL
    cdef dl_index lda = A.shape[1], ldb = B.shape[1]
    with nogil:
        if floating is float:
            if reference:
                dl_gemm_ref_f32(&C[0, 0], N, pa, lda, transA, pb, ldb, transB, M, N, K, alpha, beta)
            else:
                dl_gemm_f32(&C[0, 0], N, pa, lda, transA, pb, ldb, transB, M, N, K, alpha, beta)
        else:
            if reference:
                dl_gemm_ref_f64(&C[0, 0], N, pa, lda, transA, pb, ldb, transB, M, N, K, alpha, beta)
            else:
                dl_gemm_f64(&C[0, 0], N, pa, lda, transA, pb, ldb, transB, M, N, K, alpha, beta)


def relu_forward(floating[::1] y, uint8_t[::1] mask, const floating[::1] x):
    """y = relu(x); mask = x <= 0 (mask may be None)."""
    cdef dl_index n = x.shape[0]
    same_size(y.shape[0], n, "relu_forward")
    cdef uint8_t *pm = NULL
    if mask is not None:
        same_size(mask.shape[0], n, "relu_forward mask")
        if n:
            pm = &mask[0]
    if n == 0:
        return
    with nogil:
        if floating is float:
            dl_relu_forward_f32(&y[0], pm, &x[0], n)
        else:
            dl_relu_forward_f64(&y[0], pm, &x[0], n)


def relu_backward(floating[::1] dx, const uint8_t[::1] mask, const floating[::1] dout):
    """dx = where(mask, 0, dout); dx may be dout itself."""
    cdef dl_index n = dout.shape[0]
    same_size(dx.shape[0], n, "relu_backward")
    same_size(mask.shape[0], n, "relu_backward mask")
    if n == 0:
        return
    with nogil:
        if floating is float:
            dl_relu_backward_f32(&dx[0], &mask[0], &dout[0], n)
        else:
            dl_relu_backward_f64(&dx[0], &mask[0], &dout[0], n)


def relu_grad(floating[::1] y, const floating[::1] x):
    cdef dl_index n = x.shape[0]
    same_size(y.shape[0], n, "relu_grad")
    if n == 0:
        return
    with nogil:
        if floating is float:
            dl_relu_grad_f32(&y[0], &x[0], n)
        else:
            dl_relu_grad_f64(&y[0], &x[0], n)


def exp(floating[::1] y, const floating[::1] x):
    """y = exp(x), dlcore's vectorised exp (< 1 ulp, the same bits on every kernel path)."""
    cdef dl_index n = x.shape[0]
    same_size(y.shape[0], n, "exp")
    if n == 0:
        return
    with nogil:
        if floating is float:
            dl_exp_f32(&y[0], &x[0], n)
        else:
            dl_exp_f64(&y[0], &x[0], n)


def sigmoid_forward(floating[::1] y, const floating[::1] x):
    cdef dl_index n = x.shape[0]
    same_size(y.shape[0], n, "sigmoid_forward")
    if n == 0:
        return
    with nogil:
        if floating is float:
            dl_sigmoid_forward_f32(&y[0], &x[0], n)
        else:
            dl_sigmoid_forward_f64(&y[0], &x[0], n)


def sigmoid_backward(floating[::1] dx, const floating[::1] dout, const floating[::1] out):
    cdef dl_index n = dout.shape[0]
    same_size(dx.shape[0], n, "sigmoid_backward")
    same_size(out.shape[0], n, "sigmoid_backward out")
    if n == 0:
        return
    with nogil:
        if floating is float:
            dl_sigmoid_backward_f32(&dx[0], &dout[0], &out[0], n)
        else:
            dl_sigmoid_backward_f64(&dx[0], &dout[0], &out[0], n)


def sigmoid_grad(floating[::1] y, const floating[::1] x):
    cdef dl_index n = x.shape[0]
    same_size(y.shape[0], n, "sigmoid_grad")
    if n == 0:
        return
    with nogil:
        if floating is float:
            dl_sigmoid_grad_f32(&y[0], &x[0], n)
        else:
            dl_sigmoid_grad_f64(&y[0], &x[0], n)


def softmax_forward(floating[:, ::1] y, const floating[:, ::1] x):
    """Row-wise softmax of a 2-D view (the caller folds leading axes into rows)."""
    cdef dl_index rows = x.shape[0], cols = x.shape[1]
    same_size(y.shape[0], rows, "softmax_forward rows")
    same_size(y.shape[1], cols, "softmax_forward cols")
    if rows == 0 or cols == 0:
        return
    with nogil:
        if floating is float:
            dl_softmax_forward_f32(&y[0, 0], &x[0, 0], rows, cols)
        else:
            dl_softmax_forward_f64(&y[0, 0], &x[0, 0], rows, cols)


def cross_entropy_forward(const floating[:, ::1] y, const int64_t[::1] t, str what):
    """-mean(log(y[i, t_i] + 1e-7)) as a Python float; IndexError names a bad label."""
    cdef dl_index N = y.shape[0], C = y.shape[1], bad = -1
    same_size(t.shape[0], N, what)
    cdef dl_status s
    cdef float l32 = 0
    cdef double l64 = 0
    with nogil:
        if floating is float:
            s = dl_cross_entropy_forward_f32(&l32, &bad, &y[0, 0], &t[0], N, C)
        else:
            s = dl_cross_entropy_forward_f64(&l64, &bad, &y[0, 0], &t[0], N, C)
    check_status(s, bad, what, t, C)
    return l32 if floating is float else l64


def softmax_xent_forward(floating[:, ::1] y, const floating[:, ::1] x, const int64_t[::1] t,
                         str what):
    """y = softmax(x); returns the cross-entropy loss against labels t."""
    cdef dl_index N = x.shape[0], C = x.shape[1], bad = -1
    same_size(t.shape[0], N, what)
    same_size(y.shape[0], N, what)
    same_size(y.shape[1], C, what)
    cdef dl_status s
    cdef float l32 = 0
    cdef double l64 = 0
    with nogil:
        if floating is float:
            s = dl_softmax_xent_forward_f32(&y[0, 0], &l32, &bad, &x[0, 0], &t[0], N, C)
        else:
            s = dl_softmax_xent_forward_f64(&y[0, 0], &l64, &bad, &x[0, 0], &t[0], N, C)
    check_status(s, bad, what, t, C)
    return l32 if floating is float else l64


def softmax_xent_backward(floating[:, ::1] dx, const floating[:, ::1] y, const int64_t[::1] t,
                          str what):
    cdef dl_index N = y.shape[0], C = y.shape[1], bad = -1
    same_size(t.shape[0], N, what)
    same_size(dx.shape[0], N, what)
    same_size(dx.shape[1], C, what)
    cdef dl_status s
    with nogil:
        if floating is float:
            s = dl_softmax_xent_backward_f32(&dx[0, 0], &bad, &y[0, 0], &t[0], N, C)
        else:
            s = dl_softmax_xent_backward_f64(&dx[0, 0], &bad, &y[0, 0], &t[0], N, C)
    check_status(s, bad, what, t, C)


def softmax_xent_backward_dense(floating[:, ::1] dx, const floating[:, ::1] y,
                                const floating[:, ::1] t):
    cdef dl_index N = y.shape[0], C = y.shape[1]
    same_size(t.shape[0], N, "softmax_xent_backward_dense")
    same_size(t.shape[1], C, "softmax_xent_backward_dense")
    same_size(dx.shape[0], N, "softmax_xent_backward_dense")
    same_size(dx.shape[1], C, "softmax_xent_backward_dense")
    if N == 0 or C == 0:
        return
    with nogil:
        if floating is float:
            dl_softmax_xent_backward_dense_f32(&dx[0, 0], &y[0, 0], &t[0, 0], N, C)
        else:
            dl_softmax_xent_backward_dense_f64(&dx[0, 0], &y[0, 0], &t[0, 0], N, C)


def affine_forward(floating[:, ::1] out, const floating[:, ::1] x, const floating[:, ::1] W,
                   const floating[::1] b):
    """out = x @ W + b."""
    cdef dl_index N = x.shape[0], D = x.shape[1], M = W.shape[1]
    same_size(W.shape[0], D, "affine_forward W")
    same_size(b.shape[0], M, "affine_forward b")
    same_size(out.shape[0], N, "affine_forward out")
    same_size(out.shape[1], M, "affine_forward out")
    if N == 0 or M == 0:
        return
    cdef const floating *px = &x[0, 0] if D > 0 else NULL
    cdef const floating *pw = &W[0, 0] if D > 0 else NULL
    with nogil:
        if floating is float:
            dl_affine_forward_f32(&out[0, 0], px, pw, &b[0], N, D, M)
        else:
            dl_affine_forward_f64(&out[0, 0], px, pw, &b[0], N, D, M)


def affine_backward(floating[:, ::1] dW, floating[::1] db, const floating[:, ::1] dout,
                    const floating[:, ::1] x, const floating[:, ::1] W,
                    floating[:, ::1] dx=None):
    """dx = dout @ W.T, dW = x.T @ dout, db = dout.sum(0); dx None skips it (fused-type
    dispatch reads the dtype from the first argument, so the optional one comes last)."""
    cdef dl_index N = x.shape[0], D = x.shape[1], M = W.shape[1]
    same_size(W.shape[0], D, "affine_backward W")
    same_size(dout.shape[0], N, "affine_backward dout")
    same_size(dout.shape[1], M, "affine_backward dout")
    same_size(dW.shape[0], D, "affine_backward dW")
    same_size(dW.shape[1], M, "affine_backward dW")
    same_size(db.shape[0], M, "affine_backward db")
    cdef floating *pdx = NULL
    if dx is not None:
        same_size(dx.shape[0], N, "affine_backward dx")
        same_size(dx.shape[1], D, "affine_backward dx")
        if N * D > 0:
            pdx = &dx[0, 0]
    cdef floating *pdW = &dW[0, 0] if D * M > 0 else NULL
    cdef floating *pdb = &db[0] if M > 0 else NULL
    cdef const floating *pdout = &dout[0, 0] if N * M > 0 else NULL
    cdef const floating *px = &x[0, 0] if N * D > 0 else NULL
    cdef const floating *pw = &W[0, 0] if D * M > 0 else NULL
    with nogil:
        if floating is float:
            dl_affine_backward_f32(pdx, pdW, pdb, pdout, px, pw, N, D, M)
        else:
            dl_affine_backward_f64(pdx, pdW, pdb, pdout, px, pw, N, D, M)
