# _k_optim.pxi - optimizer updates and dropout masks (included by _kernels.pyx).
# Parameters and states are C-contiguous arrays of the caller's, updated in place and read as
# flat sequences of elements; they come through the buffer protocol (Args, take).

cdef enum:
    O_SGD = 1
    O_MOMENTUM = 2
    O_NESTEROV = 3
    O_ADAGRAD = 4
    O_RMSPROP = 5
    O_ADAM = 6


cdef int update(int op, p, s1, s2, g, double a, double b, double c, double d,
                str pname, str s1name, str s2name, str gname) except -1:
    """p (and the states s1, s2 where op has them) updated in place from g; a-d are op's
    scalars in its kernel's order."""
    cdef Args A
    args_init(&A)
    cdef int ip, i1 = -1, i2 = -1, ig
    cdef dl_index n
    cdef void *pp
    cdef void *p1
    cdef void *p2
    cdef const void *pg
    try:
        ip = take(&A, p, A_FLOAT | A_WRITE, 0, pname)
        if op != O_SGD:
            i1 = take(&A, s1, A_FLOAT | A_WRITE, 0, s1name)
        if op == O_ADAM:
            i2 = take(&A, s2, A_FLOAT | A_WRITE, 0, s2name)
        ig = take(&A, g, A_FLOAT, 0, gname)
        n = count(&A, ip)
        same_size(count(&A, ig), n, gname)
        if i1 >= 0:
            same_size(count(&A, i1), n, s1name)
        if i2 >= 0:
            same_size(count(&A, i2), n, s2name)
        if n == 0:
            return 0
        pp = ptr(&A, ip)
        p1 = ptr(&A, i1)
        p2 = ptr(&A, i2)
        pg = ptr(&A, ig)
        with nogil:
            if A.t == T_F32:
                if op == O_SGD:
                    dl_sgd_update_f32(<float *>pp, <const float *>pg, n, a)
                elif op == O_MOMENTUM:
                    dl_momentum_update_f32(<float *>pp, <float *>p1, <const float *>pg, n, a, b)
                elif op == O_NESTEROV:
                    dl_nesterov_update_f32(<float *>pp, <float *>p1, <const float *>pg, n, a, b)
                elif op == O_ADAGRAD:
                    dl_adagrad_update_f32(<float *>pp, <float *>p1, <const float *>pg, n, a, b)
                elif op == O_RMSPROP:
                    dl_rmsprop_update_f32(<float *>pp, <float *>p1, <const float *>pg, n, a, b,
                                          c)
                else:
                    dl_adam_update_f32(<float *>pp, <float *>p1, <float *>p2,
                                       <const float *>pg, n, a, b, c, d)
            else:
                if op == O_SGD:
                    dl_sgd_update_f64(<double *>pp, <const double *>pg, n, a)
                elif op == O_MOMENTUM:
                    dl_momentum_update_f64(<double *>pp, <double *>p1, <const double *>pg, n, a,
                                           b)
                elif op == O_NESTEROV:
                    dl_nesterov_update_f64(<double *>pp, <double *>p1, <const double *>pg, n, a,
                                           b)
                elif op == O_ADAGRAD:
                    dl_adagrad_update_f64(<double *>pp, <double *>p1, <const double *>pg, n, a,
                                          b)
                elif op == O_RMSPROP:
                    dl_rmsprop_update_f64(<double *>pp, <double *>p1, <const double *>pg, n, a,
                                          b, c)
                else:
                    dl_adam_update_f64(<double *>pp, <double *>p1, <double *>p2,
                                       <const double *>pg, n, a, b, c, d)
    finally:
        args_release(&A)
    return 0


def sgd_update(p, g, double lr):
    update(O_SGD, p, None, None, g, lr, 0, 0, 0, "sgd_update p", "", "", "sgd_update g")


def momentum_update(p, v, g, double lr, double mu):
    update(O_MOMENTUM, p, v, None, g, lr, mu, 0, 0, "momentum_update p", "momentum_update v",
           "", "momentum_update g")


def nesterov_update(p, v, g, double lr, double mu):
    update(O_NESTEROV, p, v, None, g, lr, mu, 0, 0, "nesterov_update p", "nesterov_update v",
           "", "nesterov_update g")


def adagrad_update(p, h, g, double lr, double eps):
    update(O_ADAGRAD, p, h, None, g, lr, eps, 0, 0, "adagrad_update p", "adagrad_update h", "",
           "adagrad_update g")


def rmsprop_update(p, h, g, double lr, double rho, double eps):
    update(O_RMSPROP, p, h, None, g, lr, rho, eps, 0, "rmsprop_update p", "rmsprop_update h",
           "", "rmsprop_update g")


def adam_update(p, m, v, g, double lr_t, double beta1, double beta2, double eps):
    update(O_ADAM, p, m, v, g, lr_t, beta1, beta2, eps, "adam_update p", "adam_update m",
           "adam_update v", "adam_update g")


cdef int dropout(bint forward, y, x, mask, double scale, str yname, str xname,
                 str mname) except -1:
    """forward: y = x * mask * scale; backward: dx = dout * mask * scale (mask None: no mask)."""
    cdef Args A
    args_init(&A)
    cdef int iy, ix, im
    cdef dl_index n
    cdef void *py
    cdef const void *px
    cdef const uint8_t *pm
    try:
        iy = take(&A, y, A_FLOAT | A_WRITE, 0, yname)
        ix = take(&A, x, A_FLOAT, 0, xname)
        im = take(&A, mask, A_U8 | A_NONE, 0, mname)
        n = count(&A, ix)
        same_size(count(&A, iy), n, yname)
        if im >= 0:
            same_size(count(&A, im), n, mname)
        if n == 0:
            return 0
        py = ptr(&A, iy)
        px = ptr(&A, ix)
        pm = <const uint8_t *>ptr(&A, im)
        with nogil:
            if A.t == T_F32:
                if forward:
                    dl_dropout_forward_f32(<float *>py, <const float *>px, pm, n, scale)
                else:
                    dl_dropout_backward_f32(<float *>py, <const float *>px, pm, n, scale)
            else:
                if forward:
                    dl_dropout_forward_f64(<double *>py, <const double *>px, pm, n, scale)
                else:
                    dl_dropout_backward_f64(<double *>py, <const double *>px, pm, n, scale)
    finally:
        args_release(&A)
    return 0


def dropout_forward(y, x, mask, double scale):
    """y = x * mask * scale (mask None: y = x * scale)."""
    dropout(True, y, x, mask, scale, "dropout_forward y", "dropout_forward x",
            "dropout_forward mask")


def dropout_backward(dx, dout, mask, double scale):
    dropout(False, dx, dout, mask, scale, "dropout_backward dx", "dropout_backward dout",
            "dropout_backward mask")
