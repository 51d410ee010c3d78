/* engine.h - the fused training engine's plan (internal; public API in dlcore.h).
 *
 * An engine is a small static graph: a chain of ops (affine, relu, sigmoid, dropout,
 * batchnorm, conv, pool) ending in softmax-with-loss, built once for a batch capacity, with
 * every activation, gradient and scratch buffer allocated by dl_engine_finish. Parameters,
 * their gradients and optimizer states are NOT owned: they are pointers bound to the
 * caller's arrays (the book network's params dict, the optimizer's state dicts), so that the
 * fused and the per-layer paths read and write the same memory. The step itself
 * (tmpl/engine.inc) allocates no workspace; the layer kernels it calls take their own
 * per-call scratch as they do for the layers (the convolution's patches and, in a conv
 * segment, its per-thread sample outputs).
 */
#ifndef DLCORE_ENGINE_H
#define DLCORE_ENGINE_H

#include "dlcore/dlcore.h"

#define DL_ENGINE_MAX_OPS 64
#define DL_ENGINE_CHUNK 8192 /* elements per chunk of the one-pass optimizer update */
/* The one-pass update forks from this many parameters (W1's 40k stay serial: a fork costs
 * more than the ~5 us pass; W4's 1.9M split), see DL_OWN_GEMM_FORK_FLOP in common.h. */
#define DL_ENGINE_UPDATE_FORK 262144
/* predict splits its batch-capacity chunks over at most this many threads */
#define DL_ENGINE_MAX_TWINS 16

/* One op of the plan. Activations are the layers' own layouts (NCHW, or (N, D) rows); every
 * op writes its own output buffer, except a relu or dropout after an op whose backward does
 * not read its output (all but sigmoid), which writes over its input (inplace): no backward
 * ever reads a buffer that a later op overwrote. Each op caches exactly what its layer class
 * caches. */
typedef struct dl_eop {
    int kind;         /* DL_EOP_* */
    int need_dx;      /* 0 when nothing upstream needs the input gradient (first param op) */
    /* conv segments: a conv's seg_end is the last op of the relu/sigmoid run and optional
     * pooling after it, which its per-sample pass runs (seg_end == the conv's own index: none);
     * in_seg is 1 for those ops (the pass runs them, not the op loop) */
    int seg_end, in_seg;
    /* relu / dropout writing over its input (the previous op's output): set where no
     * backward reads that buffer (every op's backward but sigmoid's reads its own caches,
     * masks or input, never its output) */
    int inplace;
    /* a conv, or a relu right after one (or after such a relu), inside a conv segment and
     * not its last op: its output is one sample's, in the conv's per-thread scratch (the relu
     * writes over it), never a batch array: nothing after the segment's pass reads it (the
     * relu's backward reads its mask, a pooling's its argmaxes) */
    int scratch;
    dl_index in_n, out_n; /* elements per sample */
    dl_index C, H, W;     /* input (C,H,W) per sample (D,1,1 for flat inputs) */
    dl_index M;           /* affine: output features; conv: filters (FN) */
    dl_index fh, fw, stride, pad, oh, ow; /* conv / pool geometry (pool: fh x fw window) */
    double ratio, scale_train, scale_test; /* dropout (scale_test < 0: identity) */
    double momentum, eps; /* batchnorm */
    /* bound (caller-owned) arrays: p[0] W or gamma, p[1] b or beta; g[] their gradients;
     * s1[]/s2[] optimizer states per parameter; rs[0]/rs[1] running mean/var */
    void *p[2], *g[2], *s1[2], *s2[2], *rs[2];
    dl_index pn[2];       /* elements of p[0], p[1] */
    /* engine-owned buffers */
    void *out;            /* (cap, out_n) activation; NULL for a scratch op */
    void *xc, *xn, *stat; /* batchnorm: (cap, D) x 2, and 3*D stats (mean, var, std) */
    uint8_t *mask;        /* relu (x <= 0) / dropout (kept) mask, cap*out_n bytes */
    int64_t *arg;         /* pool argmax, cap*out_n: the Pooling layer's (n, oh, ow, c) order,
                           * or (n, c, oh, ow) in a conv segment (read back plane by plane) */
} dl_eop;

typedef struct dl_eparam { /* one parameter array in the one-pass update: op's slot */
    int op, slot;
    dl_index n;
} dl_eparam;

typedef struct dl_echunk {
    int param;
    dl_index begin, end;
} dl_echunk;

struct dl_engine {
    int elem;             /* sizeof(T): 4 or 8 */
    int finished;
    dl_index cap;         /* batch capacity */
    dl_index in_C, in_H, in_W, in_n;
    dl_index classes;     /* width of the last op's output (the logits) */
    int nops;
    dl_eop ops[DL_ENGINE_MAX_OPS];
    /* loss */
    void *probs;          /* (cap, classes) */
    int64_t *labels;      /* (cap) */
    void *xbuf;           /* (cap, in_n) converted input, when x's dtype differs */
    void *g0, *g1;        /* gradient ping-pong buffers (cap * max activation) */
    dl_index gmax;
    const void *x;        /* the current step's input and its rows (set by forward) */
    const void *tdense;   /* dense (one-hot) targets of the current step, or NULL */
    dl_index N;
    int have_grads;
    /* optimizer */
    int opt;              /* DL_OPT_* */
    double wd;            /* weight decay lambda (added to dW of affine layers, as the book's nets) */
    int nparams;
    dl_eparam params[2 * DL_ENGINE_MAX_OPS];
    int nchunks;
    dl_echunk *chunks;
    /* dropout randomness */
    int rng_mode;         /* DL_RNG_EXTERNAL, DL_RNG_MT19937 (numpy's stream) or DL_RNG_COUNTER */
    double (*next_double)(void *);
    void *rng_state;
    uint64_t seed, step;
    /* parallel inference: twins[k] is thread k's forward-only copy (k >= 1; see
     * dl_engine_twin), made on the first predict that uses k + 1 threads */
    struct dl_engine *twins[DL_ENGINE_MAX_TWINS];
    /* bookkeeping */
    void *allocs[8 * DL_ENGINE_MAX_OPS + 16];
    int nallocs;
};

/* Thread k's (k >= 1) forward-only copy of e: the same plan and bound parameters, its own
 * activations, conv patches, pooling argmaxes and input buffer (all that a test-mode forward
 * writes). Allocated on first use (counted like every workspace) and freed with e; NULL when
 * out of memory. */
dl_engine *dl_engine_twin(dl_engine *e, int k);

#endif /* DLCORE_ENGINE_H */
