/* test_engine.c - the fused engine against naive loops: a conv(2 filters 3x3) -> relu ->
 * pool 2x2 -> affine -> relu -> affine net, one training forward/backward, SGD update;
 * workspaces allocated once (the counter does not move during steps); 1 and 2 threads give
 * the same bits. */
#include "harness.h"

enum { N = 3, C = 1, H = 6, W = 6, FN = 2, FH = 3, OH = 4, PH = 2, D1 = FN * PH * PH, M1 = 5, K = 3 };

static double relu(double v) { return v <= 0 ? 0 : v; }

/* Reference forward + backward by naive loops (the book's layer formulas). */
static double ref_step(const double *x, const int64_t *t, const double *Wc, const double *bc,
                       const double *W1, const double *b1, const double *W2, const double *b2,
                       double *dWc, double *dbc, double *dW1, double *db1, double *dW2, double *db2)
{
    double conv[N][FN][OH][OH], pool[N][D1], a1[N][M1], z[N][K];
    int arg[N][FN][PH][PH];
    for (int n = 0; n < N; n++)
        for (int f = 0; f < FN; f++)
            for (int y = 0; y < OH; y++)
                for (int xx = 0; xx < OH; xx++) {
                    double s = 0;
                    for (int i = 0; i < FH; i++)
                        for (int j = 0; j < FH; j++) s += x[n * H * W + (y + i) * W + xx + j] * Wc[f * 9 + i * 3 + j];
                    conv[n][f][y][xx] = relu(s + bc[f]);
                }
    for (int n = 0; n < N; n++)
        for (int f = 0; f < FN; f++)
            for (int y = 0; y < PH; y++)
                for (int xx = 0; xx < PH; xx++) {
                    int bi = 0;
                    double best = conv[n][f][2 * y][2 * xx];
                    for (int k = 1; k < 4; k++) {
                        double v = conv[n][f][2 * y + k / 2][2 * xx + k % 2];
                        if (v > best) best = v, bi = k;
                    }
                    pool[n][(f * PH + y) * PH + xx] = best;
                    arg[n][f][y][xx] = bi;
                }
    for (int n = 0; n < N; n++)
        for (int m = 0; m < M1; m++) {
            double s = 0;
            for (int d = 0; d < D1; d++) s += pool[n][d] * W1[d * M1 + m];
            a1[n][m] = relu(s + b1[m]);
        }
    double loss = 0, dz[N][K];
    for (int n = 0; n < N; n++) {
        double mx = -1e300, se = 0;
        for (int k = 0; k < K; k++) {
            double s = 0;
            for (int m = 0; m < M1; m++) s += a1[n][m] * W2[m * K + k];
            z[n][k] = s + b2[k];
            if (z[n][k] > mx) mx = z[n][k];
        }
        for (int k = 0; k < K; k++) se += exp(z[n][k] - mx);
        for (int k = 0; k < K; k++) dz[n][k] = (exp(z[n][k] - mx) / se - (k == t[n])) / N;
        loss -= log(exp(z[n][t[n]] - mx) / se + 1e-7);
    }
    double da1[N][M1], dpool[N][D1], dconv[N][FN][OH][OH];
    memset(dW2, 0, sizeof(double) * M1 * K); memset(db2, 0, sizeof(double) * K);
    memset(dW1, 0, sizeof(double) * D1 * M1); memset(db1, 0, sizeof(double) * M1);
    memset(dWc, 0, sizeof(double) * FN * 9); memset(dbc, 0, sizeof(double) * FN);
    memset(dconv, 0, sizeof dconv);
    for (int n = 0; n < N; n++) {
        for (int k = 0; k < K; k++) {
            db2[k] += dz[n][k];
            for (int m = 0; m < M1; m++) dW2[m * K + k] += a1[n][m] * dz[n][k];
        }
        for (int m = 0; m < M1; m++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += dz[n][k] * W2[m * K + k];
            da1[n][m] = a1[n][m] == 0 ? 0 : s;
            db1[m] += da1[n][m];
            for (int d = 0; d < D1; d++) dW1[d * M1 + m] += pool[n][d] * da1[n][m];
        }
        for (int d = 0; d < D1; d++) {
            double s = 0;
            for (int m = 0; m < M1; m++) s += da1[n][m] * W1[d * M1 + m];
            dpool[n][d] = s;
        }
        for (int f = 0; f < FN; f++)
            for (int y = 0; y < PH; y++)
                for (int xx = 0; xx < PH; xx++) {
                    int k = arg[n][f][y][xx];
                    dconv[n][f][2 * y + k / 2][2 * xx + k % 2] += dpool[n][(f * PH + y) * PH + xx];
                }
        for (int f = 0; f < FN; f++)
            for (int y = 0; y < OH; y++)
                for (int xx = 0; xx < OH; xx++) {
                    double g = conv[n][f][y][xx] == 0 ? 0 : dconv[n][f][y][xx];
                    dbc[f] += g;
                    for (int i = 0; i < FH; i++)
                        for (int j = 0; j < FH; j++) dWc[f * 9 + i * 3 + j] += g * x[n * H * W + (y + i) * W + xx + j];
                }
    }
    return loss / N;
}

static dl_engine *build(double *P[6], double *G[6])
{
    dl_engine *e = dl_engine_new(8, N, C, H, W);
    const dl_index conv[5] = {FN, FH, FH, 1, 0}, pool[3] = {2, 2, 2}, a1[1] = {M1}, a2[1] = {K};
    dl_engine_add(e, DL_EOP_CONV, conv, NULL);
    dl_engine_add(e, DL_EOP_RELU, NULL, NULL);
    dl_engine_add(e, DL_EOP_POOL, pool, NULL);
    dl_engine_add(e, DL_EOP_AFFINE, a1, NULL);
    dl_engine_add(e, DL_EOP_RELU, NULL, NULL);
    dl_engine_add(e, DL_EOP_AFFINE, a2, NULL);
    if (dl_engine_finish(e) != DL_OK) return e;
    const dl_index sz[6] = {FN * 9, FN, D1 * M1, M1, M1 * K, K};
    const int op[3] = {0, 3, 5};
    for (int i = 0; i < 6; i++) {
        dl_engine_bind(e, op[i / 2], DL_SLOT_P0 + i % 2, P[i], sz[i]);
        dl_engine_bind(e, op[i / 2], DL_SLOT_G0 + i % 2, G[i], sz[i]);
    }
    dl_engine_set_optimizer(e, DL_OPT_SGD, 0.0);
    return e;
}

void run_engine_tests(void)
{
    const dl_index sz[6] = {FN * 9, FN, D1 * M1, M1, M1 * K, K};
    double x[N * H * W], *P[6], *G[6], *R[6];
    int64_t t[N] = {0, 2, 1};
    tfill_d(x, N * H * W, 31);
    for (int i = 0; i < 6; i++) {
        P[i] = malloc(sizeof(double) * sz[i]);
        G[i] = malloc(sizeof(double) * sz[i]);
        R[i] = malloc(sizeof(double) * sz[i]);
        tfill_d(P[i], sz[i], 40 + i);
    }
    dl_engine *e = build(P, G);
    CHECK(e != NULL, "engine built");
    double loss = 0;
    dl_index bad = -1;
    const long long a0 = dl_engine_alloc_count();
    dl_status s = dl_engine_forward_f64(e, NULL, &loss, &bad, x, DL_TYPE_F64, t, DL_TYPE_I64, N, 1);
    CHECK(s == DL_OK, "forward status %d", (int)s);
    s = dl_engine_backward_f64(e);
    CHECK(s == DL_OK, "backward status %d", (int)s);
    double rl = ref_step(x, t, P[0], P[1], P[2], P[3], P[4], P[5], R[0], R[1], R[2], R[3], R[4], R[5]);
    CHECK(fabs(loss - rl) <= 1e-12 * fabs(rl), "engine loss %.17g vs naive %.17g", loss, rl);
    for (int i = 0; i < 6; i++)
        CHECK(tclose_d(G[i], R[i], sz[i], 1e-11, 1e-13), "engine gradient %d vs naive", i);
    double p0 = P[2][3], g0 = G[2][3];
    s = dl_engine_update_f64(e, 0.5, 0, 0, 0);
    CHECK(s == DL_OK && P[2][3] == p0 - 0.5 * g0, "SGD update in place");
    CHECK(dl_engine_alloc_count() == a0, "no allocation during a step");
    /* 1 vs 2 threads: same bits */
    double g1[D1 * M1];
    set_threads(1);
    dl_engine_forward_f64(e, NULL, &loss, &bad, x, DL_TYPE_F64, t, DL_TYPE_I64, N, 1);
    dl_engine_backward_f64(e);
    memcpy(g1, G[2], sizeof g1);
    set_threads(2);
    dl_engine_forward_f64(e, NULL, &loss, &bad, x, DL_TYPE_F64, t, DL_TYPE_I64, N, 1);
    dl_engine_backward_f64(e);
    CHECK(memcmp(g1, G[2], sizeof g1) == 0, "same gradient bits on 1 and 2 threads");
    /* errors: bad label, backward without forward, batch over capacity */
    int64_t tb[N] = {0, 3, 1};
    s = dl_engine_forward_f64(e, NULL, &loss, &bad, x, DL_TYPE_F64, tb, DL_TYPE_I64, N, 1);
    CHECK(s == DL_ERR_INDEX && bad == 1, "bad label reported (%d, row %d)", (int)s, (int)bad);
    CHECK(dl_engine_backward_f64(e) == DL_ERR_ARG, "backward needs a training forward");
    CHECK(dl_engine_forward_f64(e, NULL, &loss, &bad, x, DL_TYPE_F64, t, DL_TYPE_I64, N + 1, 1) == DL_ERR_ARG,
          "batch over capacity refused");
    CHECK(dl_engine_forward_f32(e, NULL, &loss, &bad, x, DL_TYPE_F64, t, DL_TYPE_I64, N, 1) == DL_ERR_ARG,
          "dtype mismatch refused");
    dl_engine_free(e);
    for (int i = 0; i < 6; i++) { free(P[i]); free(G[i]); free(R[i]); }
}
