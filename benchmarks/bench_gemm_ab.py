"""Two builds' own GEMM in one process: this dlcore's ``_kernels`` against another build's
(``pip install --no-deps --target DIR`` of it), loaded side by side, the same products timed
alternately in process CPU time, one thread.

    python -m benchmarks.bench_gemm_ab --against DIR [--dtype float64] [--reps 11]
                                       [--shapes "M,N,K,tA,tB;..."]

One process and interleaved samples cancel what separate runs cannot: this machine class's
speed moves by 20-40 % between runs (the same product read 31 and 50 GFLOP/s an hour apart),
while the paired ratio here stays within a few percent. A one-second warm-up comes first (without
it the first shape's ratio read 0.88-1.10 between identical builds). The other build's
extension is loaded under another module name; its C kernels are linked into it, so the two
builds share no symbols. Each shape's results are also compared bit for bit (the own
kernels' packing and tiling never change a sum, so two builds that only move data agree).

Prints GFLOP/s of both and the median of the per-sample ratios (>1: this build is faster);
writes results/bench_gemm_ab.json.
"""
import argparse
import glob
import importlib.machinery
import importlib.util
import os
import time

import numpy as np

import dlcore
from dlcore import _kernels as K
from benchmarks._harness import machine_info, write_json
from benchmarks.bench_gemm import SHAPES


def load_other(site):
    """The _kernels extension of the dlcore installed under site, as a separate module."""
    found = glob.glob(os.path.join(site, "dlcore", "_kernels*.so")) + \
        glob.glob(os.path.join(site, "dlcore", "_kernels*.pyd"))
    if not found:
        raise SystemExit(f"bench_gemm_ab: no dlcore/_kernels extension under {site!r}")
    name = "dlcore_other._kernels"
    loader = importlib.machinery.ExtensionFileLoader(name, found[0])
    spec = importlib.util.spec_from_file_location(name, found[0], loader=loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    mod.init(os.environ.get("DLCORE_CPU") or None)
    return mod


def sample(k, C, A, ta, B, tb, seconds=0.02):
    """Process seconds per product, over as many calls as fill `seconds`."""
    t0, n = time.process_time(), 0
    while True:
        k.gemm(C, A, ta, B, tb)
        n += 1
        el = time.process_time() - t0
        if el > seconds:
            return el / n


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--against", required=True, help="site dir of the other build")
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--reps", type=int, default=11)
    ap.add_argument("--shapes", default="", help='"M,N,K,tA,tB;..." (default: bench_gemm\'s)')
    args = ap.parse_args(argv)
    shapes = [tuple(int(v) for v in s.split(",")) for s in args.shapes.split(";")] \
        if args.shapes else SHAPES
    other = load_other(args.against)
    dt = np.dtype(args.dtype)
    rows = []
    with dlcore.threads(1):
        other.set_num_threads(1)
        w = np.ones((256, 256), dt)
        c = np.empty((256, 256), dt)
        t0 = time.time()
        while time.time() - t0 < 1.0:  # warm-up: clocks and caches, both builds
            K.gemm(c, w, 0, w, 0)
            other.gemm(c, w, 0, w, 0)
        rng = np.random.default_rng(0)
        for M, N, Kk, ta, tb in shapes:
            A = rng.standard_normal((Kk, M) if ta else (M, Kk)).astype(dt)
            B = rng.standard_normal((N, Kk) if tb else (Kk, N)).astype(dt)
            C1, C2 = np.empty((M, N), dt), np.empty((M, N), dt)
            K.gemm(C1, A, ta, B, tb)
            other.gemm(C2, A, ta, B, tb)
            same = bool(np.array_equal(C1, C2))
            t_this, t_other = [], []
            for _ in range(args.reps):
                t_other.append(sample(other, C2, A, ta, B, tb))
                t_this.append(sample(K, C1, A, ta, B, tb))
            fl = 2.0 * M * N * Kk
            ratio = float(np.median(np.array(t_other) / np.array(t_this)))
            rows.append({"dtype": dt.name, "M": M, "N": N, "K": Kk, "transA": ta,
                         "transB": tb, "this_gflops": fl / np.median(t_this) * 1e-9,
                         "other_gflops": fl / np.median(t_other) * 1e-9,
                         "speed_this_vs_other": ratio, "same_bits": same})
            r = rows[-1]
            print(f"{dt.name} {M}x{N}x{Kk} tA={ta} tB={tb}: this {r['this_gflops']:6.1f} "
                  f"GFLOP/s, other {r['other_gflops']:6.1f}, this/other speed {ratio:.2f}x, "
                  f"same bits {same}", flush=True)
    print("wrote", write_json("bench_gemm_ab", {"rows": rows, "against": args.against,
                                                "reps": args.reps, "machine": machine_info()}))


if __name__ == "__main__":
    main()
