# Kernels added for the performance work (issue 6): mixed-dtype entry points.


def affine_forward_x32(double[:, ::1] out, const float[:, ::1] x, const double[:, ::1] W,
                       const double[::1] b):
    """out = x @ W + b for a float32 x and float64 W, b (x converted in row blocks in C)."""
    cdef dl_index N = x.shape[0], D = x.shape[1], M = W.shape[1]
    same_size(W.shape[0], D, "affine_forward_x32 W")
    same_size(b.shape[0], M, "affine_forward_x32 b")
    same_size(out.shape[0], N, "affine_forward_x32 out")
    same_size(out.shape[1], M, "affine_forward_x32 out")
    if N == 0 or M == 0:
        return
    cdef const float *px = &x[0, 0] if D > 0 else NULL
    cdef const double *pw = &W[0, 0] if D > 0 else NULL
    cdef dl_status s
    with nogil:
        s = dl_affine_forward_x32_f64(&out[0, 0], px, pw, &b[0], N, D, M)
    raise_status(s, "Affine.forward", "")
