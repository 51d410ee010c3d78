"""Independent numpy oracle for im2col/col2im, Convolution and max Pooling, written from the
spec (book-api.md sections 2.7, 2.8 and 5). Everything is computed in float64, the way the
book's code computes, and returned in the book's shapes (C-contiguous copies of its views)."""
import numpy as np


def out_size(size, filt, stride, pad):
    return (size + 2 * pad - filt) // stride + 1


def im2col(x, fh, fw, stride=1, pad=0):
    """Spec 5: zero-pad the spatial axes, fill a (N, C, fh, fw, oh, ow) buffer by strided
    slices, permute to (N, oh, ow, C, fh, fw), flatten to (N*oh*ow, C*fh*fw), float64."""
    x = np.asarray(x)
    N, C, H, W = x.shape
    oh, ow = out_size(H, fh, stride, pad), out_size(W, fw, stride, pad)
    xp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), np.float64)
    xp[:, :, pad:pad + H, pad:pad + W] = x
    buf = np.empty((N, C, fh, fw, oh, ow), np.float64)
    for u in range(fh):
        for v in range(fw):
            buf[:, :, u, v] = xp[:, :, u:u + stride * oh:stride, v:v + stride * ow:stride]
    return np.ascontiguousarray(buf.transpose(0, 4, 5, 1, 2, 3)).reshape(N * oh * ow, -1)


def col2im(col, shape, fh, fw, stride=1, pad=0):
    """Spec 5: read col as (N, oh, ow, C, fh, fw), permute to (N, C, fh, fw, oh, ow), add each
    window offset's slab into a zeroed (N, C, H+2p+s-1, W+2p+s-1) buffer, crop the padding."""
    N, C, H, W = shape
    oh, ow = out_size(H, fh, stride, pad), out_size(W, fw, stride, pad)
    c6 = np.asarray(col, np.float64).reshape(N, oh, ow, C, fh, fw).transpose(0, 3, 4, 5, 1, 2)
    buf = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1), np.float64)
    for u in range(fh):
        for v in range(fw):
            buf[:, :, u:u + stride * oh:stride, v:v + stride * ow:stride] += c6[:, :, u, v]
    return np.ascontiguousarray(buf[:, :, pad:pad + H, pad:pad + W])


def conv_forward(x, W, b, stride=1, pad=0):
    """Returns (out (N, FN, oh, ow), col, col_W) as spec 2.7 computes them."""
    FN, C, fh, fw = W.shape
    N, _, H, Wd = x.shape
    oh, ow = out_size(H, fh, stride, pad), out_size(Wd, fw, stride, pad)
    col = im2col(x, fh, fw, stride, pad)
    col_W = np.asarray(W, np.float64).reshape(FN, -1).T
    out = col @ col_W + np.asarray(b, np.float64)
    return np.ascontiguousarray(out.reshape(N, oh, ow, FN).transpose(0, 3, 1, 2)), col, col_W


def conv_backward(dout, col, W, x_shape, stride=1, pad=0):
    """Returns (dx, dW, db) as spec 2.7 computes them."""
    FN, C, fh, fw = W.shape
    d = np.asarray(dout, np.float64).transpose(0, 2, 3, 1).reshape(-1, FN)
    db = d.sum(axis=0)
    dW = (np.asarray(col, np.float64).T @ d).T.reshape(FN, C, fh, fw)
    dcol = d @ np.asarray(W, np.float64).reshape(FN, -1)
    return col2im(dcol, x_shape, fh, fw, stride, pad), dW, db


def conv_direct(x, W, b, stride=1, pad=0):
    """The definition, without im2col: out[n,f,i,j] = sum W[f,c,u,v] xpad[n,c,i*s+u,j*s+v] + b."""
    FN, C, fh, fw = W.shape
    N, _, H, Wd = x.shape
    oh, ow = out_size(H, fh, stride, pad), out_size(Wd, fw, stride, pad)
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.empty((N, FN, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride:i * stride + fh, j * stride:j * stride + fw]
            out[:, :, i, j] = np.einsum("ncuv,fcuv->nf", patch, np.asarray(W, np.float64))
    return out + np.asarray(b, np.float64).reshape(-1, 1, 1)


def pool_forward(x, ph, pw, stride):
    """Spec 2.8: im2col rows reshaped to one window per row in (n, oh, ow, c) order; argmax
    (first maximum, NaN first) and max per row. Returns (out (N, C, oh, ow), arg_max)."""
    N, C, H, W = x.shape
    oh, ow = (H - ph) // stride + 1, (W - pw) // stride + 1
    rows = im2col(x, ph, pw, stride, 0).reshape(-1, ph * pw)
    arg_max = np.argmax(rows, axis=1)
    with np.errstate(invalid="ignore"):
        mx = np.max(rows, axis=1)
    out = mx.reshape(N, oh, ow, C).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(out), arg_max.astype(np.int64)


def pool_backward(dout, arg_max, x_shape, ph, pw, stride):
    """Spec 2.8: a zero (dout.size, ph*pw) matrix gets each dout value at its arg_max column,
    reshaped to (N*oh*ow, C*ph*pw) and summed back by col2im."""
    d = np.asarray(dout, np.float64).transpose(0, 2, 3, 1).reshape(-1)
    dmax = np.zeros((d.size, ph * pw))
    dmax[np.arange(d.size), np.asarray(arg_max).reshape(-1)] = d
    N, C = x_shape[:2]
    return col2im(dmax.reshape(-1, C * ph * pw), x_shape, ph, pw, stride, 0)
