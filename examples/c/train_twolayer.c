/* train_twolayer.c - a two-layer network (20-10-3) trained with dlcore's C kernels alone.
 *
 * Data: three Gaussian clouds in 20 dimensions (600 training and 300 test points), made by a
 * seeded generator, so every run prints the same numbers on the same kernel path.
 * Network: Affine(20,10) -> ReLU -> Affine(10,3) -> softmax with cross-entropy, plain SGD on
 * mini-batches of 50, the book's TwoLayerNet in C. Prints the loss as it falls and the test
 * accuracy; exits 1 if the loss did not fall to below half of its starting value, 2 on an
 * error. Usage: train_twolayer [baseline|avx2|avx512]   (caps the kernel path, like DLCORE_CPU)
 */
#include <dlcore/dlcore.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { D = 20, H = 10, C = 3, N_TRAIN = 600, N_TEST = 300, BATCH = 50, EPOCHS = 30 };
static const double LR = 0.1;

/* ---- a small seeded generator (splitmix64), uniform in (0, 1) and standard normal */
static uint64_t rng_state = 0x2545F4914F6CDD1DULL;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double rng_uniform(void) { return ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0; }

static double rng_normal(void) /* Box-Muller; one value per call is enough here */
{
    const double two_pi = 6.283185307179586;
    return sqrt(-2.0 * log(rng_uniform())) * cos(two_pi * rng_uniform());
}

/* ---- data: x (n, D) around one of C centres, t (n) the centre's index */
static void make_data(double *x, int64_t *t, int n, const double *centres)
{
    for (int i = 0; i < n; i++) {
        int k = (int)(rng_next() % C);
        t[i] = k;
        for (int j = 0; j < D; j++)
            x[(size_t)i * D + j] = centres[k * D + j] + 1.5 * rng_normal();
    }
}

/* ---- the network's parameters, gradients and per-batch buffers */
typedef struct net {
    double W1[D * H], b1[H], W2[H * C], b2[C];
    double dW1[D * H], db1[H], dW2[H * C], db2[C];
    double h1[N_TEST * H], a1[N_TEST * H], s[N_TEST * C], y[N_TEST * C];
    double ds[N_TEST * C], da1[N_TEST * H];
    uint8_t mask[N_TEST * H];
} net;

static int check(dl_status st, const char *what)
{
    if (st != DL_OK) {
        fprintf(stderr, "train_twolayer: %s failed: %s\n", what, dl_status_str(st));
        return 1;
    }
    return 0;
}

/* Scores s (n, C) for x (n, D); n <= N_TEST. */
static void forward_scores(net *m, const double *x, int n)
{
    dl_affine_forward_f64(m->h1, x, m->W1, m->b1, n, D, H);
    dl_relu_forward_f64(m->a1, m->mask, m->h1, (dl_index)n * H);
    dl_affine_forward_f64(m->s, m->a1, m->W2, m->b2, n, H, C);
}

/* Mean cross-entropy loss over x (n, D), t (n); -1 on error. */
static double loss_of(net *m, const double *x, const int64_t *t, int n)
{
    double loss = 0.0;
    dl_index bad = -1;
    forward_scores(m, x, n);
    if (check(dl_softmax_xent_forward_f64(m->y, &loss, &bad, m->s, t, n, C), "softmax_xent"))
        return -1.0;
    return loss;
}

/* One SGD step on a batch; returns its loss (-1 on error). */
static double train_step(net *m, const double *x, const int64_t *t, int n)
{
    dl_index bad = -1;
    double loss = loss_of(m, x, t, n);
    if (loss < 0)
        return loss;
    if (check(dl_softmax_xent_backward_f64(m->ds, &bad, m->y, t, n, C), "softmax_xent_backward"))
        return -1.0;
    dl_affine_backward_f64(m->da1, m->dW2, m->db2, m->ds, m->a1, m->W2, n, H, C);
    dl_relu_backward_f64(m->da1, m->mask, m->da1, (dl_index)n * H); /* in place, as the book */
    dl_affine_backward_f64(NULL, m->dW1, m->db1, m->da1, x, m->W1, n, D, H);
    dl_sgd_update_f64(m->W1, m->dW1, D * H, LR);
    dl_sgd_update_f64(m->b1, m->db1, H, LR);
    dl_sgd_update_f64(m->W2, m->dW2, H * C, LR);
    dl_sgd_update_f64(m->b2, m->db2, C, LR);
    return loss;
}

static double accuracy(net *m, const double *x, const int64_t *t, int n)
{
    int right = 0;
    forward_scores(m, x, n);
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int k = 1; k < C; k++)
            if (m->s[i * C + k] > m->s[i * C + best])
                best = k;
        right += best == t[i];
    }
    return (double)right / n;
}

int main(int argc, char **argv)
{
    if (argc > 1 && dl_init(argv[1]) != DL_OK) {
        fprintf(stderr, "usage: train_twolayer [baseline|avx2|avx512]; got '%s'\n", argv[1]);
        return 2;
    }
    printf("dlcore %s: kernel path %s, BLAS %s, OpenMP %s (%d threads)\n", dl_version(),
           dl_isa_name(dl_isa_selected()), dl_blas_backend(), dl_openmp_enabled() ? "on" : "off",
           dl_get_max_threads());

    net *m = calloc(1, sizeof *m);
    double *xtr = malloc(sizeof(double) * N_TRAIN * D), *xte = malloc(sizeof(double) * N_TEST * D);
    double *xb = malloc(sizeof(double) * BATCH * D);
    int64_t *ttr = malloc(sizeof(int64_t) * N_TRAIN), *tte = malloc(sizeof(int64_t) * N_TEST);
    int64_t *tb = malloc(sizeof(int64_t) * BATCH);
    int *order = malloc(sizeof(int) * N_TRAIN);
    int rc = 2;
    if (!m || !xtr || !xte || !xb || !ttr || !tte || !tb || !order) {
        fprintf(stderr, "train_twolayer: out of memory\n");
        goto done;
    }

    double centres[C * D];
    for (int i = 0; i < C * D; i++)
        centres[i] = rng_normal();
    make_data(xtr, ttr, N_TRAIN, centres);
    make_data(xte, tte, N_TEST, centres);

    /* He initialisation for W1 (ReLU follows), a smaller scale for W2; biases zero. */
    for (int i = 0; i < D * H; i++)
        m->W1[i] = sqrt(2.0 / D) * rng_normal();
    for (int i = 0; i < H * C; i++)
        m->W2[i] = sqrt(1.0 / H) * rng_normal();

    double first = 0.0;
    for (int i = 0; i < N_TRAIN; i += N_TEST) {
        double l = loss_of(m, xtr + (size_t)i * D, ttr + i, N_TEST);
        if (l < 0)
            goto done;
        first += l * N_TEST / N_TRAIN;
    }
    printf("epoch %2d  loss %.6f  test accuracy %.3f\n", 0, first, accuracy(m, xte, tte, N_TEST));

    for (int i = 0; i < N_TRAIN; i++)
        order[i] = i;
    double last = first;
    for (int epoch = 1; epoch <= EPOCHS; epoch++) {
        for (int i = N_TRAIN - 1; i > 0; i--) { /* Fisher-Yates shuffle */
            int j = (int)(rng_next() % (uint64_t)(i + 1)), tmp = order[i];
            order[i] = order[j];
            order[j] = tmp;
        }
        double sum = 0.0;
        for (int start = 0; start < N_TRAIN; start += BATCH) {
            for (int r = 0; r < BATCH; r++) {
                memcpy(xb + (size_t)r * D, xtr + (size_t)order[start + r] * D, sizeof(double) * D);
                tb[r] = ttr[order[start + r]];
            }
            double l = train_step(m, xb, tb, BATCH);
            if (l < 0)
                goto done;
            sum += l;
        }
        last = sum / (N_TRAIN / BATCH);
        if (epoch % 5 == 0 || epoch == 1)
            printf("epoch %2d  loss %.6f  test accuracy %.3f\n", epoch, last,
                   accuracy(m, xte, tte, N_TEST));
    }
    double acc = accuracy(m, xte, tte, N_TEST);
    printf("final: loss %.6f -> %.6f, test accuracy %.3f\n", first, last, acc);
    if (!(last < 0.5 * first)) {
        fprintf(stderr, "train_twolayer: the loss did not fall below half its start\n");
        rc = 1;
    } else {
        rc = 0;
    }
done:
    free(m); free(xtr); free(xte); free(xb); free(ttr); free(tte); free(tb); free(order);
    return rc;
}
