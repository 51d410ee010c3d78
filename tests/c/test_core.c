/* test_core.c - gemm, activations, softmax/cross entropy and affine against naive loops,
 * and bitwise equality of 1-thread and 2-thread results. */
#include "harness.h"

static void naive_gemm(double *C, const double *A, int tA, const double *B, int tB, dl_index M,
                       dl_index N, dl_index K, double alpha, double beta)
{
    for (dl_index i = 0; i < M; i++)
        for (dl_index j = 0; j < N; j++) {
            double s = 0;
            for (dl_index k = 0; k < K; k++)
                s += (tA ? A[k * M + i] : A[i * K + k]) * (tB ? B[j * K + k] : B[k * N + j]);
            C[i * N + j] = alpha * s + beta * C[i * N + j];
        }
}

static void test_gemm(void)
{
    const dl_index shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {100, 50, 784}, {17, 33, 65}, {64, 1, 9}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int tA = 0; tA < 2; tA++)
            for (int tB = 0; tB < 2; tB++) {
                const dl_index M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                double *A = malloc(sizeof(double) * M * K), *B = malloc(sizeof(double) * K * N);
                double *C = malloc(sizeof(double) * M * N), *R = malloc(sizeof(double) * M * N);
                double *Q = malloc(sizeof(double) * M * N);
                tfill_d(A, M * K, 1 + s);
                tfill_d(B, K * N, 2 + s);
                tfill_d(C, M * N, 3 + s);
                memcpy(R, C, sizeof(double) * M * N);
                memcpy(Q, C, sizeof(double) * M * N);
                dl_gemm_f64(C, N, A, tA ? M : K, tA, B, tB ? K : N, tB, M, N, K, 0.5, 2.0);
                dl_gemm_ref_f64(Q, N, A, tA ? M : K, tA, B, tB ? K : N, tB, M, N, K, 0.5, 2.0);
                naive_gemm(R, A, tA, B, tB, M, N, K, 0.5, 2.0);
                CHECK(tclose_d(C, R, M * N, 1e-12, 1e-12), "gemm f64 %ldx%ldx%ld tA=%d tB=%d",
                      (long)M, (long)N, (long)K, tA, tB);
                CHECK(tclose_d(Q, R, M * N, 1e-12, 1e-12), "gemm_ref f64 %ldx%ldx%ld", (long)M,
                      (long)N, (long)K);
                /* f32 against the f64 result of the same (rounded) operands */
                float *Af = malloc(sizeof(float) * M * K), *Bf = malloc(sizeof(float) * K * N);
                float *Cf = malloc(sizeof(float) * M * N), *Rf = malloc(sizeof(float) * M * N);
                for (dl_index i = 0; i < M * K; i++) Af[i] = (float)A[i];
                for (dl_index i = 0; i < K * N; i++) Bf[i] = (float)B[i];
                dl_gemm_f32(Cf, N, Af, tA ? M : K, tA, Bf, tB ? K : N, tB, M, N, K, 1.0f, 0.0f);
                dl_gemm_ref_f32(Rf, N, Af, tA ? M : K, tA, Bf, tB ? K : N, tB, M, N, K, 1.0f, 0.0f);
                /* f32: K products of |x| < 1 summed in float; 1e-5 relative plus K * 2^-24 absolute */
                CHECK(tclose_f(Cf, Rf, M * N, 1e-5, (double)K * 6e-8), "gemm f32 %ldx%ldx%ld",
                      (long)M, (long)N, (long)K);
                free(A); free(B); free(C); free(R); free(Q); free(Af); free(Bf); free(Cf); free(Rf);
            }
}

static void test_activations(void)
{
    const dl_index n = 100003; /* odd; forks on 2 threads (test_kernels.c lowers the threshold) */
    double *x = malloc(sizeof(double) * n), *y = malloc(sizeof(double) * n);
    double *y2 = malloc(sizeof(double) * n), *d = malloc(sizeof(double) * n);
    uint8_t *m = malloc(n);
    tfill_d(x, n, 7);
    for (dl_index i = 0; i < n; i++) x[i] *= 50; /* reach exp overflow territory */
    x[0] = 0.0; x[1] = -0.0; x[2] = NAN; x[3] = 800; x[4] = -800;
    dl_relu_forward_f64(y, m, x, n);
    int ok = 1;
    for (dl_index i = 0; i < n; i++) {
        const double want = x[i] <= 0 ? 0.0 : x[i];
        if (!(y[i] == want || (isnan(want) && isnan(y[i]))) || m[i] != (x[i] <= 0)) ok = 0;
    }
    CHECK(ok, "relu_forward f64");
    tfill_d(d, n, 8);
    memcpy(y2, d, sizeof(double) * n);
    dl_relu_backward_f64(y2, m, y2, n); /* in place, like the book */
    ok = 1;
    for (dl_index i = 0; i < n; i++) if (y2[i] != (m[i] ? 0.0 : d[i])) ok = 0;
    CHECK(ok, "relu_backward f64 in place");
    /* sigmoid is 1 / (1 + e) with e = dlcore's exp(-x) (vexp.inc), exactly; that exp is
     * within 2 ulp of libm's (each is within 1 ulp of the true value) */
    dl_sigmoid_forward_f64(y, x, n);
    for (dl_index i = 0; i < n; i++) y2[i] = -x[i];
    dl_exp_f64(y2, y2, n);
    ok = 1;
    for (dl_index i = 3; i < n; i++) {
        if (y[i] != 1.0 / (1.0 + y2[i])) ok = 0;
        const double e = exp(-x[i]);
        if (isfinite(e) && e > 0 && fabs(y2[i] - e) > 2 * (nextafter(e, INFINITY) - e)) ok = 0;
        if (!isfinite(e) && y2[i] != e) ok = 0;
    }
    CHECK(ok && y[3] == 1.0 && y[4] == 0.0 && isnan(y[2]), "sigmoid_forward f64 exact");
    dl_sigmoid_backward_f64(y2, d, y, n);
    ok = 1;
    for (dl_index i = 0; i < n; i++) {
        const double want = d[i] * (1.0 - y[i]) * y[i];
        if (!(y2[i] == want || (isnan(want) && isnan(y2[i])))) ok = 0;
    }
    CHECK(ok, "sigmoid_backward f64 exact");
    free(x); free(y); free(y2); free(d); free(m);
}

static void test_softmax_affine(void)
{
    const dl_index N = 2050, C = 10, D = 33; /* N spans several reduction chunks */
    double *x = malloc(sizeof(double) * N * C), *y = malloc(sizeof(double) * N * C);
    double *dx = malloc(sizeof(double) * N * C);
    int64_t *t = malloc(sizeof(int64_t) * N);
    tfill_d(x, N * C, 11);
    for (dl_index i = 0; i < N; i++) t[i] = (i * 7) % C;
    double loss = 0, want = 0;
    dl_index bad = 0;
    CHECK(dl_softmax_xent_forward_f64(y, &loss, &bad, x, t, N, C) == DL_OK, "softmax_xent ok");
    int ok = 1;
    for (dl_index i = 0; i < N; i++) {
        double mx = x[i * C], s = 0;
        for (dl_index j = 1; j < C; j++) if (x[i * C + j] > mx) mx = x[i * C + j];
        for (dl_index j = 0; j < C; j++) s += exp(x[i * C + j] - mx);
        for (dl_index j = 0; j < C; j++)
            if (fabs(y[i * C + j] - exp(x[i * C + j] - mx) / s) > 1e-15) ok = 0;
        want -= log(exp(x[i * C + t[i]] - mx) / s + 1e-7);
    }
    want /= N;
    CHECK(ok, "softmax rows");
    CHECK(fabs(loss - want) <= 1e-12 * fabs(want), "xent loss %.17g vs %.17g", loss, want);
    CHECK(dl_softmax_xent_backward_f64(dx, &bad, y, t, N, C) == DL_OK, "xent backward ok");
    ok = 1;
    for (dl_index i = 0; i < N; i++)
        for (dl_index j = 0; j < C; j++)
            if (dx[i * C + j] != (y[i * C + j] - (j == t[i])) / (double)N) ok = 0;
    CHECK(ok, "xent backward values");
    t[1500] = C; /* out of range */
    CHECK(dl_softmax_xent_forward_f64(y, &loss, &bad, x, t, N, C) == DL_ERR_INDEX && bad == 1500,
          "bad label reported (bad=%ld)", (long)bad);
    t[1500] = -1;
    CHECK(dl_cross_entropy_forward_f64(&loss, &bad, y, t, N, C) == DL_ERR_INDEX && bad == 1500,
          "negative label reported");

    /* affine forward/backward against naive loops, and 1 vs 2 threads bitwise */
    double *a = malloc(sizeof(double) * N * D), *W = malloc(sizeof(double) * D * C);
    double *b = malloc(sizeof(double) * C), *out = malloc(sizeof(double) * N * C);
    double *out2 = malloc(sizeof(double) * N * C), *dW = malloc(sizeof(double) * D * C);
    double *dW2 = malloc(sizeof(double) * D * C), *db = malloc(sizeof(double) * C);
    double *db2 = malloc(sizeof(double) * C), *da = malloc(sizeof(double) * N * D);
    double *da2 = malloc(sizeof(double) * N * D);
    tfill_d(a, N * D, 12); tfill_d(W, D * C, 13); tfill_d(b, C, 14);
    set_threads(1);
    dl_affine_forward_f64(out, a, W, b, N, D, C);
    dl_affine_backward_f64(da, dW, db, x, a, W, N, D, C);
    set_threads(2);
    dl_affine_forward_f64(out2, a, W, b, N, D, C);
    dl_affine_backward_f64(da2, dW2, db2, x, a, W, N, D, C);
    CHECK(!memcmp(out, out2, sizeof(double) * N * C) && !memcmp(da, da2, sizeof(double) * N * D) &&
          !memcmp(dW, dW2, sizeof(double) * D * C) && !memcmp(db, db2, sizeof(double) * C),
          "affine bitwise equal on 1 and 2 threads");
    ok = 1;
    for (dl_index i = 0; i < N && ok; i++)
        for (dl_index j = 0; j < C; j++) {
            double s = 0;
            for (dl_index k = 0; k < D; k++) s += a[i * D + k] * W[k * C + j];
            if (fabs(out[i * C + j] - (s + b[j])) > 1e-12 * (1 + fabs(s))) ok = 0;
        }
    CHECK(ok, "affine forward");
    { /* float32 x into float64 parameters: the same bits as affine_forward on x converted */
        float *a32 = malloc(sizeof(float) * N * D);
        double *a64 = malloc(sizeof(double) * N * D), *o32 = malloc(sizeof(double) * N * C);
        for (dl_index k = 0; k < N * D; k++) a64[k] = (double)(a32[k] = (float)a[k]);
        int same = 1;
        for (int th = 1; th <= 2; th++) {
            set_threads(th);
            dl_affine_forward_f64(out2, a64, W, b, N, D, C);
            same &= dl_affine_forward_x32_f64(o32, a32, W, b, N, D, C) == DL_OK &&
                    !memcmp(o32, out2, sizeof(double) * N * C);
            dl_affine_forward_x32_f64(o32, a32, W, b, N - 7, D, C); /* a partial row block */
            same &= !memcmp(o32, out2, sizeof(double) * (N - 7) * C);
        }
        CHECK(same, "affine_forward_x32 == affine_forward of the converted x, 1 and 2 threads");
        free(a32); free(a64); free(o32);
    }
    ok = 1;
    for (dl_index j = 0; j < C; j++) {
        double s = 0;
        for (dl_index i = 0; i < N; i++) s += x[i * C + j];
        if (fabs(db[j] - s) > 1e-12 * (1 + fabs(s))) ok = 0;
        for (dl_index k = 0; k < D; k++) {
            double w = 0;
            for (dl_index i = 0; i < N; i++) w += a[i * D + k] * x[i * C + j];
            if (fabs(dW[k * C + j] - w) > 1e-12 * (1 + fabs(w))) ok = 0;
        }
    }
    for (dl_index i = 0; i < N; i++)
        for (dl_index k = 0; k < D; k++) {
            double s = 0;
            for (dl_index j = 0; j < C; j++) s += x[i * C + j] * W[k * C + j];
            if (fabs(da[i * D + k] - s) > 1e-12 * (1 + fabs(s))) ok = 0;
        }
    CHECK(ok, "affine backward");
    free(x); free(y); free(dx); free(t); free(a); free(W); free(b); free(out); free(out2);
    free(dW); free(dW2); free(db); free(db2); free(da); free(da2);
}

void run_core_tests(void)
{
    test_gemm();
    test_activations();
    test_softmax_affine();
}
