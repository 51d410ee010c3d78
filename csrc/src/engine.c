/* engine.c - building a fused training engine: the plan, shape inference, workspace
 * allocation, binding of the caller's arrays (not templated; the step is tmpl/engine.inc).
 *
 * Every workspace is allocated here, by dl_engine_finish, and counted (dl_engine_alloc_count)
 * so that tests can check that a step allocates none (the layer kernels' own per-call
 * scratch, e.g. the convolution's patches, is not a workspace).
 */
#include "common.h"
#include "engine.h"

static long long dl_engine_allocs;

long long dl_engine_alloc_count(void)
{
    long long n;
    DL_OMP_ATOMIC_READ
    n = dl_engine_allocs;
    return n;
}

/* A zeroed, 64-byte aligned workspace owned by e (freed by dl_engine_free). */
static void *eng_alloc(dl_engine *e, size_t bytes)
{
    if (e->nallocs >= (int)(sizeof e->allocs / sizeof e->allocs[0]))
        return NULL;
    size_t sz = (bytes + 63) / 64 * 64;
    if (sz == 0) sz = 64;
    void *p = dl_aligned_alloc(64, sz);
    if (!p) return NULL;
    memset(p, 0, sz);
    e->allocs[e->nallocs++] = p;
#ifdef _OPENMP
#pragma omp atomic
#endif
    dl_engine_allocs++;
    return p;
}

dl_engine *dl_engine_new(int elem, dl_index cap, dl_index C, dl_index H, dl_index W)
{
    if ((elem != 4 && elem != 8) || cap < 1 || C < 1 || H < 1 || W < 1)
        return NULL;
    dl_engine *e = (dl_engine *)calloc(1, sizeof(dl_engine));
    if (!e) return NULL;
#ifdef _OPENMP
#pragma omp atomic
#endif
    dl_engine_allocs++;
    e->elem = elem;
    e->cap = cap;
    e->in_C = C;
    e->in_H = H;
    e->in_W = W;
    e->in_n = C * H * W;
    e->rng_mode = DL_RNG_COUNTER;
    return e;
}

void dl_engine_free(dl_engine *e)
{
    if (!e) return;
    for (int k = 0; k < DL_ENGINE_MAX_TWINS; k++) dl_engine_free(e->twins[k]);
    for (int i = 0; i < e->nallocs; i++) dl_aligned_free(e->allocs[i]);
    free(e);
}

/* The per-sample (C, H, W) flowing out of the last op added (the input when there is none). */
static void cur_shape(const dl_engine *e, dl_index *C, dl_index *H, dl_index *W)
{
    if (e->nops == 0) {
        *C = e->in_C, *H = e->in_H, *W = e->in_W;
        return;
    }
    const dl_eop *p = &e->ops[e->nops - 1];
    if (p->kind == DL_EOP_AFFINE) {
        *C = p->M, *H = 1, *W = 1;
    } else if (p->kind == DL_EOP_CONV) {
        *C = p->M, *H = p->oh, *W = p->ow;
    } else if (p->kind == DL_EOP_POOL) {
        *C = p->C, *H = p->oh, *W = p->ow;
    } else {
        *C = p->C, *H = p->H, *W = p->W;
    }
}

dl_status dl_engine_add(dl_engine *e, int kind, const dl_index *iargs, const double *dargs)
{
    if (!e || e->finished || e->nops >= DL_ENGINE_MAX_OPS) return DL_ERR_ARG;
    dl_eop op;
    memset(&op, 0, sizeof op);
    op.kind = kind;
    cur_shape(e, &op.C, &op.H, &op.W);
    op.in_n = op.C * op.H * op.W;
    op.out_n = op.in_n;
    switch (kind) {
    case DL_EOP_AFFINE:
        if (!iargs || iargs[0] < 1) return DL_ERR_ARG;
        op.M = iargs[0];
        op.out_n = op.M;
        op.pn[0] = op.in_n * op.M;
        op.pn[1] = op.M;
        break;
    case DL_EOP_RELU:
    case DL_EOP_SIGMOID:
        break;
    case DL_EOP_DROPOUT:
        if (!dargs || !(dargs[0] >= 0.0 && dargs[0] <= 1.0)) return DL_ERR_ARG;
        op.ratio = dargs[0];
        if (dargs[1] != 0) { /* inverted dropout: survivors scaled by 1/(1-p), test = x */
            op.scale_train = dargs[0] < 1.0 ? 1.0 / (1.0 - dargs[0]) : 0.0;
            op.scale_test = -1.0;
        } else { /* the book's: x * mask in training, x * (1 - p) at test time */
            op.scale_train = 1.0;
            op.scale_test = 1.0 - dargs[0];
        }
        break;
    case DL_EOP_BATCHNORM:
        /* (N, C, H, W) input is normalised per C*H*W feature, as the layer does */
        if (!dargs) return DL_ERR_ARG;
        op.momentum = dargs[0];
        op.eps = dargs[1];
        op.pn[0] = op.pn[1] = op.in_n;
        break;
    case DL_EOP_CONV:
        if (!iargs || iargs[0] < 1 || iargs[1] < 1 || iargs[2] < 1 || iargs[3] < 1 || iargs[4] < 0)
            return DL_ERR_ARG;
        op.M = iargs[0], op.fh = iargs[1], op.fw = iargs[2], op.stride = iargs[3], op.pad = iargs[4];
        if (op.H + 2 * op.pad < op.fh || op.W + 2 * op.pad < op.fw) return DL_ERR_ARG;
        op.oh = (op.H + 2 * op.pad - op.fh) / op.stride + 1;
        op.ow = (op.W + 2 * op.pad - op.fw) / op.stride + 1;
        op.out_n = op.M * op.oh * op.ow;
        op.pn[0] = op.M * op.C * op.fh * op.fw;
        op.pn[1] = op.M;
        break;
    case DL_EOP_POOL:
        if (!iargs || iargs[0] < 1 || iargs[1] < 1 || iargs[2] < 1) return DL_ERR_ARG;
        op.fh = iargs[0], op.fw = iargs[1], op.stride = iargs[2];
        if (op.H < op.fh || op.W < op.fw) return DL_ERR_ARG;
        op.oh = (op.H - op.fh) / op.stride + 1;
        op.ow = (op.W - op.fw) / op.stride + 1;
        op.out_n = op.C * op.oh * op.ow;
        break;
    default:
        return DL_ERR_ARG;
    }
    e->ops[e->nops++] = op;
    return DL_OK;
}

static int has_params(int kind)
{
    return kind == DL_EOP_AFFINE || kind == DL_EOP_CONV || kind == DL_EOP_BATCHNORM;
}

/* Op i's buffers of a forward pass: its output, the conv patches, the pooling argmaxes and,
 * with train, the relu and dropout masks. 0 when out of memory. */
static int eng_alloc_forward(dl_engine *e, int i, int train)
{
    dl_eop *op = &e->ops[i];
    const size_t el = (size_t)e->elem;
    const dl_index cap = e->cap;
    if (!op->scratch) {
        op->out = op->inplace ? e->ops[i - 1].out : eng_alloc(e, (size_t)(cap * op->out_n) * el);
        if (!op->out) return 0;
    }
    if (op->kind == DL_EOP_POOL) {
        op->arg = (int64_t *)eng_alloc(e, (size_t)(cap * op->out_n) * sizeof(int64_t));
        if (!op->arg) return 0;
    }
    if (train && (op->kind == DL_EOP_DROPOUT || op->kind == DL_EOP_RELU)) {
        op->mask = (uint8_t *)eng_alloc(e, (size_t)(cap * op->out_n));
        if (!op->mask) return 0;
    }
    return 1;
}

/* Conv segments (each conv with the relu/sigmoid ops and the one pooling that follow it) and
 * the ops that run in place (see dl_eop). */
static void mark_segments(dl_engine *e)
{
    for (int i = 0; i < e->nops; i++) {
        dl_eop *op = &e->ops[i];
        op->seg_end = i;
        if (op->kind != DL_EOP_CONV || op->in_seg) continue;
        int j = i + 1;
        while (j < e->nops && (e->ops[j].kind == DL_EOP_RELU || e->ops[j].kind == DL_EOP_SIGMOID))
            j++;
        if (j < e->nops && e->ops[j].kind == DL_EOP_POOL) j++;
        op->seg_end = j - 1;
        for (int k = i + 1; k < j; k++) e->ops[k].in_seg = 1;
        op->scratch = op->seg_end > i;
        for (int k = i + 1; k < op->seg_end && e->ops[k].kind == DL_EOP_RELU; k++)
            e->ops[k].scratch = 1;
    }
    for (int i = 1; i < e->nops; i++) {
        dl_eop *op = &e->ops[i];
        op->inplace = (op->kind == DL_EOP_RELU || op->kind == DL_EOP_DROPOUT) && !op->in_seg &&
                      e->ops[i - 1].kind != DL_EOP_SIGMOID;
    }
}

dl_status dl_engine_finish(dl_engine *e)
{
    if (!e || e->finished || e->nops == 0) return DL_ERR_ARG;
    const size_t el = (size_t)e->elem;
    const dl_index cap = e->cap;
    int first_param = -1;
    for (int i = 0; i < e->nops; i++)
        if (has_params(e->ops[i].kind)) { first_param = i; break; }
    if (first_param < 0) return DL_ERR_ARG;
    dl_index gmax = e->in_n;
    mark_segments(e);
    for (int i = 0; i < e->nops; i++) {
        dl_eop *op = &e->ops[i];
        op->need_dx = i > first_param;
        if (op->out_n > gmax) gmax = op->out_n;
        if (!eng_alloc_forward(e, i, 1)) return DL_ERR_NOMEM;
        if (op->kind == DL_EOP_BATCHNORM) {
            op->xc = eng_alloc(e, (size_t)(cap * op->in_n) * el);
            op->xn = eng_alloc(e, (size_t)(cap * op->in_n) * el);
            op->stat = eng_alloc(e, (size_t)(3 * op->in_n) * el);
            if (!op->xc || !op->xn || !op->stat) return DL_ERR_NOMEM;
        }
    }
    const dl_eop *last = &e->ops[e->nops - 1];
    e->classes = last->out_n;
    e->gmax = gmax;
    e->probs = eng_alloc(e, (size_t)(cap * e->classes) * el);
    e->labels = (int64_t *)eng_alloc(e, (size_t)cap * sizeof(int64_t));
    e->xbuf = eng_alloc(e, (size_t)(cap * e->in_n) * el);
    e->g0 = eng_alloc(e, (size_t)(cap * gmax) * el);
    e->g1 = eng_alloc(e, (size_t)(cap * gmax) * el);
    if (!e->probs || !e->labels || !e->xbuf || !e->g0 || !e->g1) return DL_ERR_NOMEM;
    /* the parameter list and the chunks of the one-pass update */
    int np = 0;
    dl_index nchunks = 0;
    for (int i = 0; i < e->nops; i++)
        if (has_params(e->ops[i].kind))
            for (int s = 0; s < 2; s++) {
                e->params[np].op = i;
                e->params[np].slot = s;
                e->params[np].n = e->ops[i].pn[s];
                nchunks += (e->ops[i].pn[s] + DL_ENGINE_CHUNK - 1) / DL_ENGINE_CHUNK;
                np++;
            }
    e->nparams = np;
    e->chunks = (dl_echunk *)eng_alloc(e, (size_t)nchunks * sizeof(dl_echunk));
    if (!e->chunks) return DL_ERR_NOMEM;
    int c = 0;
    for (int k = 0; k < np; k++)
        for (dl_index b = 0; b < e->params[k].n; b += DL_ENGINE_CHUNK) {
            e->chunks[c].param = k;
            e->chunks[c].begin = b;
            e->chunks[c].end = b + DL_ENGINE_CHUNK < e->params[k].n ? b + DL_ENGINE_CHUNK : e->params[k].n;
            c++;
        }
    e->nchunks = c;
    e->finished = 1;
    return DL_OK;
}

dl_engine *dl_engine_twin(dl_engine *e, int k)
{
    if (!e || !e->finished || k < 1 || k >= DL_ENGINE_MAX_TWINS) return NULL;
    if (e->twins[k]) return e->twins[k];
    dl_engine *t = (dl_engine *)malloc(sizeof(dl_engine));
    if (!t) return NULL;
    memcpy(t, e, sizeof(dl_engine));
    memset(t->twins, 0, sizeof t->twins);
    t->nallocs = 0;
    t->chunks = NULL, t->nchunks = 0;
    t->probs = t->g0 = t->g1 = t->xbuf = NULL;
    t->labels = NULL;
    int ok = 1;
    for (int i = 0; i < t->nops && ok; i++) {
        dl_eop *op = &t->ops[i];
        op->xc = op->xn = op->stat = NULL;
        op->mask = NULL;
        op->arg = NULL;
        op->g[0] = op->g[1] = op->s1[0] = op->s1[1] = op->s2[0] = op->s2[1] = NULL;
        ok = eng_alloc_forward(t, i, 0);
    }
    if (ok) {
        t->xbuf = eng_alloc(t, (size_t)(e->cap * e->in_n) * (size_t)e->elem);
        ok = t->xbuf != NULL;
    }
    if (!ok) {
        dl_engine_free(t);
        return NULL;
    }
#ifdef _OPENMP
#pragma omp atomic
#endif
    dl_engine_allocs++;
    e->twins[k] = t;
    return t;
}

dl_status dl_engine_bind(dl_engine *e, int op, int slot, void *ptr, dl_index n)
{
    if (!e || op < 0 || op >= e->nops || !ptr) return DL_ERR_ARG;
    dl_eop *o = &e->ops[op];
    if (slot >= DL_SLOT_P0 && slot <= DL_SLOT_S2_1) {
        const int s = slot & 1;
        if (!has_params(o->kind) || n != o->pn[s]) return DL_ERR_ARG;
        switch (slot >> 1) {
        case 0: o->p[s] = ptr; break;
        case 1: o->g[s] = ptr; break;
        case 2: o->s1[s] = ptr; break;
        default: o->s2[s] = ptr; break;
        }
        return DL_OK;
    }
    if (slot == DL_SLOT_RMEAN || slot == DL_SLOT_RVAR) {
        if (o->kind != DL_EOP_BATCHNORM || n != o->in_n) return DL_ERR_ARG;
        o->rs[slot - DL_SLOT_RMEAN] = ptr;
        return DL_OK;
    }
    return DL_ERR_ARG;
}

dl_status dl_engine_set_optimizer(dl_engine *e, int opt, double weight_decay)
{
    if (!e || opt < DL_OPT_NONE || opt > DL_OPT_ADAM) return DL_ERR_ARG;
    e->opt = opt;
    e->wd = weight_decay;
    return DL_OK;
}

void dl_dropout_draw(uint8_t *mask, dl_index n, double ratio, double (*next_double)(void *),
                     void *state)
{
    for (dl_index i = 0; i < n; i++) mask[i] = next_double(state) > ratio;
}

void dl_engine_set_rng(dl_engine *e, int mode, double (*next_double)(void *), void *state,
                       uint64_t seed)
{
    if (!e) return;
    e->rng_mode = (mode == DL_RNG_EXTERNAL || mode == DL_RNG_MT19937) && next_double
                      ? mode
                      : DL_RNG_COUNTER;
    e->next_double = next_double;
    e->rng_state = state;
    if (mode == DL_RNG_COUNTER) {
        e->seed = seed;
        e->step = 0;
    }
}

dl_index dl_engine_classes(const dl_engine *e) { return e ? e->classes : 0; }
dl_index dl_engine_capacity(const dl_engine *e) { return e ? e->cap : 0; }

const uint8_t *dl_engine_mask(const dl_engine *e, int op)
{
    if (!e || op < 0 || op >= e->nops || e->ops[op].kind != DL_EOP_DROPOUT) return NULL;
    return e->ops[op].mask;
}

dl_index dl_engine_out_size(const dl_engine *e, int op)
{
    if (!e || op < 0 || op >= e->nops) return -1;
    return e->ops[op].out_n;
}
