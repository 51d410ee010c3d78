/* test_conv.c - im2col/col2im, convolution and max pooling against naive loops written from
 * the definitions (the book's index formulas), and bitwise equality of 1 and 2 threads. */
#include "harness.h"

typedef struct cshape {
    dl_index N, C, H, W, FN, fh, fw, stride, pad;
} cshape;

static const cshape conv_shapes[] = {
    {1, 1, 1, 1, 1, 1, 1, 1, 0},    /* 1x1 everything */
    {2, 3, 7, 5, 4, 3, 2, 1, 1},    /* odd sizes, non-square filter */
    {3, 2, 9, 8, 5, 3, 3, 2, 2},    /* stride 2, pad 2 */
    {4, 1, 28, 28, 30, 5, 5, 1, 0}, /* SimpleConvNet layer, 4 samples */
    {37, 3, 11, 13, 7, 3, 3, 2, 1}, /* the largest, odd N */
    {2, 2, 3, 3, 3, 5, 5, 3, 2},    /* filter larger than the image, pad makes it fit */
    {1, 1, 4, 6, 2, 2, 3, 3, 0},    /* stride larger than the filter: skipped pixels */
    {20, 16, 6, 6, 9, 3, 3, 1, 1},  /* N > 16: more samples than reduction chunks */
};

/* The size arguments of the conv kernels, for a cshape s and locals FN, oh, ow. */
#define CONV_SIZES s.N, s.C, s.H, s.W, FN, s.fh, s.fw, s.stride, s.pad, oh, ow

static dl_index out_size(dl_index in, dl_index f, dl_index s, dl_index p)
{
    return (in + 2 * p - f) / s + 1;
}

/* col[(n,i,j), (c,u,v)] = x[n, c, i*s+u-pad, j*s+v-pad] or 0. */
static void naive_im2col(double *col, const double *x, cshape s, dl_index oh, dl_index ow)
{
    const dl_index K = s.C * s.fh * s.fw;
    for (dl_index n = 0; n < s.N; n++)
        for (dl_index i = 0; i < oh; i++)
            for (dl_index j = 0; j < ow; j++)
                for (dl_index c = 0; c < s.C; c++)
                    for (dl_index u = 0; u < s.fh; u++)
                        for (dl_index v = 0; v < s.fw; v++) {
                            const dl_index y = i * s.stride + u - s.pad;
                            const dl_index xx = j * s.stride + v - s.pad;
                            const double val = (y >= 0 && y < s.H && xx >= 0 && xx < s.W)
                                ? x[((n * s.C + c) * s.H + y) * s.W + xx] : 0.0;
                            col[((n * oh + i) * ow + j) * K + (c * s.fh + u) * s.fw + v] = val;
                        }
}

/* The book's col2im: a zeroed padded buffer (stride - 1 extra rows/cols), for each window
 * offset (u, v) in order add every patch's term, then crop. */
static void naive_col2im(double *x, const double *col, cshape s, dl_index oh, dl_index ow)
{
    const dl_index Hp = s.H + 2 * s.pad + s.stride - 1, Wp = s.W + 2 * s.pad + s.stride - 1;
    const dl_index K = s.C * s.fh * s.fw;
    double *buf = calloc((size_t)(s.N * s.C * Hp * Wp), sizeof(double));
    for (dl_index u = 0; u < s.fh; u++)
        for (dl_index v = 0; v < s.fw; v++)
            for (dl_index n = 0; n < s.N; n++)
                for (dl_index c = 0; c < s.C; c++)
                    for (dl_index i = 0; i < oh; i++)
                        for (dl_index j = 0; j < ow; j++)
                            buf[((n * s.C + c) * Hp + i * s.stride + u) * Wp + j * s.stride + v] +=
                                col[((n * oh + i) * ow + j) * K + (c * s.fh + u) * s.fw + v];
    for (dl_index n = 0; n < s.N; n++)
        for (dl_index c = 0; c < s.C; c++)
            for (dl_index y = 0; y < s.H; y++)
                for (dl_index xx = 0; xx < s.W; xx++)
                    x[((n * s.C + c) * s.H + y) * s.W + xx] =
                        buf[((n * s.C + c) * Hp + y + s.pad) * Wp + xx + s.pad];
    free(buf);
}

static int same_bits_d(const double *a, const double *b, dl_index n)
{
    return n == 0 || memcmp(a, b, sizeof(double) * (size_t)n) == 0;
}
static int same_bits_f(const float *a, const float *b, dl_index n)
{
    return n == 0 || memcmp(a, b, sizeof(float) * (size_t)n) == 0;
}

static void test_im2col_col2im(cshape s)
{
    const dl_index oh = out_size(s.H, s.fh, s.stride, s.pad);
    const dl_index ow = out_size(s.W, s.fw, s.stride, s.pad);
    const dl_index nx = s.N * s.C * s.H * s.W, ncol = s.N * oh * ow * s.C * s.fh * s.fw;
    double *x = malloc(sizeof(double) * nx), *col = malloc(sizeof(double) * ncol);
    double *ref = malloc(sizeof(double) * ncol), *dx = malloc(sizeof(double) * nx);
    double *rdx = malloc(sizeof(double) * nx);
    float *xf = malloc(sizeof(float) * nx), *colf = malloc(sizeof(float) * ncol);
    float *dxf = malloc(sizeof(float) * nx), *rdxf = malloc(sizeof(float) * nx);
    tfill_d(x, nx, 100 + s.N);
    for (dl_index i = 0; i < nx; i++) xf[i] = (float)x[i];
    naive_im2col(ref, x, s, oh, ow);
    for (dl_index i = 0; i < ncol; i++) col[i] = -7; /* every entry must be written */
    dl_im2col_f64(col, x, s.N, s.C, s.H, s.W, s.fh, s.fw, s.stride, s.pad, oh, ow);
    CHECK(same_bits_d(col, ref, ncol), "im2col f64 N=%ld C=%ld %ldx%ld f=%ldx%ld s=%ld p=%ld",
          (long)s.N, (long)s.C, (long)s.H, (long)s.W, (long)s.fh, (long)s.fw, (long)s.stride,
          (long)s.pad);
    dl_im2col_f32(colf, xf, s.N, s.C, s.H, s.W, s.fh, s.fw, s.stride, s.pad, oh, ow);
    int ok = 1;
    for (dl_index i = 0; i < ncol; i++) if (colf[i] != (float)ref[i]) ok = 0;
    CHECK(ok, "im2col f32 exact copy");
    /* col2im of an arbitrary col: bitwise equal to the book's summation order */
    tfill_d(col, ncol, 200 + s.N);
    naive_col2im(rdx, col, s, oh, ow);
    for (dl_index i = 0; i < nx; i++) dx[i] = 1e300; /* written with =, not += */
    dl_col2im_f64(dx, col, s.N, s.C, s.H, s.W, s.fh, s.fw, s.stride, s.pad, oh, ow);
    CHECK(same_bits_d(dx, rdx, nx), "col2im f64 bitwise = book order (N=%ld s=%ld p=%ld)",
          (long)s.N, (long)s.stride, (long)s.pad);
    for (dl_index i = 0; i < ncol; i++) colf[i] = (float)col[i];
    for (dl_index i = 0; i < ncol; i++) col[i] = colf[i];
    naive_col2im(rdx, col, s, oh, ow);
    dl_col2im_f32(dxf, colf, s.N, s.C, s.H, s.W, s.fh, s.fw, s.stride, s.pad, oh, ow);
    /* f32 sums of at most fh*fw terms: a few float ulps from the double reference */
    for (dl_index i = 0; i < nx; i++) rdxf[i] = (float)rdx[i];
    CHECK(tclose_f(dxf, rdxf, nx, 1e-5, 1e-6 * (double)(s.fh * s.fw)), "col2im f32");
    /* adjointness: <im2col(x), col> == <x, col2im(col)> */
    dl_im2col_f64(ref, x, s.N, s.C, s.H, s.W, s.fh, s.fw, s.stride, s.pad, oh, ow);
    dl_col2im_f64(dx, col, s.N, s.C, s.H, s.W, s.fh, s.fw, s.stride, s.pad, oh, ow);
    double a = 0, b = 0, m = 0;
    for (dl_index i = 0; i < ncol; i++) { a += ref[i] * col[i]; m += fabs(ref[i] * col[i]); }
    for (dl_index i = 0; i < nx; i++) b += x[i] * dx[i];
    CHECK(fabs(a - b) <= 1e-12 * (m + 1), "im2col/col2im adjoint (%g vs %g)", a, b);
    free(x); free(col); free(ref); free(dx); free(rdx); free(xf); free(colf); free(dxf); free(rdxf);
}

typedef struct conv_bufs {
    double *x, *Wf, *b, *out, *col, *dout, *dx, *dW, *db;
} conv_bufs;

static void test_conv(cshape s)
{
    const dl_index oh = out_size(s.H, s.fh, s.stride, s.pad);
    const dl_index ow = out_size(s.W, s.fw, s.stride, s.pad);
    const dl_index P = oh * ow, K = s.C * s.fh * s.fw, FN = s.FN;
    const dl_index nx = s.N * s.C * s.H * s.W, ncol = s.N * P * K, nout = s.N * FN * P;
    double *x = malloc(sizeof(double) * nx), *Wf = malloc(sizeof(double) * FN * K);
    double *b = malloc(sizeof(double) * FN), *out = malloc(sizeof(double) * nout);
    double *col = malloc(sizeof(double) * ncol), *rcol = malloc(sizeof(double) * ncol);
    double *rout = malloc(sizeof(double) * nout), *dout = malloc(sizeof(double) * nout);
    double *dx = malloc(sizeof(double) * nx), *dW = malloc(sizeof(double) * FN * K);
    double *db = malloc(sizeof(double) * FN), *rdx = malloc(sizeof(double) * nx);
    double *rdW = malloc(sizeof(double) * FN * K), *rdb = malloc(sizeof(double) * FN);
    double *dcol = malloc(sizeof(double) * ncol);
    tfill_d(x, nx, 300 + s.N);
    tfill_d(Wf, FN * K, 301);
    tfill_d(b, FN, 302);
    tfill_d(dout, nout, 303);
    naive_im2col(rcol, x, s, oh, ow);
    for (dl_index n = 0; n < s.N; n++)
        for (dl_index f = 0; f < FN; f++)
            for (dl_index p = 0; p < P; p++) {
                double acc = 0;
                for (dl_index k = 0; k < K; k++) acc += Wf[f * K + k] * rcol[(n * P + p) * K + k];
                rout[(n * FN + f) * P + p] = acc + b[f];
            }
    dl_conv_forward_f64(out, col, x, Wf, b, s.N, s.C, s.H, s.W, FN, s.fh, s.fw, s.stride,
                        s.pad, oh, ow);
    CHECK(same_bits_d(col, rcol, ncol), "conv_forward caches im2col(x) exactly");
    /* sums of K products of |.| < 1: relative 1e-12 plus K * 1e-15 absolute */
    CHECK(tclose_d(out, rout, nout, 1e-12, 1e-15 * (double)K), "conv_forward f64 N=%ld C=%ld "
          "%ldx%ld FN=%ld f=%ldx%ld s=%ld p=%ld", (long)s.N, (long)s.C, (long)s.H, (long)s.W,
          (long)FN, (long)s.fh, (long)s.fw, (long)s.stride, (long)s.pad);
    /* backward reference: dout_r (N*P, FN) with dout_r[n*P+p, f] = dout[n, f, p] */
    for (dl_index f = 0; f < FN; f++) {
        double sb = 0;
        for (dl_index n = 0; n < s.N; n++)
            for (dl_index p = 0; p < P; p++) sb += dout[(n * FN + f) * P + p];
        rdb[f] = sb;
        for (dl_index k = 0; k < K; k++) {
            double acc = 0;
            for (dl_index n = 0; n < s.N; n++)
                for (dl_index p = 0; p < P; p++)
                    acc += dout[(n * FN + f) * P + p] * rcol[(n * P + p) * K + k];
            rdW[f * K + k] = acc;
        }
    }
    for (dl_index n = 0; n < s.N; n++)
        for (dl_index p = 0; p < P; p++)
            for (dl_index k = 0; k < K; k++) {
                double acc = 0;
                for (dl_index f = 0; f < FN; f++) acc += dout[(n * FN + f) * P + p] * Wf[f * K + k];
                dcol[(n * P + p) * K + k] = acc;
            }
    naive_col2im(rdx, dcol, s, oh, ow);
    for (dl_index i = 0; i < nx; i++) dx[i] = NAN; /* written with = */
    dl_status st = dl_conv_backward_f64(dx, dW, db, dout, col, Wf, s.N, s.C, s.H, s.W, FN,
                                        s.fh, s.fw, s.stride, s.pad, oh, ow);
    const double nred = (double)(s.N * P);
    CHECK(st == DL_OK, "conv_backward status");
    CHECK(tclose_d(db, rdb, FN, 1e-12, 1e-15 * nred), "conv_backward db");
    CHECK(tclose_d(dW, rdW, FN * K, 1e-12, 1e-15 * nred), "conv_backward dW");
    CHECK(tclose_d(dx, rdx, nx, 1e-12, 1e-15 * (double)(FN * s.fh * s.fw)), "conv_backward dx");
    /* NULL outputs are skipped and do not change the others */
    double *dW2 = malloc(sizeof(double) * FN * K);
    st = dl_conv_backward_f64(NULL, dW2, NULL, dout, col, Wf, s.N, s.C, s.H, s.W, FN, s.fh,
                              s.fw, s.stride, s.pad, oh, ow);
    CHECK(st == DL_OK && same_bits_d(dW2, dW, FN * K), "conv_backward dx=NULL db=NULL");
    double *dx2 = malloc(sizeof(double) * nx);
    st = dl_conv_backward_f64(dx2, NULL, NULL, dout, col, Wf, s.N, s.C, s.H, s.W, FN, s.fh,
                              s.fw, s.stride, s.pad, oh, ow);
    CHECK(st == DL_OK && same_bits_d(dx2, dx, nx), "conv_backward dW=NULL db=NULL");
    /* no col cache: forward gives the same output, backward_x (from x) the same gradients */
    {
        double *o3 = malloc(sizeof(double) * nout), *x3 = malloc(sizeof(double) * nx);
        double *w3 = malloc(sizeof(double) * FN * K), *b3 = malloc(sizeof(double) * FN);
        st = dl_conv_forward_f64(o3, NULL, x, Wf, b, s.N, s.C, s.H, s.W, FN, s.fh, s.fw,
                                 s.stride, s.pad, oh, ow);
        CHECK(st == DL_OK && same_bits_d(o3, out, nout), "conv_forward col=NULL same output");
        st = dl_conv_backward_x_f64(x3, w3, b3, dout, x, Wf, s.N, s.C, s.H, s.W, FN, s.fh,
                                    s.fw, s.stride, s.pad, oh, ow);
        CHECK(st == DL_OK && same_bits_d(x3, dx, nx) && same_bits_d(w3, dW, FN * K) &&
              same_bits_d(b3, db, FN), "conv_backward_x == conv_backward(col = im2col(x))");
        if (s.N > 0 && P > 0)
            CHECK(dl_conv_backward_f64(NULL, w3, NULL, dout, NULL, Wf, s.N, s.C, s.H, s.W, FN,
                                       s.fh, s.fw, s.stride, s.pad, oh, ow) == DL_ERR_ARG,
                  "conv_backward dW without col: DL_ERR_ARG");
        free(o3); free(x3); free(w3); free(b3);
    }
    /* 1 thread vs 2 threads: bitwise */
    double *o1 = malloc(sizeof(double) * nout), *c1 = malloc(sizeof(double) * ncol);
    double *x1 = malloc(sizeof(double) * nx), *w1 = malloc(sizeof(double) * FN * K);
    double *b1 = malloc(sizeof(double) * FN);
    set_threads(1);
    dl_conv_forward_f64(o1, c1, x, Wf, b, CONV_SIZES);
    dl_conv_backward_f64(x1, w1, b1, dout, c1, Wf, s.N, s.C, s.H, s.W, FN, s.fh, s.fw,
                         s.stride, s.pad, oh, ow);
    set_threads(2);
    dl_conv_forward_f64(out, col, x, Wf, b, CONV_SIZES);
    dl_conv_backward_f64(dx, dW, db, dout, col, Wf, s.N, s.C, s.H, s.W, FN, s.fh, s.fw,
                         s.stride, s.pad, oh, ow);
    CHECK(same_bits_d(o1, out, nout) && same_bits_d(x1, dx, nx) && same_bits_d(w1, dW, FN * K) &&
          same_bits_d(b1, db, FN), "conv f64 1 vs 2 threads bitwise (N=%ld)", (long)s.N);
    /* float32: the same computation on rounded operands, against the f64 reference of them */
    float *xf = malloc(sizeof(float) * nx), *Wff = malloc(sizeof(float) * FN * K);
    float *bf = malloc(sizeof(float) * FN), *outf = malloc(sizeof(float) * nout);
    float *colf = malloc(sizeof(float) * ncol), *doutf = malloc(sizeof(float) * nout);
    float *dxf = malloc(sizeof(float) * nx), *dWf = malloc(sizeof(float) * FN * K);
    float *dbf = malloc(sizeof(float) * FN);
    float *o1f = malloc(sizeof(float) * nout), *x1f = malloc(sizeof(float) * nx);
    float *w1f = malloc(sizeof(float) * FN * K), *b1f = malloc(sizeof(float) * FN);
    float *c1f = malloc(sizeof(float) * ncol);
    for (dl_index i = 0; i < nx; i++) xf[i] = (float)x[i];
    for (dl_index i = 0; i < FN * K; i++) Wff[i] = (float)Wf[i];
    for (dl_index i = 0; i < FN; i++) bf[i] = (float)b[i];
    for (dl_index i = 0; i < nout; i++) doutf[i] = (float)dout[i];
    set_threads(1);
    dl_conv_forward_f32(o1f, c1f, xf, Wff, bf, CONV_SIZES);
    dl_conv_backward_f32(x1f, w1f, b1f, doutf, c1f, Wff, s.N, s.C, s.H, s.W, FN, s.fh, s.fw,
                         s.stride, s.pad, oh, ow);
    set_threads(2);
    dl_conv_forward_f32(outf, colf, xf, Wff, bf, CONV_SIZES);
    st = dl_conv_backward_f32(dxf, dWf, dbf, doutf, colf, Wff, s.N, s.C, s.H, s.W, FN, s.fh,
                              s.fw, s.stride, s.pad, oh, ow);
    CHECK(st == DL_OK && same_bits_f(o1f, outf, nout) && same_bits_f(x1f, dxf, nx) &&
          same_bits_f(w1f, dWf, FN * K) && same_bits_f(b1f, dbf, FN) &&
          same_bits_f(c1f, colf, ncol),
          "conv f32 1 vs 2 threads bitwise (N=%ld)", (long)s.N);
    /* references in double from the rounded operands */
    for (dl_index i = 0; i < nx; i++) x[i] = xf[i];
    for (dl_index i = 0; i < FN * K; i++) Wf[i] = Wff[i];
    for (dl_index i = 0; i < FN; i++) b[i] = bf[i];
    for (dl_index i = 0; i < nout; i++) dout[i] = doutf[i];
    dl_conv_forward_f64(rout, rcol, x, Wf, b, CONV_SIZES);
    dl_conv_backward_f64(rdx, rdW, rdb, dout, rcol, Wf, s.N, s.C, s.H, s.W, FN, s.fh, s.fw,
                         s.stride, s.pad, oh, ow);
    int ok = 1;
    for (dl_index i = 0; i < nout; i++)
        if (!(fabs(outf[i] - rout[i]) <= 1e-5 * fabs(rout[i]) + 1e-7 * (double)K)) ok = 0;
    CHECK(ok, "conv_forward f32");
    ok = 1; /* float sums of up to N*P terms: 1e-5 relative plus 6e-8 per term absolute */
    for (dl_index i = 0; i < FN * K; i++)
        if (!(fabs(dWf[i] - rdW[i]) <= 1e-5 * fabs(rdW[i]) + 6e-8 * nred)) ok = 0;
    for (dl_index i = 0; i < FN; i++)
        if (!(fabs(dbf[i] - rdb[i]) <= 1e-5 * fabs(rdb[i]) + 6e-8 * nred)) ok = 0;
    CHECK(ok, "conv_backward f32 dW, db");
    ok = 1;
    for (dl_index i = 0; i < nx; i++)
        if (!(fabs(dxf[i] - rdx[i]) <= 1e-5 * fabs(rdx[i]) + 1e-7 * (double)(FN * s.fh * s.fw)))
            ok = 0;
    CHECK(ok, "conv_backward f32 dx");
    free(x); free(Wf); free(b); free(out); free(col); free(rcol); free(rout); free(dout);
    free(dx); free(dW); free(db); free(rdx); free(rdW); free(rdb); free(dcol); free(dW2);
    free(dx2); free(o1); free(c1); free(x1); free(w1); free(b1);
    free(xf); free(Wff); free(bf); free(outf); free(colf); free(doutf); free(dxf); free(dWf);
    free(dbf); free(o1f); free(x1f); free(w1f); free(b1f); free(c1f);
}

/* ---------------------------------------------------------------- pooling */
/* numpy's argmax over a window: first maximum, a NaN is the maximum (first NaN wins). */
static dl_index naive_argmax(const double *w, dl_index n)
{
    dl_index at = 0;
    for (dl_index k = 0; k < n; k++) {
        if (isnan(w[k])) return k;
        if (w[k] > w[at]) at = k;
    }
    return at;
}

static void test_pool_case(dl_index N, dl_index C, dl_index H, dl_index W, dl_index ph,
                           dl_index pw, dl_index s, int ties)
{
    const dl_index oh = (H - ph) / s + 1, ow = (W - pw) / s + 1;
    const dl_index nx = N * C * H * W, nout = N * C * oh * ow;
    double *x = malloc(sizeof(double) * nx), *out = malloc(sizeof(double) * nout);
    double *dout = malloc(sizeof(double) * nout), *dx = malloc(sizeof(double) * nx);
    double *rdx = malloc(sizeof(double) * nx), *win = malloc(sizeof(double) * ph * pw);
    int64_t *am = malloc(sizeof(int64_t) * nout), *am1 = malloc(sizeof(int64_t) * nout);
    double *o1 = malloc(sizeof(double) * nout), *dx1 = malloc(sizeof(double) * nx);
    tfill_d(x, nx, 400 + N + ph);
    if (ties) /* few distinct values: many ties, plus NaNs */
        for (dl_index i = 0; i < nx; i++) x[i] = i % 17 == 5 ? NAN : floor(x[i] * 2);
    tfill_d(dout, nout, 401);
    dl_pool_forward_f64(out, am, x, N, C, H, W, ph, pw, s, oh, ow);
    int ok = 1;
    for (dl_index n = 0; n < N; n++)
        for (dl_index c = 0; c < C; c++)
            for (dl_index i = 0; i < oh; i++)
                for (dl_index j = 0; j < ow; j++) {
                    for (dl_index u = 0; u < ph; u++)
                        for (dl_index v = 0; v < pw; v++)
                            win[u * pw + v] = x[((n * C + c) * H + i * s + u) * W + j * s + v];
                    const dl_index a = naive_argmax(win, ph * pw);
                    const dl_index pos = ((n * oh + i) * ow + j) * C + c; /* (n, oh, ow, c) */
                    const double o = out[((n * C + c) * oh + i) * ow + j];
                    if (am[pos] != a || !(o == win[a] || (isnan(o) && isnan(win[a])))) ok = 0;
                }
    CHECK(ok, "pool_forward f64 N=%ld C=%ld %ldx%ld pool %ldx%ld s=%ld ties=%d", (long)N,
          (long)C, (long)H, (long)W, (long)ph, (long)pw, (long)s, ties);
    /* backward reference: the book's dense dmax (zeros, dout at arg_max) through col2im */
    const dl_index K = C * ph * pw;
    double *dmax = calloc((size_t)(nout * ph * pw), sizeof(double));
    for (dl_index n = 0; n < N; n++)
        for (dl_index c = 0; c < C; c++)
            for (dl_index i = 0; i < oh; i++)
                for (dl_index j = 0; j < ow; j++) {
                    const dl_index row = (n * oh + i) * ow + j, pos = row * C + c;
                    dmax[row * K + c * ph * pw + am[pos]] = dout[((n * C + c) * oh + i) * ow + j];
                }
    cshape cs = {N, C, H, W, 1, ph, pw, s, 0};
    naive_col2im(rdx, dmax, cs, oh, ow);
    for (dl_index i = 0; i < nx; i++) dx[i] = NAN;
    dl_index bad = 7;
    dl_status st = dl_pool_backward_f64(dx, &bad, dout, am, N, C, H, W, ph, pw, s, oh, ow);
    CHECK(st == DL_OK && bad == -1 && same_bits_d(dx, rdx, nx),
          "pool_backward f64 bitwise = book (s=%ld pool %ldx%ld)", (long)s, (long)ph, (long)pw);
    /* threads */
    set_threads(1);
    dl_pool_forward_f64(o1, am1, x, N, C, H, W, ph, pw, s, oh, ow);
    dl_pool_backward_f64(dx1, NULL, dout, am1, N, C, H, W, ph, pw, s, oh, ow);
    set_threads(2);
    CHECK(memcmp(o1, out, sizeof(double) * nout) == 0 &&
          memcmp(am1, am, sizeof(int64_t) * nout) == 0 && same_bits_d(dx1, dx, nx),
          "pool f64 1 vs 2 threads bitwise");
    /* f32: max is exact, so out and arg_max equal the f64 results of the rounded input */
    float *xf = malloc(sizeof(float) * nx), *outf = malloc(sizeof(float) * nout);
    for (dl_index i = 0; i < nx; i++) xf[i] = (float)x[i];
    for (dl_index i = 0; i < nx; i++) x[i] = xf[i];
    dl_pool_forward_f64(out, am, x, N, C, H, W, ph, pw, s, oh, ow);
    dl_pool_forward_f32(outf, am1, xf, N, C, H, W, ph, pw, s, oh, ow);
    ok = memcmp(am1, am, sizeof(int64_t) * nout) == 0;
    for (dl_index i = 0; i < nout; i++)
        if (!((double)outf[i] == out[i] || (isnan(outf[i]) && isnan(out[i])))) ok = 0;
    CHECK(ok, "pool_forward f32 exact");
    /* an invalid arg_max is reported, not written */
    if (nout > 2) {
        am[nout - 1] = ph * pw;
        am[nout / 2] = -1;
        st = dl_pool_backward_f64(dx, &bad, dout, am, N, C, H, W, ph, pw, s, oh, ow);
        CHECK(st == DL_ERR_INDEX && bad == nout / 2, "pool_backward bad arg_max -> %ld", (long)bad);
    }
    free(x); free(out); free(dout); free(dx); free(rdx); free(win); free(am); free(am1);
    free(o1); free(dx1); free(dmax); free(xf); free(outf);
}

void run_conv_tests(void)
{
    for (size_t i = 0; i < sizeof conv_shapes / sizeof conv_shapes[0]; i++) {
        test_im2col_col2im(conv_shapes[i]);
        test_conv(conv_shapes[i]);
    }
    /* N = 0: nothing to do, sums are zero */
    double dW[4] = {1, 1, 1, 1}, db[1] = {1};
    dl_status st = dl_conv_backward_f64(NULL, dW, db, NULL, NULL, NULL, 0, 1, 3, 3, 1, 2, 2, 1,
                                        0, 2, 2);
    CHECK(st == DL_OK && dW[0] == 0 && dW[3] == 0 && db[0] == 0, "conv_backward N=0");
    CHECK(dl_conv_backward_f64(NULL, dW, db, NULL, NULL, NULL, 1, 1, 3, 3, 1, 2, 2, 0, 0, 2,
                               2) == DL_ERR_ARG, "conv_backward stride 0 -> DL_ERR_ARG");
    const dl_index pools[][7] = {
        /* N, C, H, W, ph, pw, stride */
        {1, 1, 1, 1, 1, 1, 1}, {2, 3, 5, 5, 2, 2, 2}, {2, 3, 7, 6, 3, 3, 2}, {3, 2, 6, 7, 2, 2, 1},
        {2, 4, 9, 8, 3, 3, 1}, {100, 30, 24, 24, 2, 2, 2}, {3, 2, 8, 9, 3, 2, 3},
    };
    for (size_t i = 0; i < sizeof pools / sizeof pools[0]; i++)
        for (int ties = 0; ties < 2; ties++)
            test_pool_case(pools[i][0], pools[i][1], pools[i][2], pools[i][3], pools[i][4],
                           pools[i][5], pools[i][6], ties);
}
