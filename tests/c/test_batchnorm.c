/* test_batchnorm.c - batch normalization kernels against naive per-column loops (the book's
 * formulas written out one column at a time), f64 and f32, and bitwise equality of the
 * 1-thread and 2-thread results (test_kernels.c lowers the fork threshold: every
 * multi-block loop forks). */
#include "harness.h"

#define EPS 1e-6

/* Naive training forward + backward over columns, double precision throughout. */
static void naive_bn(double *out, double *xc, double *xn, double *sd, double *mean, double *var,
                     double *dx, double *dgamma, double *dbeta, const double *x,
                     const double *gamma, const double *beta, const double *dout, dl_index N,
                     dl_index D)
{
    for (dl_index j = 0; j < D; j++) {
        double mu = 0, v = 0;
        for (dl_index i = 0; i < N; i++) mu += x[i * D + j];
        mu /= (double)N;
        for (dl_index i = 0; i < N; i++) {
            xc[i * D + j] = x[i * D + j] - mu;
            v += xc[i * D + j] * xc[i * D + j];
        }
        v /= (double)N;
        mean[j] = mu;
        var[j] = v;
        sd[j] = sqrt(v + EPS);
        for (dl_index i = 0; i < N; i++) {
            xn[i * D + j] = xc[i * D + j] / sd[j];
            out[i * D + j] = gamma[j] * xn[i * D + j] + beta[j];
        }
        /* backward */
        double db = 0, dg = 0, dstd = 0, dmu = 0;
        for (dl_index i = 0; i < N; i++) {
            const double d = dout[i * D + j];
            db += d;
            dg += xn[i * D + j] * d;
            dstd -= gamma[j] * d * xc[i * D + j] / (sd[j] * sd[j]);
        }
        const double dvar = 0.5 * dstd / sd[j];
        for (dl_index i = 0; i < N; i++) {
            dx[i * D + j] = gamma[j] * dout[i * D + j] / sd[j] +
                            2.0 / (double)N * xc[i * D + j] * dvar;
            dmu += dx[i * D + j];
        }
        for (dl_index i = 0; i < N; i++) dx[i * D + j] -= dmu / (double)N;
        dbeta[j] = db;
        dgamma[j] = dg;
    }
}

static double max_abs(const double *a, dl_index n)
{
    double m = 0;
    for (dl_index i = 0; i < n; i++) m = fabs(a[i]) > m ? fabs(a[i]) : m;
    return m;
}

/* Everything of one shape: kernel f64 vs naive, f32 vs naive, 1 vs 2 threads bitwise. */
static void check_shape(dl_index N, dl_index D, unsigned long long seed)
{
    const dl_index n = N * D;
    double *x = malloc(sizeof(double) * n), *dout = malloc(sizeof(double) * n);
    double *g = malloc(sizeof(double) * D), *b = malloc(sizeof(double) * D);
    double *rm = malloc(sizeof(double) * D), *rv = malloc(sizeof(double) * D);
    /* reference */
    double *R[6], *Rd[3];
    for (int k = 0; k < 3; k++) R[k] = malloc(sizeof(double) * n); /* out, xc, xn */
    for (int k = 3; k < 6; k++) R[k] = malloc(sizeof(double) * D); /* std, mean, var */
    Rd[0] = malloc(sizeof(double) * n);
    Rd[1] = malloc(sizeof(double) * D);
    Rd[2] = malloc(sizeof(double) * D);
    /* kernel results, [0] on 1 thread and [1] on 2 threads */
    double *K[2][6], *Kd[2][3], *Kt[2];
    for (int t = 0; t < 2; t++) {
        for (int k = 0; k < 3; k++) K[t][k] = malloc(sizeof(double) * n);
        for (int k = 3; k < 6; k++) K[t][k] = malloc(sizeof(double) * D);
        Kd[t][0] = malloc(sizeof(double) * n);
        Kd[t][1] = malloc(sizeof(double) * D);
        Kd[t][2] = malloc(sizeof(double) * D);
        Kt[t] = malloc(sizeof(double) * n);
    }
    tfill_d(x, n, seed);
    tfill_d(dout, n, seed + 1);
    tfill_d(g, D, seed + 2);
    tfill_d(b, D, seed + 3);
    tfill_d(rm, D, seed + 4);
    tfill_d(rv, D, seed + 5);
    for (dl_index i = 0; i < n; i++) x[i] = 3.0 * x[i] + 0.5; /* a nonzero mean per column */
    for (dl_index j = 0; j < D; j++) rv[j] = fabs(rv[j]);
    naive_bn(R[0], R[1], R[2], R[3], R[4], R[5], Rd[0], Rd[1], Rd[2], x, g, b, dout, N, D);

    for (int t = 0; t < 2; t++) {
        set_threads(t + 1);
        dl_batchnorm_forward_train_f64(K[t][0], K[t][1], K[t][2], K[t][3], K[t][4], K[t][5], x,
                                       g, b, N, D, EPS);
        dl_batchnorm_backward_f64(Kd[t][0], Kd[t][1], Kd[t][2], dout, K[t][2], K[t][1],
                                  K[t][3], g, N, D);
        dl_batchnorm_forward_test_f64(Kt[t], x, g, b, rm, rv, N, D, EPS);
    }
    set_threads(2);
    const char *names[6] = {"out", "xc", "xn", "std", "mean", "var"};
    for (int k = 0; k < 6; k++) {
        const dl_index m = k < 3 ? n : D;
        CHECK(tclose_d(K[0][k], R[k], m, 1e-12, 1e-12 * (max_abs(R[k], m) + 1)),
              "bn train f64 %s %ldx%ld", names[k], (long)N, (long)D);
        CHECK(memcmp(K[0][k], K[1][k], sizeof(double) * m) == 0,
              "bn train f64 %s 1 vs 2 threads %ldx%ld", names[k], (long)N, (long)D);
    }
    /* backward sums cancel (dmu is ~0): atol relative to the magnitude of the terms */
    const double sc = max_abs(Rd[0], n) + max_abs(dout, n) * max_abs(g, D) / R[3][0] + 1;
    CHECK(tclose_d(Kd[0][0], Rd[0], n, 1e-10, 1e-10 * sc), "bn backward f64 dx %ldx%ld",
          (long)N, (long)D);
    CHECK(tclose_d(Kd[0][1], Rd[1], D, 1e-12, 1e-12 * (double)N), "bn backward f64 dgamma");
    CHECK(tclose_d(Kd[0][2], Rd[2], D, 1e-12, 1e-12 * (double)N), "bn backward f64 dbeta");
    for (int k = 0; k < 3; k++)
        CHECK(memcmp(Kd[0][k], Kd[1][k], sizeof(double) * (k ? D : n)) == 0,
              "bn backward f64 output %d 1 vs 2 threads %ldx%ld", k, (long)N, (long)D);
    int ok = 1;
    for (dl_index i = 0; i < N && ok; i++)
        for (dl_index j = 0; j < D; j++) {
            const double r = g[j] * ((x[i * D + j] - rm[j]) / sqrt(rv[j] + EPS)) + b[j];
            if (Kt[0][i * D + j] != r) { ok = 0; break; }
        }
    CHECK(ok, "bn test f64 exact %ldx%ld", (long)N, (long)D);
    CHECK(memcmp(Kt[0], Kt[1], sizeof(double) * n) == 0, "bn test f64 1 vs 2 threads");

    /* f32: the same operands rounded to float, against the f64 reference */
    float *xf = malloc(sizeof(float) * n), *df = malloc(sizeof(float) * n);
    float *gf = malloc(sizeof(float) * D), *bf = malloc(sizeof(float) * D);
    float *F[6], *Fd[3];
    for (int k = 0; k < 3; k++) F[k] = malloc(sizeof(float) * n);
    for (int k = 3; k < 6; k++) F[k] = malloc(sizeof(float) * D);
    Fd[0] = malloc(sizeof(float) * n);
    Fd[1] = malloc(sizeof(float) * D);
    Fd[2] = malloc(sizeof(float) * D);
    for (dl_index i = 0; i < n; i++) { xf[i] = (float)x[i]; df[i] = (float)dout[i]; }
    for (dl_index j = 0; j < D; j++) { gf[j] = (float)g[j]; bf[j] = (float)b[j]; }
    /* the reference from the rounded operands */
    for (dl_index i = 0; i < n; i++) { x[i] = xf[i]; dout[i] = df[i]; }
    for (dl_index j = 0; j < D; j++) { g[j] = gf[j]; b[j] = bf[j]; }
    naive_bn(R[0], R[1], R[2], R[3], R[4], R[5], Rd[0], Rd[1], Rd[2], x, g, b, dout, N, D);
    dl_batchnorm_forward_train_f32(F[0], F[1], F[2], F[3], F[4], F[5], xf, gf, bf, N, D, EPS);
    dl_batchnorm_backward_f32(Fd[0], Fd[1], Fd[2], df, F[2], F[1], F[3], gf, N, D);
    /* float32: a few roundings of |values| <= ~10 per element; 1e-5 relative, 1e-5 * scale */
    for (int k = 0; k < 6; k++) {
        const dl_index m = k < 3 ? n : D;
        double *tmp = malloc(sizeof(double) * m);
        for (dl_index i = 0; i < m; i++) tmp[i] = F[k][i];
        CHECK(tclose_d(tmp, R[k], m, 1e-5, 1e-5 * (max_abs(R[k], m) + 1)),
              "bn train f32 %s %ldx%ld", names[k], (long)N, (long)D);
        free(tmp);
    }
    {
        double *tmp = malloc(sizeof(double) * n);
        for (dl_index i = 0; i < n; i++) tmp[i] = Fd[0][i];
        CHECK(tclose_d(tmp, Rd[0], n, 1e-4, 1e-4 * sc), "bn backward f32 dx %ldx%ld", (long)N,
              (long)D);
        for (dl_index j = 0; j < D; j++) tmp[j] = Fd[1][j];
        CHECK(tclose_d(tmp, Rd[1], D, 1e-5, 1e-5 * (double)N), "bn backward f32 dgamma");
        for (dl_index j = 0; j < D; j++) tmp[j] = Fd[2][j];
        CHECK(tclose_d(tmp, Rd[2], D, 1e-5, 1e-5 * (double)N), "bn backward f32 dbeta");
        free(tmp);
    }

    free(x); free(dout); free(g); free(b); free(rm); free(rv); free(xf); free(df); free(gf);
    free(bf);
    for (int k = 0; k < 6; k++) { free(R[k]); free(F[k]); free(K[0][k]); free(K[1][k]); }
    for (int k = 0; k < 3; k++) { free(Rd[k]); free(Fd[k]); free(Kd[0][k]); free(Kd[1][k]); }
    free(Kt[0]); free(Kt[1]);
}

void run_batchnorm_tests(void)
{
    const dl_index shapes[][2] = {{1, 1}, {1, 7}, {2, 3}, {7, 65}, {100, 100}, {64, 1000},
                                  {3000, 5}, {33, 4321}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        check_shape(shapes[s][0], shapes[s][1], 100 + 10 * s);

    /* N == 1: var 0, std sqrt(eps), xn 0, out = beta; backward dx 0 */
    double x[3] = {1.5, -2.0, 7.0}, g[3] = {2, 3, 4}, b[3] = {0.1, 0.2, 0.3};
    double out[3], xc[3], xn[3], sd[3], mu[3], var[3], dx[3], dg[3], db[3];
    double dout[3] = {1, -1, 2};
    dl_batchnorm_forward_train_f64(out, xc, xn, sd, mu, var, x, g, b, 1, 3, EPS);
    CHECK(out[0] == 0.1 && out[1] == 0.2 && out[2] == 0.3 && var[0] == 0 &&
              sd[1] == sqrt(EPS) && mu[2] == 7.0,
          "bn N=1 gives beta");
    dl_batchnorm_backward_f64(dx, dg, db, dout, xn, xc, sd, g, 1, 3);
    CHECK(dx[0] == 0 && dx[1] == 0 && dx[2] == 0 && db[2] == 2 && dg[0] == 0,
          "bn N=1 backward: dx 0, dbeta = dout");
}
