# _k_conv.pxi - im2col/col2im, convolution and max pooling (included by _kernels.pyx).
# Arrays are C-contiguous in the compute dtype (the Python layer, _conv.py, converted them and
# validated the user-facing sizes); here sizes are re-checked as internal invariants.

cdef int conv_sizes(Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t fh, Py_ssize_t fw,
                    Py_ssize_t stride, Py_ssize_t pad, Py_ssize_t *oh, Py_ssize_t *ow,
                    str what) except -1:
    """oh, ow of a filter fh x fw over (H, W) padded by pad; ValueError when not >= 1."""
    if C < 1 or H < 1 or W < 1 or fh < 1 or fw < 1 or stride < 1 or pad < 0:
        raise ValueError(f"{what}: internal: invalid sizes C={C} H={H} W={W} fh={fh} fw={fw} "
                         f"stride={stride} pad={pad}")
    oh[0] = (H + 2 * pad - fh) // stride + 1
    ow[0] = (W + 2 * pad - fw) // stride + 1
    if oh[0] < 1 or ow[0] < 1:
        raise ValueError(f"{what}: internal: empty output {oh[0]}x{ow[0]}")
    return 0


def im2col(floating[:, ::1] col, const floating[:, :, :, ::1] x, Py_ssize_t fh, Py_ssize_t fw,
           Py_ssize_t stride, Py_ssize_t pad):
    """col (N*oh*ow, C*fh*fw) = the book's im2col of x (N,C,H,W)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3], oh, ow
    conv_sizes(C, H, W, fh, fw, stride, pad, &oh, &ow, "im2col")
    same_size(col.shape[0], N * oh * ow, "im2col col rows")
    same_size(col.shape[1], C * fh * fw, "im2col col cols")
    if N == 0:
        return
    with nogil:
        if floating is float:
            dl_im2col_f32(&col[0, 0], &x[0, 0, 0, 0], N, C, H, W, fh, fw, stride, pad, oh, ow)
        else:
            dl_im2col_f64(&col[0, 0], &x[0, 0, 0, 0], N, C, H, W, fh, fw, stride, pad, oh, ow)


def col2im(floating[:, :, :, ::1] x, const floating[:, ::1] col, Py_ssize_t fh, Py_ssize_t fw,
           Py_ssize_t stride, Py_ssize_t pad):
    """x (N,C,H,W) = the book's col2im of col (N*oh*ow, C*fh*fw) (written, not added)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3], oh, ow
    conv_sizes(C, H, W, fh, fw, stride, pad, &oh, &ow, "col2im")
    same_size(col.shape[0], N * oh * ow, "col2im col rows")
    same_size(col.shape[1], C * fh * fw, "col2im col cols")
    if N == 0:
        return
    with nogil:
        if floating is float:
            dl_col2im_f32(&x[0, 0, 0, 0], &col[0, 0], N, C, H, W, fh, fw, stride, pad, oh, ow)
        else:
            dl_col2im_f64(&x[0, 0, 0, 0], &col[0, 0], N, C, H, W, fh, fw, stride, pad, oh, ow)


def conv_forward(floating[:, :, :, ::1] out, floating[:, ::1] col,
                 const floating[:, :, :, ::1] x, const floating[:, ::1] Wf,
                 const floating[::1] b, Py_ssize_t fh, Py_ssize_t fw, Py_ssize_t stride,
                 Py_ssize_t pad):
    """out (N,FN,oh,ow) = conv(x, Wf) + b with the cache col = im2col(x) (col=None: no
    cache; Convolution.backward then uses conv_backward_x)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3], oh, ow
    cdef Py_ssize_t FN = Wf.shape[0]
    conv_sizes(C, H, W, fh, fw, stride, pad, &oh, &ow, "conv_forward")
    same_size(Wf.shape[1], C * fh * fw, "conv_forward Wf")
    same_size(b.shape[0], FN, "conv_forward b")
    same_size(out.shape[0], N, "conv_forward out")
    same_size(out.shape[1], FN, "conv_forward out")
    same_size(out.shape[2], oh, "conv_forward out")
    same_size(out.shape[3], ow, "conv_forward out")
    cdef floating *pcol = NULL
    if col is not None:
        same_size(col.shape[0], N * oh * ow, "conv_forward col rows")
        same_size(col.shape[1], C * fh * fw, "conv_forward col cols")
    if FN < 1:
        raise ValueError("conv_forward: internal: no filters")
    if N == 0:
        return
    if col is not None:
        pcol = &col[0, 0]
    cdef dl_status s
    with nogil:
        if floating is float:
            s = dl_conv_forward_f32(&out[0, 0, 0, 0], pcol, &x[0, 0, 0, 0], &Wf[0, 0], &b[0],
                                    N, C, H, W, FN, fh, fw, stride, pad, oh, ow)
        else:
            s = dl_conv_forward_f64(&out[0, 0, 0, 0], pcol, &x[0, 0, 0, 0], &Wf[0, 0], &b[0],
                                    N, C, H, W, FN, fh, fw, stride, pad, oh, ow)
    raise_status(s, "Convolution.forward", "")


def conv_backward_x(const floating[:, :, :, ::1] dout, const floating[:, :, :, ::1] x,
                    const floating[:, ::1] Wf, Py_ssize_t fh, Py_ssize_t fw,
                    Py_ssize_t stride, Py_ssize_t pad, floating[:, :, :, ::1] dx=None,
                    floating[:, ::1] dW=None, floating[::1] db=None):
    """conv_backward from the forward input x instead of the col cache (same results)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3], oh, ow
    cdef Py_ssize_t FN = Wf.shape[0], K = C * fh * fw
    conv_sizes(C, H, W, fh, fw, stride, pad, &oh, &ow, "conv_backward_x")
    if FN < 1:
        raise ValueError("conv_backward_x: internal: no filters")
    same_size(Wf.shape[1], K, "conv_backward_x Wf")
    same_size(dout.shape[0], N, "conv_backward_x dout")
    same_size(dout.shape[1], FN, "conv_backward_x dout")
    same_size(dout.shape[2], oh, "conv_backward_x dout")
    same_size(dout.shape[3], ow, "conv_backward_x dout")
    cdef floating *pdx = NULL
    cdef floating *pdW = NULL
    cdef floating *pdb = NULL
    if dx is not None:
        same_size(dx.shape[0], N, "conv_backward_x dx")
        same_size(dx.shape[1], C, "conv_backward_x dx")
        same_size(dx.shape[2], H, "conv_backward_x dx")
        same_size(dx.shape[3], W, "conv_backward_x dx")
        if N > 0:
            pdx = &dx[0, 0, 0, 0]
    if dW is not None:
        same_size(dW.shape[0], FN, "conv_backward_x dW")
        same_size(dW.shape[1], K, "conv_backward_x dW")
        pdW = &dW[0, 0]
    if db is not None:
        same_size(db.shape[0], FN, "conv_backward_x db")
        pdb = &db[0]
    cdef const floating *pdout = &dout[0, 0, 0, 0] if N > 0 else NULL
    cdef const floating *px = &x[0, 0, 0, 0] if N > 0 else NULL
    cdef dl_status s
    with nogil:
        if floating is float:
            s = dl_conv_backward_x_f32(pdx, pdW, pdb, pdout, px, &Wf[0, 0], N, C, H, W, FN, fh,
                                       fw, stride, pad, oh, ow)
        else:
            s = dl_conv_backward_x_f64(pdx, pdW, pdb, pdout, px, &Wf[0, 0], N, C, H, W, FN, fh,
                                       fw, stride, pad, oh, ow)
    raise_status(s, "Convolution.backward", "")


def conv_backward(const floating[:, :, :, ::1] dout, const floating[:, ::1] col,
                  const floating[:, ::1] Wf, tuple x_shape, Py_ssize_t fh, Py_ssize_t fw,
                  Py_ssize_t stride, Py_ssize_t pad, floating[:, :, :, ::1] dx=None,
                  floating[:, ::1] dW=None, floating[::1] db=None):
    """dx (N,C,H,W), dW (FN, C*fh*fw), db (FN) of the convolution; None skips one (the
    optional outputs come last: fused-type dispatch reads the dtype from the first argument)."""
    cdef Py_ssize_t N = x_shape[0], C = x_shape[1], H = x_shape[2], W = x_shape[3], oh, ow
    cdef Py_ssize_t FN = Wf.shape[0], K = C * fh * fw
    conv_sizes(C, H, W, fh, fw, stride, pad, &oh, &ow, "conv_backward")
    if FN < 1:
        raise ValueError("conv_backward: internal: no filters")
    same_size(Wf.shape[1], K, "conv_backward Wf")
    same_size(dout.shape[0], N, "conv_backward dout")
    same_size(dout.shape[1], FN, "conv_backward dout")
    same_size(dout.shape[2], oh, "conv_backward dout")
    same_size(dout.shape[3], ow, "conv_backward dout")
    same_size(col.shape[0], N * oh * ow, "conv_backward col rows")
    same_size(col.shape[1], K, "conv_backward col cols")
    cdef floating *pdx = NULL
    cdef floating *pdW = NULL
    cdef floating *pdb = NULL
    if dx is not None:
        same_size(dx.shape[0], N, "conv_backward dx")
        same_size(dx.shape[1], C, "conv_backward dx")
        same_size(dx.shape[2], H, "conv_backward dx")
        same_size(dx.shape[3], W, "conv_backward dx")
        if N > 0:
            pdx = &dx[0, 0, 0, 0]
    if dW is not None:
        same_size(dW.shape[0], FN, "conv_backward dW")
        same_size(dW.shape[1], K, "conv_backward dW")
        pdW = &dW[0, 0]
    if db is not None:
        same_size(db.shape[0], FN, "conv_backward db")
        pdb = &db[0]
    cdef const floating *pdout = &dout[0, 0, 0, 0] if N > 0 else NULL
    cdef const floating *pcol = &col[0, 0] if N > 0 else NULL
    cdef dl_status s
    with nogil:
        if floating is float:
            s = dl_conv_backward_f32(pdx, pdW, pdb, pdout, pcol, &Wf[0, 0], N, C, H, W, FN, fh,
                                     fw, stride, pad, oh, ow)
        else:
            s = dl_conv_backward_f64(pdx, pdW, pdb, pdout, pcol, &Wf[0, 0], N, C, H, W, FN, fh,
                                     fw, stride, pad, oh, ow)
    raise_status(s, "Convolution.backward", "")


cdef int pool_sizes(Py_ssize_t H, Py_ssize_t W, Py_ssize_t ph, Py_ssize_t pw,
                    Py_ssize_t stride, Py_ssize_t *oh, Py_ssize_t *ow, str what) except -1:
    if ph < 1 or pw < 1 or stride < 1 or H < ph or W < pw:
        raise ValueError(f"{what}: internal: invalid sizes H={H} W={W} pool={ph}x{pw} "
                         f"stride={stride}")
    oh[0] = (H - ph) // stride + 1
    ow[0] = (W - pw) // stride + 1
    return 0


def pool_forward(floating[:, :, :, ::1] out, int64_t[::1] arg_max,
                 const floating[:, :, :, ::1] x, Py_ssize_t ph, Py_ssize_t pw,
                 Py_ssize_t stride):
    """out (N,C,oh,ow) = window maxima of x; arg_max (N*oh*ow*C) in (n, oh, ow, c) order."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3], oh, ow
    pool_sizes(H, W, ph, pw, stride, &oh, &ow, "pool_forward")
    same_size(out.shape[0], N, "pool_forward out")
    same_size(out.shape[1], C, "pool_forward out")
    same_size(out.shape[2], oh, "pool_forward out")
    same_size(out.shape[3], ow, "pool_forward out")
    same_size(arg_max.shape[0], N * oh * ow * C, "pool_forward arg_max")
    if N == 0 or C == 0:
        return
    with nogil:
        if floating is float:
            dl_pool_forward_f32(&out[0, 0, 0, 0], &arg_max[0], &x[0, 0, 0, 0], N, C, H, W, ph,
                                pw, stride, oh, ow)
        else:
            dl_pool_forward_f64(&out[0, 0, 0, 0], &arg_max[0], &x[0, 0, 0, 0], N, C, H, W, ph,
                                pw, stride, oh, ow)


def pool_backward(floating[:, :, :, ::1] dx, const floating[:, :, :, ::1] dout,
                  const int64_t[::1] arg_max, Py_ssize_t ph, Py_ssize_t pw,
                  Py_ssize_t stride):
    """dx (N,C,H,W): each dout value at its window's arg_max (sums where windows overlap).
    IndexError when an arg_max entry is outside [0, ph*pw)."""
    cdef Py_ssize_t N = dx.shape[0], C = dx.shape[1], H = dx.shape[2], W = dx.shape[3], oh, ow
    pool_sizes(H, W, ph, pw, stride, &oh, &ow, "pool_backward")
    same_size(dout.shape[0], N, "pool_backward dout")
    same_size(dout.shape[1], C, "pool_backward dout")
    same_size(dout.shape[2], oh, "pool_backward dout")
    same_size(dout.shape[3], ow, "pool_backward dout")
    same_size(arg_max.shape[0], N * oh * ow * C, "pool_backward arg_max")
    if N == 0 or C == 0:
        return
    cdef dl_index bad = -1
    cdef dl_status s
    with nogil:
        if floating is float:
            s = dl_pool_backward_f32(&dx[0, 0, 0, 0], &bad, &dout[0, 0, 0, 0], &arg_max[0], N, C,
                                     H, W, ph, pw, stride, oh, ow)
        else:
            s = dl_pool_backward_f64(&dx[0, 0, 0, 0], &bad, &dout[0, 0, 0, 0], &arg_max[0], N, C,
                                     H, W, ph, pw, stride, oh, ow)
    raise_status(s, "Pooling.backward",
                 f"expected arg_max entries in [0, {ph * pw}); got {arg_max[bad]} at position "
                 f"{bad}" if s == DL_ERR_INDEX else "")
