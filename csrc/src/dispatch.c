/* dispatch.c - run-time selection of the kernel path, and the public dl_* entry points.
 *
 * Each path (baseline / avx2 / avx512) is one compilation of kernels_isa.c; this file builds
 * one function table per compiled path from kernels.def, picks the best the CPU supports once
 * (at load, or when dl_init is called with a cap such as DLCORE_CPU=avx2), and forwards every
 * public dl_<op>_<f32|f64> call through the selected table. Compiled for the baseline only.
 */
#include "common.h"
#include "blas.h"

#if defined(DL_X86_DISPATCH)
#define DL_HAVE_AVX2 1
#define DL_HAVE_AVX512 1
#else
#define DL_HAVE_AVX2 0
#define DL_HAVE_AVX512 0
#endif

typedef struct dl_table {
#define DL_KERNEL(ret, name, params, args) ret(*name##_f64) params;
#define DL_T double
#include "dlcore/kernels.def"
#undef DL_T
#undef DL_KERNEL
#define DL_KERNEL(ret, name, params, args) ret(*name##_f32) params;
#define DL_T float
#include "dlcore/kernels.def"
#undef DL_T
#undef DL_KERNEL
    /* not per dtype (tmpl/mt19937.inc) */
    int (*mt19937_doubles)(double *u, dl_index n, dl_mt19937 *s);
    int (*dropout_draw_mt19937)(uint8_t *mask, dl_index n, double ratio, dl_mt19937 *s);
} dl_table;

/* Declarations and the table of one path; DL_SFX is the path's suffix. */
#define DL_SFX _baseline
#include "isa_table.inc"
#undef DL_SFX
#if DL_HAVE_AVX2
#define DL_SFX _avx2
#include "isa_table.inc"
#undef DL_SFX
#endif
#if DL_HAVE_AVX512
#define DL_SFX _avx512
#include "isa_table.inc"
#undef DL_SFX
#endif

static const dl_table *dl_active = &dl_table_baseline;
static dl_isa dl_active_isa = DL_ISA_BASELINE;

#if DL_HAVE_AVX2
/* CPU features from cpuid and xgetbv directly: __builtin_cpu_supports needs libgcc's
 * __cpu_model, which some toolchains (zig cc, used for the manylinux2014 wheel) do not fill
 * in, and it would then answer 0 everywhere. */
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
static void dl_cpuid(unsigned leaf, unsigned sub, unsigned r[4])
{
    int v[4];
    __cpuidex(v, (int)leaf, (int)sub);
    for (int i = 0; i < 4; i++) r[i] = (unsigned)v[i];
}
static unsigned long long dl_xcr0(void) { return _xgetbv(0); }
#else
#include <cpuid.h>
static void dl_cpuid(unsigned leaf, unsigned sub, unsigned r[4])
{
    r[0] = r[1] = r[2] = r[3] = 0;
    if (leaf <= __get_cpuid_max(leaf & 0x80000000u, NULL))
        __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}
/* xgetbv as raw bytes (0f 01 d0): no -mxsave needed on the baseline compile. */
static unsigned long long dl_xcr0(void)
{
    unsigned lo, hi;
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#endif

/* 2: avx512 (F, CD, BW, DQ, VL + the avx2 set, zmm/opmask state enabled by the OS),
 * 1: avx2 (AVX2, FMA, BMI2, ymm state enabled), 0: neither. */
static int dl_x86_level(void)
{
    static int level = -1;
    if (level >= 0)
        return level;
    unsigned l1[4], l7[4];
    dl_cpuid(1, 0, l1);
    dl_cpuid(7, 0, l7);
    int lvl = 0;
    const int osxsave = (l1[2] >> 27) & 1, avx = (l1[2] >> 28) & 1, fma = (l1[2] >> 12) & 1;
    if (osxsave && avx) {
        const unsigned long long xcr0 = dl_xcr0();
        const int ymm_os = (xcr0 & 0x6) == 0x6, zmm_os = (xcr0 & 0xe6) == 0xe6;
        const unsigned b = l7[1];
        const int avx2 = (b >> 5) & 1, bmi2 = (b >> 8) & 1;
        const int f = (b >> 16) & 1, dq = (b >> 17) & 1, cd = (b >> 28) & 1,
                  bw = (b >> 30) & 1, vl = (b >> 31) & 1;
        if (ymm_os && avx2 && fma && bmi2) {
            lvl = 1;
            if (zmm_os && f && dq && cd && bw && vl)
                lvl = 2;
        }
    }
    level = lvl;
    return level;
}
#endif

#if DL_HAVE_AVX2
/* The L2 from the deterministic cache parameters (leaf 4 on Intel, 0x8000001d on AMD: one
 * subleaf per cache, size = ways x partitions x line x sets), else leaf 0x80000006 (ECX bits
 * 31-16: KB), which some hypervisors fill in with another value than leaf 4's. */
static dl_index dl_l2_from_leaf(unsigned leaf)
{
    for (unsigned i = 0; i < 16; i++) {
        unsigned r[4];
        dl_cpuid(leaf, i, r);
        const unsigned type = r[0] & 0x1f, level = (r[0] >> 5) & 0x7;
        if (type == 0)
            break;
        if (level == 2 && (type == 1 || type == 3))
            return (dl_index)((r[1] >> 22) + 1) * (dl_index)(((r[1] >> 12) & 0x3ff) + 1) *
                   (dl_index)((r[1] & 0xfff) + 1) * (dl_index)((dl_index)r[2] + 1);
    }
    return 0;
}

dl_index dl_l2_bytes(void)
{
    dl_index b = dl_l2_from_leaf(4);
    if (b == 0)
        b = dl_l2_from_leaf(0x8000001du);
    if (b == 0) {
        unsigned r[4];
        dl_cpuid(0x80000006u, 0, r);
        b = (dl_index)(r[2] >> 16) * 1024;
    }
    return b;
}
#else
dl_index dl_l2_bytes(void) { return 0; }
#endif

/* set once by dl_init (kernels read it from any thread) */
static dl_index dl_panel_set = 0, dl_panel_cpu = 512 * 1024;

static void dl_panel_init(void)
{
    const dl_index l2 = dl_l2_bytes();
    dl_index b = l2 > 0 ? l2 / 5 * 2 : 512 * 1024;
    dl_panel_cpu = b < 64 * 1024 ? 64 * 1024 : b > 4 * 1024 * 1024 ? 4 * 1024 * 1024 : b;
}

dl_index dl_gemm_panel_bytes(void) { return dl_panel_set > 0 ? dl_panel_set : dl_panel_cpu; }

void dl_set_gemm_panel_bytes(dl_index bytes) { dl_panel_set = bytes > 0 ? bytes : 0; }

int dl_isa_supported(dl_isa isa)
{
    switch (isa) {
    case DL_ISA_BASELINE:
        return 1;
#if DL_HAVE_AVX2
    case DL_ISA_AVX2:
        return dl_x86_level() >= 1;
#endif
#if DL_HAVE_AVX512
    case DL_ISA_AVX512:
        return dl_x86_level() >= 2;
#endif
    default:
        return 0;
    }
}

const char *dl_isa_name(dl_isa isa)
{
    switch (isa) {
    case DL_ISA_BASELINE: return "baseline";
    case DL_ISA_AVX2: return "avx2";
    case DL_ISA_AVX512: return "avx512";
    default: return "unknown";
    }
}

dl_isa dl_isa_selected(void) { return dl_active_isa; }

static void dl_select(dl_isa isa)
{
    switch (isa) {
#if DL_HAVE_AVX512
    case DL_ISA_AVX512: dl_active = &dl_table_avx512; break;
#endif
#if DL_HAVE_AVX2
    case DL_ISA_AVX2: dl_active = &dl_table_avx2; break;
#endif
    default: dl_active = &dl_table_baseline; isa = DL_ISA_BASELINE; break;
    }
    dl_active_isa = isa;
}

dl_status dl_init(const char *request)
{
    dl_isa cap = DL_ISA_AVX512;
    if (request != NULL && request[0] != '\0') {
        if (strcmp(request, "baseline") == 0)
            cap = DL_ISA_BASELINE;
        else if (strcmp(request, "avx2") == 0)
            cap = DL_ISA_AVX2;
        else if (strcmp(request, "avx512") == 0)
            cap = DL_ISA_AVX512;
        else
            return DL_ERR_ARG;
    }
    dl_isa best = DL_ISA_BASELINE;
    for (int i = DL_ISA_BASELINE; i <= (int)cap; i++)
        if (dl_isa_supported((dl_isa)i))
            best = (dl_isa)i;
    dl_select(best);
    dl_panel_init();
    dl_blas_init();
    return DL_OK;
}

static void dl_threads_init(void);

#if defined(__GNUC__)
/* Select at load time so that C users who never call dl_init still get the best path. */
__attribute__((constructor)) static void dl_init_at_load(void)
{
    dl_threads_init();
    if (dl_init(getenv("DLCORE_CPU")) != DL_OK)
        dl_init(NULL);
}
#endif

int dl_openmp_enabled(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* Thread count. OpenMP's omp_set_num_threads sets an ICV of the calling thread only, so the
 * count set through dl_set_num_threads is a process-wide value read by every kernel call:
 * dl_threads_set (0: none set, each thread follows its own OpenMP ICV). A thread whose ICV
 * differs from the process's OpenMP default (dl_threads_default, read when the library loads)
 * had it changed on purpose (threadpoolctl's limits, omp_set_num_threads), and gets the
 * smaller of the two. Every count is capped at dl_max_threads_cap(). */
#ifdef _OPENMP
static int dl_threads_set;
static int dl_threads_default = -1;
#endif
static int dl_threads_cap = 64;
int dl_fork_procs = 1 << 30; /* set by dl_threads_init */

static void dl_threads_init(void)
{
#ifdef _OPENMP
    if (dl_threads_default >= 0)
        return;
    dl_threads_default = omp_get_max_threads();
    const int procs = omp_get_num_procs();
    dl_threads_cap = procs > 16 ? 4 * procs : 64;
    dl_fork_procs = procs < 1 ? 1 : procs;
#endif
}

int dl_max_threads_cap(void)
{
    dl_threads_init();
    return dl_threads_cap;
}

int dl_get_max_threads(void)
{
#ifdef _OPENMP
    dl_threads_init();
    const int icv = omp_get_max_threads();
    int set;
    DL_OMP_ATOMIC_READ
    set = dl_threads_set;
    int n = icv;
    if (set > 0)
        n = (icv != dl_threads_default && icv < set) ? icv : set;
    if (n > dl_threads_cap)
        n = dl_threads_cap;
    return n < 1 ? 1 : n;
#else
    return 1;
#endif
}

static long long dl_forks;
double dl_omp_min_work = DL_OMP_MIN_WORK;

double dl_fork_min_work(double work)
{
    const double old = dl_omp_min_work;
    if (work > 0)
        dl_omp_min_work = work;
    return old;
}

void dl_fork_note(void)
{
#ifdef _OPENMP
#pragma omp atomic
#endif
    dl_forks++;
}

long long dl_fork_count(void)
{
    long long n;
    DL_OMP_ATOMIC_READ
    n = dl_forks;
    return n;
}

void dl_set_num_threads(int n)
{
#ifdef _OPENMP
    dl_threads_init();
    if (n < 0)
        return;
    if (n > dl_threads_cap)
        n = dl_threads_cap;
    DL_OMP_ATOMIC_WRITE
    dl_threads_set = n;
#else
    (void)n;
#endif
}

const char *dl_status_str(dl_status s)
{
    switch (s) {
    case DL_OK: return "ok";
    case DL_ERR_INDEX: return "index out of range";
    case DL_ERR_NOMEM: return "out of memory";
    case DL_ERR_ARG: return "invalid argument";
    default: return "unknown status";
    }
}

#ifndef DLCORE_VERSION
#define DLCORE_VERSION "unknown"
#endif
const char *dl_version(void) { return DLCORE_VERSION; }

/* The public entry points: forward to the selected table. */
#define DL_RET_void
#define DL_RET_dl_status return
#define DL_KERNEL(ret, name, params, args) \
    ret dl_##name##_f64 params { DL_RET_##ret dl_active->name##_f64 args; }
#define DL_T double
#include "dlcore/kernels.def"
#undef DL_T
#undef DL_KERNEL
#define DL_KERNEL(ret, name, params, args) \
    ret dl_##name##_f32 params { DL_RET_##ret dl_active->name##_f32 args; }
#define DL_T float
#include "dlcore/kernels.def"
#undef DL_T
#undef DL_KERNEL

int dl_mt19937_doubles(double *u, dl_index n, dl_mt19937 *s)
{
    return dl_active->mt19937_doubles(u, n, s);
}

int dl_dropout_draw_mt19937(uint8_t *mask, dl_index n, double ratio, dl_mt19937 *s)
{
    return dl_active->dropout_draw_mt19937(mask, n, ratio, s);
}
