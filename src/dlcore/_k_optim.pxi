# _k_optim.pxi - optimizer updates and dropout masks (included by _kernels.pyx).
# Parameters and states are flat C-contiguous views of the caller's arrays, updated in place.

def sgd_update(floating[::1] p, const floating[::1] g, double lr):
    cdef dl_index n = p.shape[0]
    same_size(g.shape[0], n, "sgd_update")
    if n == 0:
        return
    with nogil:
        if floating is float:
            dl_sgd_update_f32(&p[0], &g[0], n, lr)
        else:
            dl_sgd_update_f64(&p[0], &g[0], n, lr)


def momentum_update(floating[::1] p, floating[::1] v, const floating[::1] g, double lr,
                    double mu):
    cdef dl_index n = p.shape[0]
    same_size(g.shape[0], n, "momentum_update")
    same_size(v.shape[0], n, "momentum_update v")
    if n == 0:
        return
    with nogil:
        if floating is float:
            dl_momentum_update_f32(&p[0], &v[0], &g[0], n, lr, mu)
        else:
            dl_momentum_update_f64(&p[0], &v[0], &g[0], n, lr, mu)


def nesterov_update(floating[::1] p, floating[::1] v, const floating[::1] g, double lr,
                    double mu):
    cdef dl_index n = p.shape[0]
    same_size(g.shape[0], n, "nesterov_update")
    same_size(v.shape[0], n, "nesterov_update v")
    if n == 0:
        return
    with nogil:
        if floating is float:
            dl_nesterov_update_f32(&p[0], &v[0], &g[0], n, lr, mu)
        else:
            dl_nesterov_update_f64(&p[0], &v[0], &g[0], n, lr, mu)


def adagrad_update(floating[::1] p, floating[::1] h, const floating[::1] g, double lr,
                   double eps):
    cdef dl_index n = p.shape[0]
    same_size(g.shape[0], n, "adagrad_update")
    same_size(h.shape[0], n, "adagrad_update h")
    if n == 0:
        return
    with nogil:
        if floating is float:
            dl_adagrad_update_f32(&p[0], &h[0], &g[0], n, lr, eps)
        else:
            dl_adagrad_update_f64(&p[0], &h[0], &g[0], n, lr, eps)


def rmsprop_update(floating[::1] p, floating[::1] h, const floating[::1] g, double lr,
                   double rho, double eps):
    cdef dl_index n = p.shape[0]
    same_size(g.shape[0], n, "rmsprop_update")
    same_size(h.shape[0], n, "rmsprop_update h")
    if n == 0:
        return
    with nogil:
        if floating is float:
            dl_rmsprop_update_f32(&p[0], &h[0], &g[0], n, lr, rho, eps)
        else:
            dl_rmsprop_update_f64(&p[0], &h[0], &g[0], n, lr, rho, eps)


def adam_update(floating[::1] p, floating[::1] m, floating[::1] v, const floating[::1] g,
                double lr_t, double beta1, double beta2, double eps):
    cdef dl_index n = p.shape[0]
    same_size(g.shape[0], n, "adam_update")
    same_size(m.shape[0], n, "adam_update m")
    same_size(v.shape[0], n, "adam_update v")
    if n == 0:
        return
    with nogil:
        if floating is float:
            dl_adam_update_f32(&p[0], &m[0], &v[0], &g[0], n, lr_t, beta1, beta2, eps)
        else:
            dl_adam_update_f64(&p[0], &m[0], &v[0], &g[0], n, lr_t, beta1, beta2, eps)


def dropout_forward(floating[::1] y, const floating[::1] x, const uint8_t[::1] mask,
                    double scale):
    """y = x * mask * scale (mask None: y = x * scale)."""
    cdef dl_index n = x.shape[0]
    same_size(y.shape[0], n, "dropout_forward")
    cdef const uint8_t *pm = NULL
    if mask is not None:
        same_size(mask.shape[0], n, "dropout_forward mask")
    if n == 0:
        return
    if mask is not None:
        pm = &mask[0]
    with nogil:
        if floating is float:
            dl_dropout_forward_f32(&y[0], &x[0], pm, n, scale)
        else:
            dl_dropout_forward_f64(&y[0], &x[0], pm, n, scale)


def dropout_backward(floating[::1] dx, const floating[::1] dout, const uint8_t[::1] mask,
                     double scale):
    cdef dl_index n = dout.shape[0]
    same_size(dx.shape[0], n, "dropout_backward")
    cdef const uint8_t *pm = NULL
    if mask is not None:
        same_size(mask.shape[0], n, "dropout_backward mask")
    if n == 0:
        return
    if mask is not None:
        pm = &mask[0]
    with nogil:
        if floating is float:
            dl_dropout_backward_f32(&dx[0], &dout[0], pm, n, scale)
        else:
            dl_dropout_backward_f64(&dx[0], &dout[0], pm, n, scale)
