"""Where should dlcore's elementwise/row kernels fork? Measured on the suite's workloads.

    python -m benchmarks.bench_fork_work [--workloads W1,W2,W3,W4,W5,I2] [--reps 7]
                                          [--thresholds 32768,262144,2097152,inf]

For each workload and dtype, dlcore's fused step and the book way (net.gradient +
optimizer.update) run on 1 thread and on 2 threads under each fork threshold
(`_kernels.fork_min_work`: the work from which DL_PARALLEL_FOR forks; own GEMMs and the fused
update keep their own thresholds, DL_OWN_GEMM_FORK_FLOP and DL_ENGINE_UPDATE_FORK). All cases
of a workload are interleaved sample by sample, each sample after the same 0.3 s pause and a
whole sample of warm-up (benchmarks/_harness.py), so no case is measured colder than another.
Each callable sets its own thread count and threshold on every call (two stores), so the
cases cannot leak state into each other. The row also counts the OpenMP regions one call
opens (`_kernels.fork_count`). Output: benchmarks/results/fork_work.json and a markdown table.
"""
import argparse
import statistics
import sys

import numpy as np

from dlcore import _kernels
from benchmarks import suite
from benchmarks._harness import (forks_per_call, machine_info, thread_case, time_interleaved,
                                write_json)


def run(workloads, thresholds, reps, impls=("fused", "book")):
    data = suite.load_data()[:4]
    default = _kernels.fork_min_work()
    rows = []
    try:
        for wname in workloads:
            w = suite.WORKLOADS[wname]
            for dt in (np.float64, np.float32):
                g = suite.Group(wname, w, dt, data, ["numpy", *impls], None)
                cases = {}
                for impl in impls:
                    if impl not in g.cases:
                        continue
                    cases[f"{impl} 1thr"] = thread_case(g.cases[impl], 1, default)
                    for th in thresholds:
                        cases[f"{impl} 2thr {th:g}"] = thread_case(g.cases[impl], 2, th)
                forks = {k: forks_per_call(fn) for k, fn in cases.items()}
                s = time_interleaved(cases, reps=reps, warmup=1,
                                     target_s=0.0 if w.get("infer") else 0.05, settle=0.3)
                ms = {k: 1e3 * statistics.median(v) for k, v in s.items()}
                row = {"workload": wname, "dtype": np.dtype(dt).name, "ms": ms, "forks": forks,
                       "samples_ms": {k: [1e3 * x for x in v] for k, v in s.items()},
                       "loadavg": suite._loadavg()}
                rows.append(row)
                print(f"{wname} {np.dtype(dt).name}: " + ", ".join(
                    f"{k} {ms[k]:.3f} ms ({forks[k]} forks)" for k in ms), flush=True)
    finally:
        _kernels.fork_min_work(default)
        _kernels.set_num_threads(1)
    return rows


def table(rows, thresholds, impls=("fused", "book")):
    head = "| workload | dtype | impl | 1 thr ms | " + " | ".join(
        f"2 thr, fork from {t:g}: ms (forks/call, x vs 1 thr)" for t in thresholds) + " | load |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        for impl in impls:
            one = r["ms"].get(f"{impl} 1thr")
            if one is None:
                continue
            cells = []
            for t in thresholds:
                k = f"{impl} 2thr {t:g}"
                cells.append(f"{r['ms'][k]:.3f} ({r['forks'][k]}, {one / r['ms'][k]:.2f}x)")
            lines.append(f"| {r['workload']} | {r['dtype'][5:]} | {impl} | {one:.3f} | "
                         + " | ".join(cells) + f" | {r['loadavg'][0]:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default="W1,W2,W3,W4,W5,I2")
    ap.add_argument("--thresholds", default="32768,262144,2097152,inf")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--out", default="fork_work")
    args = ap.parse_args(argv)
    thresholds = [float(t) for t in args.thresholds.split(",")]
    if not all(t > 0 for t in thresholds):
        ap.error(f"--thresholds: expected positive numbers; got {args.thresholds}")
    thresholds = [1e300 if t == float("inf") else t for t in thresholds]
    rows = run(args.workloads.split(","), thresholds, args.reps)
    md = table(rows, thresholds)
    print(md)
    path = write_json(args.out, {"command": "python -m benchmarks.bench_fork_work " +
                                 " ".join(argv or sys.argv[1:]), "rows": rows,
                                 "thresholds": thresholds, "machine": machine_info()})
    (path.parent / f"{args.out}.md").write_text(md + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
