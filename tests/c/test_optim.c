/* test_optim.c - optimizer updates and dropout masks against the book's formulas. */
#include "harness.h"

void run_optim_tests(void)
{
    const dl_index n = 40001;
    double *p = malloc(sizeof(double) * n), *g = malloc(sizeof(double) * n);
    double *m = malloc(sizeof(double) * n), *v = malloc(sizeof(double) * n);
    double *rp = malloc(sizeof(double) * n), *rm = malloc(sizeof(double) * n);
    double *rv = malloc(sizeof(double) * n);
    tfill_d(p, n, 21); tfill_d(g, n, 22); tfill_d(m, n, 23); tfill_d(v, n, 24);
    for (dl_index i = 0; i < n; i++) v[i] = fabs(v[i]);
    memcpy(rp, p, sizeof(double) * n); memcpy(rm, m, sizeof(double) * n);
    memcpy(rv, v, sizeof(double) * n);
    dl_adam_update_f64(p, m, v, g, n, 0.01, 0.9, 0.999, 1e-7);
    int ok = 1;
    for (dl_index i = 0; i < n; i++) {
        rm[i] += (1 - 0.9) * (g[i] - rm[i]);
        rv[i] += (1 - 0.999) * (g[i] * g[i] - rv[i]);
        rp[i] -= 0.01 * rm[i] / (sqrt(rv[i]) + 1e-7);
        if (p[i] != rp[i] || m[i] != rm[i] || v[i] != rv[i]) ok = 0;
    }
    CHECK(ok, "adam f64 matches the book's statements exactly");
    dl_momentum_update_f64(p, m, g, n, 0.01, 0.9);
    ok = 1;
    for (dl_index i = 0; i < n; i++) {
        rm[i] = 0.9 * rm[i] - 0.01 * g[i];
        rp[i] += rm[i];
        if (p[i] != rp[i] || m[i] != rm[i]) ok = 0;
    }
    CHECK(ok, "momentum f64 exact");
    dl_nesterov_update_f64(p, m, g, n, 0.01, 0.9);
    ok = 1;
    for (dl_index i = 0; i < n; i++) {
        rp[i] += 0.9 * 0.9 * rm[i];
        rp[i] -= (1 + 0.9) * 0.01 * g[i];
        rm[i] *= 0.9;
        rm[i] -= 0.01 * g[i];
        if (p[i] != rp[i] || m[i] != rm[i]) ok = 0;
    }
    CHECK(ok, "nesterov f64 exact");
    uint8_t *mask = malloc(n);
    for (dl_index i = 0; i < n; i++) mask[i] = (uint8_t)(i % 3 != 0);
    dl_dropout_forward_f64(m, g, mask, n, 1.0 / 0.8);
    ok = 1;
    for (dl_index i = 0; i < n; i++) if (m[i] != g[i] * (double)mask[i] * (1.0 / 0.8)) ok = 0;
    CHECK(ok, "inverted dropout exact");
    free(p); free(g); free(m); free(v); free(rp); free(rm); free(rv); free(mask);
}
