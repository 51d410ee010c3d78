import numpy as np, time, sys
import dlcore
from dlcore import _kernels as K
from threadpoolctl import threadpool_limits
shapes = [  # (M, N, K, transA) C = op(A) @ B
 (100, 50, 784, 0), (784, 50, 100, 1), (100, 10, 50, 0), (50, 10, 100, 1),
 (100, 100, 784, 0), (784, 100, 100, 1), (100, 100, 100, 0), (100, 100, 100, 1),
 (256, 1024, 784, 0), (256, 1024, 1024, 0), (784, 1024, 256, 1), (1024, 1024, 256, 1),
 (57600, 30, 25, 0), (100, 100, 4320, 0), (4320, 100, 100, 1), (30, 25, 57600, 1)]
def med(f, r=7):
    f(); n = 1; t0 = time.perf_counter(); f(); dt = time.perf_counter() - t0
    n = max(1, int(0.02 / max(dt, 1e-7)))
    ts = []
    for _ in range(r):
        t0 = time.perf_counter()
        for _ in range(n): f()
        ts.append((time.perf_counter() - t0) / n)
    return np.median(ts)
with threadpool_limits(1), dlcore.threads(1):
  for dt in (np.float64, np.float32):
    rng = np.random.default_rng(0)
    for M, N, Kk, ta in shapes:
        A = rng.standard_normal((Kk, M) if ta else (M, Kk)).astype(dt); B = rng.standard_normal((Kk, N)).astype(dt)
        C = np.empty((M, N), dt); C2 = np.empty((M, N), dt)
        K.gemm_own(True); K.gemm(C, A, ta, B, 0)
        K.gemm_own(False); K.gemm(C2, A, ta, B, 0)
        err = np.abs(C - C2).max() / np.abs(C2).max()
        res = {}
        for own in (True, False, True, False):
            K.gemm_own(own)
            res.setdefault(own, []).append(med(lambda: K.gemm(C, A, ta, B, 0)))
        fl = 2.0 * M * N * Kk
        o, b = min(res[True]), min(res[False])
        print(f"{np.dtype(dt).name} {M}x{N}x{Kk} tA={ta}: own {fl/o*1e-9:6.1f} GF/s  blas {fl/b*1e-9:6.1f} GF/s  own/blas speed {b/o:5.2f}  err {err:.1e}")
K.gemm_own(True)
print("NT (C = A @ B^T)")
with threadpool_limits(1), dlcore.threads(1):
  for dt in (np.float64, np.float32):
    rng = np.random.default_rng(0)
    for M, N, Kk in [(100, 50, 10), (100, 100, 100), (100, 784, 100), (256, 1024, 1024), (256, 784, 1024), (100, 4320, 100), (57600, 25, 30)]:
        A = rng.standard_normal((M, Kk)).astype(dt); B = rng.standard_normal((N, Kk)).astype(dt)
        C = np.empty((M, N), dt); C2 = np.empty((M, N), dt)
        K.gemm_own(True); K.gemm(C, A, 0, B, 1)
        K.gemm_own(False); K.gemm(C2, A, 0, B, 1)
        err = np.abs(C - C2).max() / np.abs(C2).max()
        res = {}
        for own in (True, False, True, False):
            K.gemm_own(own)
            res.setdefault(own, []).append(med(lambda: K.gemm(C, A, 0, B, 1)))
        fl = 2.0 * M * N * Kk
        o, b = min(res[True]), min(res[False])
        print(f"{np.dtype(dt).name} {M}x{N}x{Kk} NT: own {fl/o*1e-9:6.1f} GF/s  blas {fl/b*1e-9:6.1f} GF/s  own/blas speed {b/o:5.2f}  err {err:.1e}")
K.gemm_own(True)
