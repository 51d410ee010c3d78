# _k_core.pxi - gemm, activations, softmax/losses, affine (included by _kernels.pyx).
# Arrays come through the buffer protocol (Args, take); the element-wise kernels read any
# C-contiguous shape as its flat sequence of elements.

def gemm(C, A, bint transA, B, bint transB, double alpha=1, double beta=0,
         bint reference=False):
    """C = alpha op(A) @ op(B) + beta C on C-contiguous 2-D arrays (test and benchmark hook);
    alpha and beta are rounded to the arrays' dtype."""
    cdef Args ar
    args_init(&ar)
    cdef int ic, ia, ib
    cdef dl_index M, N, K, lda, ldb
    try:
        ic = take(&ar, C, A_FLOAT | A_WRITE, 2, "gemm C")
        ia = take(&ar, A, A_FLOAT, 2, "gemm A")
        ib = take(&ar, B, A_FLOAT, 2, "gemm B")
        M = dim(&ar, ic, 0)
        N = dim(&ar, ic, 1)
        K = dim(&ar, ia, 0) if transA else dim(&ar, ia, 1)
        same_size(dim(&ar, ia, 1) if transA else dim(&ar, ia, 0), M, "gemm A")
        same_size(dim(&ar, ib, 1) if transB else dim(&ar, ib, 0), K, "gemm B rows")
        same_size(dim(&ar, ib, 0) if transB else dim(&ar, ib, 1), N, "gemm B cols")
        if M == 0 or N == 0:
            return
        lda = dim(&ar, ia, 1)
        ldb = dim(&ar, ib, 1)
        with nogil:
            if ar.t == T_F32:
                if reference:
                    dl_gemm_ref_f32(<float *>ptr(&ar, ic), N, <const float *>ptr(&ar, ia), lda,
                                    transA, <const float *>ptr(&ar, ib), ldb, transB, M, N, K,
                                    <float>alpha, <float>beta)
                else:
                    dl_gemm_f32(<float *>ptr(&ar, ic), N, <const float *>ptr(&ar, ia), lda,
                                transA, <const float *>ptr(&ar, ib), ldb, transB, M, N, K,
                                <float>alpha, <float>beta)
            else:
                if reference:
                    dl_gemm_ref_f64(<double *>ptr(&ar, ic), N, <const double *>ptr(&ar, ia), lda,
                                    transA, <const double *>ptr(&ar, ib), ldb, transB, M, N, K,
                                    alpha, beta)
                else:
                    dl_gemm_f64(<double *>ptr(&ar, ic), N, <const double *>ptr(&ar, ia), lda,
                                transA, <const double *>ptr(&ar, ib), ldb, transB, M, N, K,
                                alpha, beta)
    finally:
        args_release(&ar)


def relu_forward(y, mask, x):
    """y = relu(x); mask = x <= 0 (mask may be None)."""
    cdef Args A
    args_init(&A)
    cdef int iy, im, ix
    cdef dl_index n
    try:
        iy = take(&A, y, A_FLOAT | A_WRITE, 0, "relu_forward y")
        im = take(&A, mask, A_U8 | A_WRITE | A_NONE, 0, "relu_forward mask")
        ix = take(&A, x, A_FLOAT, 0, "relu_forward x")
        n = count(&A, ix)
        same_size(count(&A, iy), n, "relu_forward")
        if im >= 0:
            same_size(count(&A, im), n, "relu_forward mask")
        if n == 0:
            return
        with nogil:
            if A.t == T_F32:
                dl_relu_forward_f32(<float *>ptr(&A, iy), <uint8_t *>ptr(&A, im),
                                    <const float *>ptr(&A, ix), n)
            else:
                dl_relu_forward_f64(<double *>ptr(&A, iy), <uint8_t *>ptr(&A, im),
                                    <const double *>ptr(&A, ix), n)
    finally:
        args_release(&A)


def relu_backward(dx, mask, dout):
    """dx = where(mask, 0, dout); dx may be dout itself."""
    cdef Args A
    args_init(&A)
    cdef int idx, im, ido
    cdef dl_index n
    try:
        idx = take(&A, dx, A_FLOAT | A_WRITE, 0, "relu_backward dx")
        im = take(&A, mask, A_U8, 0, "relu_backward mask")
        ido = take(&A, dout, A_FLOAT, 0, "relu_backward dout")
        n = count(&A, ido)
        same_size(count(&A, idx), n, "relu_backward")
        same_size(count(&A, im), n, "relu_backward mask")
        if n == 0:
            return
        with nogil:
            if A.t == T_F32:
                dl_relu_backward_f32(<float *>ptr(&A, idx), <const uint8_t *>ptr(&A, im),
                                     <const float *>ptr(&A, ido), n)
            else:
                dl_relu_backward_f64(<double *>ptr(&A, idx), <const uint8_t *>ptr(&A, im),
                                     <const double *>ptr(&A, ido), n)
    finally:
        args_release(&A)


cdef enum:
    U_EXP = 1
    U_SIGMOID = 2
    U_SIGMOID_GRAD = 3
    U_RELU_GRAD = 4


cdef int unary(int op, y, x, str what, str yname, str xname) except -1:
    """y = op(x) for the one-input element-wise kernels (op: one of the U_* above)."""
    cdef Args A
    args_init(&A)
    cdef int iy, ix
    cdef dl_index n
    cdef void *py
    cdef const void *px
    try:
        iy = take(&A, y, A_FLOAT | A_WRITE, 0, yname)
        ix = take(&A, x, A_FLOAT, 0, xname)
        n = count(&A, ix)
        same_size(count(&A, iy), n, what)
        if n == 0:
            return 0
        py = ptr(&A, iy)
        px = ptr(&A, ix)
        with nogil:
            if A.t == T_F32:
                if op == U_EXP:
                    dl_exp_f32(<float *>py, <const float *>px, n)
                elif op == U_SIGMOID:
                    dl_sigmoid_forward_f32(<float *>py, <const float *>px, n)
                elif op == U_SIGMOID_GRAD:
                    dl_sigmoid_grad_f32(<float *>py, <const float *>px, n)
                else:
                    dl_relu_grad_f32(<float *>py, <const float *>px, n)
            else:
                if op == U_EXP:
                    dl_exp_f64(<double *>py, <const double *>px, n)
                elif op == U_SIGMOID:
                    dl_sigmoid_forward_f64(<double *>py, <const double *>px, n)
                elif op == U_SIGMOID_GRAD:
                    dl_sigmoid_grad_f64(<double *>py, <const double *>px, n)
                else:
                    dl_relu_grad_f64(<double *>py, <const double *>px, n)
    finally:
        args_release(&A)
    return 0


def relu_grad(y, x):
    unary(U_RELU_GRAD, y, x, "relu_grad", "relu_grad y", "relu_grad x")


def exp(y, x):
    """y = exp(x), dlcore's vectorised exp (< 1 ulp, the same bits on every kernel path)."""
    unary(U_EXP, y, x, "exp", "exp y", "exp x")


def sigmoid_forward(y, x):
    unary(U_SIGMOID, y, x, "sigmoid_forward", "sigmoid_forward y", "sigmoid_forward x")


def sigmoid_grad(y, x):
    unary(U_SIGMOID_GRAD, y, x, "sigmoid_grad", "sigmoid_grad y", "sigmoid_grad x")


def sigmoid_backward(dx, dout, out):
    cdef Args A
    args_init(&A)
    cdef int idx, ido, io
    cdef dl_index n
    try:
        idx = take(&A, dx, A_FLOAT | A_WRITE, 0, "sigmoid_backward dx")
        ido = take(&A, dout, A_FLOAT, 0, "sigmoid_backward dout")
        io = take(&A, out, A_FLOAT, 0, "sigmoid_backward out")
        n = count(&A, ido)
        same_size(count(&A, idx), n, "sigmoid_backward")
        same_size(count(&A, io), n, "sigmoid_backward out")
        if n == 0:
            return
        with nogil:
            if A.t == T_F32:
                dl_sigmoid_backward_f32(<float *>ptr(&A, idx), <const float *>ptr(&A, ido),
                                        <const float *>ptr(&A, io), n)
            else:
                dl_sigmoid_backward_f64(<double *>ptr(&A, idx), <const double *>ptr(&A, ido),
                                        <const double *>ptr(&A, io), n)
    finally:
        args_release(&A)


def softmax_forward(y, x):
    """Row-wise softmax of a 2-D view (the caller folds leading axes into rows)."""
    cdef Args A
    args_init(&A)
    cdef int iy, ix
    cdef dl_index rows, cols
    try:
        iy = take(&A, y, A_FLOAT | A_WRITE, 2, "softmax_forward y")
        ix = take(&A, x, A_FLOAT, 2, "softmax_forward x")
        rows = dim(&A, ix, 0)
        cols = dim(&A, ix, 1)
        same_size(dim(&A, iy, 0), rows, "softmax_forward rows")
        same_size(dim(&A, iy, 1), cols, "softmax_forward cols")
        if rows == 0 or cols == 0:
            return
        with nogil:
            if A.t == T_F32:
                dl_softmax_forward_f32(<float *>ptr(&A, iy), <const float *>ptr(&A, ix),
                                       rows, cols)
            else:
                dl_softmax_forward_f64(<double *>ptr(&A, iy), <const double *>ptr(&A, ix),
                                       rows, cols)
    finally:
        args_release(&A)


def cross_entropy_forward(y, t, str what):
    """-mean(log(y[i, t_i] + 1e-7)) as a Python float; IndexError names a bad label."""
    cdef Args A
    args_init(&A)
    cdef int iy, it
    cdef dl_index N, C, bad = -1
    cdef dl_status s
    cdef float l32 = 0
    cdef double l64 = 0
    try:
        iy = take(&A, y, A_FLOAT, 2, "cross_entropy_forward y")
        it = take(&A, t, A_I64, 1, "cross_entropy_forward t")
        N = dim(&A, iy, 0)
        C = dim(&A, iy, 1)
        same_size(dim(&A, it, 0), N, what)
        with nogil:
            if A.t == T_F32:
                s = dl_cross_entropy_forward_f32(&l32, &bad, <const float *>ptr(&A, iy),
                                                 <const int64_t *>ptr(&A, it), N, C)
            else:
                s = dl_cross_entropy_forward_f64(&l64, &bad, <const double *>ptr(&A, iy),
                                                 <const int64_t *>ptr(&A, it), N, C)
        check_status(s, bad, what, <const int64_t *>ptr(&A, it), C)
        return l32 if A.t == T_F32 else l64
    finally:
        args_release(&A)


def softmax_xent_forward(y, x, t, str what):
    """y = softmax(x); returns the cross-entropy loss against labels t."""
    cdef Args A
    args_init(&A)
    cdef int iy, ix, it
    cdef dl_index N, C, bad = -1
    cdef dl_status s
    cdef float l32 = 0
    cdef double l64 = 0
    try:
        iy = take(&A, y, A_FLOAT | A_WRITE, 2, "softmax_xent_forward y")
        ix = take(&A, x, A_FLOAT, 2, "softmax_xent_forward x")
        it = take(&A, t, A_I64, 1, "softmax_xent_forward t")
        N = dim(&A, ix, 0)
        C = dim(&A, ix, 1)
        same_size(dim(&A, it, 0), N, what)
        same_size(dim(&A, iy, 0), N, what)
        same_size(dim(&A, iy, 1), C, what)
        with nogil:
            if A.t == T_F32:
                s = dl_softmax_xent_forward_f32(<float *>ptr(&A, iy), &l32, &bad,
                                                <const float *>ptr(&A, ix),
                                                <const int64_t *>ptr(&A, it), N, C)
            else:
                s = dl_softmax_xent_forward_f64(<double *>ptr(&A, iy), &l64, &bad,
                                                <const double *>ptr(&A, ix),
                                                <const int64_t *>ptr(&A, it), N, C)
        check_status(s, bad, what, <const int64_t *>ptr(&A, it), C)
        return l32 if A.t == T_F32 else l64
    finally:
        args_release(&A)


def softmax_xent_backward(dx, y, t, str what):
    cdef Args A
    args_init(&A)
    cdef int idx, iy, it
    cdef dl_index N, C, bad = -1
    cdef dl_status s
    try:
        idx = take(&A, dx, A_FLOAT | A_WRITE, 2, "softmax_xent_backward dx")
        iy = take(&A, y, A_FLOAT, 2, "softmax_xent_backward y")
        it = take(&A, t, A_I64, 1, "softmax_xent_backward t")
        N = dim(&A, iy, 0)
        C = dim(&A, iy, 1)
        same_size(dim(&A, it, 0), N, what)
        same_size(dim(&A, idx, 0), N, what)
        same_size(dim(&A, idx, 1), C, what)
        with nogil:
            if A.t == T_F32:
                s = dl_softmax_xent_backward_f32(<float *>ptr(&A, idx), &bad,
                                                 <const float *>ptr(&A, iy),
                                                 <const int64_t *>ptr(&A, it), N, C)
            else:
                s = dl_softmax_xent_backward_f64(<double *>ptr(&A, idx), &bad,
                                                 <const double *>ptr(&A, iy),
                                                 <const int64_t *>ptr(&A, it), N, C)
        check_status(s, bad, what, <const int64_t *>ptr(&A, it), C)
    finally:
        args_release(&A)


def softmax_xent_backward_dense(dx, y, t):
    cdef Args A
    args_init(&A)
    cdef int idx, iy, it
    cdef dl_index N, C
    try:
        idx = take(&A, dx, A_FLOAT | A_WRITE, 2, "softmax_xent_backward_dense dx")
        iy = take(&A, y, A_FLOAT, 2, "softmax_xent_backward_dense y")
        it = take(&A, t, A_FLOAT, 2, "softmax_xent_backward_dense t")
        N = dim(&A, iy, 0)
        C = dim(&A, iy, 1)
        same_size(dim(&A, it, 0), N, "softmax_xent_backward_dense")
        same_size(dim(&A, it, 1), C, "softmax_xent_backward_dense")
        same_size(dim(&A, idx, 0), N, "softmax_xent_backward_dense")
        same_size(dim(&A, idx, 1), C, "softmax_xent_backward_dense")
        if N == 0 or C == 0:
            return
        with nogil:
            if A.t == T_F32:
                dl_softmax_xent_backward_dense_f32(<float *>ptr(&A, idx),
                                                   <const float *>ptr(&A, iy),
                                                   <const float *>ptr(&A, it), N, C)
            else:
                dl_softmax_xent_backward_dense_f64(<double *>ptr(&A, idx),
                                                   <const double *>ptr(&A, iy),
                                                   <const double *>ptr(&A, it), N, C)
    finally:
        args_release(&A)


def affine_forward(out, x, W, b):
    """out = x @ W + b."""
    cdef Args A
    args_init(&A)
    cdef int io, ix, iw, ib
    cdef dl_index N, D, M
    try:
        io = take(&A, out, A_FLOAT | A_WRITE, 2, "affine_forward out")
        ix = take(&A, x, A_FLOAT, 2, "affine_forward x")
        iw = take(&A, W, A_FLOAT, 2, "affine_forward W")
        ib = take(&A, b, A_FLOAT, 1, "affine_forward b")
        N = dim(&A, ix, 0)
        D = dim(&A, ix, 1)
        M = dim(&A, iw, 1)
        same_size(dim(&A, iw, 0), D, "affine_forward W")
        same_size(dim(&A, ib, 0), M, "affine_forward b")
        same_size(dim(&A, io, 0), N, "affine_forward out")
        same_size(dim(&A, io, 1), M, "affine_forward out")
        if N == 0 or M == 0:
            return
        with nogil:
            if A.t == T_F32:
                dl_affine_forward_f32(<float *>ptr(&A, io), <const float *>ptr(&A, ix),
                                      <const float *>ptr(&A, iw), <const float *>ptr(&A, ib),
                                      N, D, M)
            else:
                dl_affine_forward_f64(<double *>ptr(&A, io), <const double *>ptr(&A, ix),
                                      <const double *>ptr(&A, iw), <const double *>ptr(&A, ib),
                                      N, D, M)
    finally:
        args_release(&A)


def affine_backward(dW, db, dout, x, W, dx=None):
    """dx = dout @ W.T, dW = x.T @ dout, db = dout.sum(0); dx None skips it."""
    cdef Args A
    args_init(&A)
    cdef int idw, idb, ido, ix, iw, idx
    cdef dl_index N, D, M
    try:
        idw = take(&A, dW, A_FLOAT | A_WRITE, 2, "affine_backward dW")
        idb = take(&A, db, A_FLOAT | A_WRITE, 1, "affine_backward db")
        ido = take(&A, dout, A_FLOAT, 2, "affine_backward dout")
        ix = take(&A, x, A_FLOAT, 2, "affine_backward x")
        iw = take(&A, W, A_FLOAT, 2, "affine_backward W")
        idx = take(&A, dx, A_FLOAT | A_WRITE | A_NONE, 2, "affine_backward dx")
        N = dim(&A, ix, 0)
        D = dim(&A, ix, 1)
        M = dim(&A, iw, 1)
        same_size(dim(&A, iw, 0), D, "affine_backward W")
        same_size(dim(&A, ido, 0), N, "affine_backward dout")
        same_size(dim(&A, ido, 1), M, "affine_backward dout")
        same_size(dim(&A, idw, 0), D, "affine_backward dW")
        same_size(dim(&A, idw, 1), M, "affine_backward dW")
        same_size(dim(&A, idb, 0), M, "affine_backward db")
        if idx >= 0:
            same_size(dim(&A, idx, 0), N, "affine_backward dx")
            same_size(dim(&A, idx, 1), D, "affine_backward dx")
        with nogil:
            if A.t == T_F32:
                dl_affine_backward_f32(<float *>ptr(&A, idx), <float *>ptr(&A, idw),
                                       <float *>ptr(&A, idb), <const float *>ptr(&A, ido),
                                       <const float *>ptr(&A, ix), <const float *>ptr(&A, iw),
                                       N, D, M)
            else:
                dl_affine_backward_f64(<double *>ptr(&A, idx), <double *>ptr(&A, idw),
                                       <double *>ptr(&A, idb), <const double *>ptr(&A, ido),
                                       <const double *>ptr(&A, ix),
                                       <const double *>ptr(&A, iw), N, D, M)
    finally:
        args_release(&A)
