"""dlcore's own register-tiled GEMM vs the BLAS (OpenBLAS of scipy-openblas32) on the matrix
shapes of the benchmark networks, one thread, float64 and float32, interleaved (best of 2
medians of >= 7 samples each side). This is the benchmark behind gemm.inc's choices
(gemm_tiled.inc: NN/TN tiles, NT dot tiles from k >= 4 vectors, a stack B^T below).

    python -m benchmarks.bench_gemm

Results are checked against the BLAS first (relative max error printed).
"""
import time

import numpy as np
from threadpoolctl import threadpool_limits

import dlcore
from dlcore import _kernels as K
from benchmarks._harness import machine_info, write_json

# (M, N, K, transA, transB): C (M,N) = op(A) @ op(B); the products of W1-W5's steps
SHAPES = [
    (100, 50, 784, 0, 0), (784, 50, 100, 1, 0), (100, 10, 50, 0, 0), (50, 10, 100, 1, 0),
    (100, 100, 784, 0, 0), (784, 100, 100, 1, 0), (100, 100, 100, 0, 0), (100, 100, 100, 1, 0),
    (256, 1024, 784, 0, 0), (256, 1024, 1024, 0, 0), (784, 1024, 256, 1, 0),
    (1024, 1024, 256, 1, 0), (57600, 30, 25, 0, 0), (30, 576, 25, 0, 0), (25, 576, 30, 1, 0),
    (100, 100, 4320, 0, 0), (4320, 100, 100, 1, 0), (30, 25, 57600, 1, 0),
    (100, 50, 10, 0, 1), (100, 100, 100, 0, 1), (100, 784, 100, 0, 1), (256, 1024, 1024, 0, 1),
    (256, 784, 1024, 0, 1), (100, 4320, 100, 0, 1), (57600, 25, 30, 0, 1),
]


def med(f, reps=7):
    f()
    t0 = time.perf_counter()
    f()
    n = max(1, int(0.02 / max(time.perf_counter() - t0, 1e-7)))
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(n):
            f()
        ts.append((time.perf_counter() - t0) / n)
    return float(np.median(ts))


def main():
    rows = []
    with threadpool_limits(1), dlcore.threads(1):
        for dt in (np.float64, np.float32):
            rng = np.random.default_rng(0)
            for M, N, Kk, ta, tb in SHAPES:
                A = rng.standard_normal((Kk, M) if ta else (M, Kk)).astype(dt)
                B = rng.standard_normal((N, Kk) if tb else (Kk, N)).astype(dt)
                C, C2 = np.empty((M, N), dt), np.empty((M, N), dt)
                K.gemm_own(True)
                K.gemm(C, A, ta, B, tb)
                K.gemm_own(False)
                K.gemm(C2, A, ta, B, tb)
                err = float(np.abs(C - C2).max() / np.abs(C2).max())
                res = {True: [], False: []}
                for own in (True, False, True, False):
                    K.gemm_own(own)
                    res[own].append(med(lambda: K.gemm(C, A, ta, B, tb)))
                K.gemm_own(True)
                fl = 2.0 * M * N * Kk
                o, b = min(res[True]), min(res[False])
                rows.append({"dtype": np.dtype(dt).name, "M": M, "N": N, "K": Kk, "transA": ta,
                             "transB": tb, "own_gflops": fl / o * 1e-9,
                             "blas_gflops": fl / b * 1e-9, "speedup": b / o, "rel_err": err})
                r = rows[-1]
                print(f"{r['dtype']} {M}x{N}x{Kk} tA={ta} tB={tb}: own {r['own_gflops']:6.1f} "
                      f"GFLOP/s, BLAS {r['blas_gflops']:6.1f}, own/BLAS {r['speedup']:.2f}x, "
                      f"err {err:.1e}", flush=True)
    print("wrote", write_json("bench_gemm", {"rows": rows, "machine": machine_info()}))


if __name__ == "__main__":
    main()
