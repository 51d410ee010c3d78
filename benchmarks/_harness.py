"""Shared benchmark helpers: interleaved timing, medians, machine info, JSON output."""
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np


def blas_info():
    """What threadpoolctl sees: every BLAS/OpenMP library with its kernel (core) and threads."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [{k: v for k, v in d.items() if k in ("internal_api", "prefix", "version",
                                                   "architecture", "num_threads", "filepath")}
            for d in threadpool_info()]


def machine_info():
    import dlcore
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
        "numpy": np.__version__, "dlcore": dlcore.config(), "blas": blas_info(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
    }


def time_interleaved(cases, reps=9, warmup=2, inner=None, target_s=0.02, settle=0.0,
                     clock=time.perf_counter):
    """Times each callable in ``cases`` (name -> fn), interleaving them rep by rep so that
    machine noise hits every case alike. Each sample runs fn ``inner`` times (chosen so that a
    sample takes about target_s) and records seconds per call. Returns name -> list of samples.

    ``settle`` seconds of sleep before each sample (after one warm-up call) let the idle
    threads of the previous case's thread pool stop spinning: OpenBLAS's pthread workers spin
    for ~0.1 s after a call and libgomp's for a while too, and on 2 cores a spinning idle pool
    makes the other library's threads wait for time slices (packaging note, 3c). Use it when
    comparing multi-threaded numpy with dlcore.

    ``clock`` measures the samples: wall time by default; ``time.process_time`` (CPU time of
    the process) reads single-threaded calls on a machine that other jobs load without the
    time slices they lose waiting for a core."""
    if inner is None:
        inner = {}
        for name, fn in cases.items():
            t0 = time.perf_counter()
            fn()
            dt = max(time.perf_counter() - t0, 1e-7)
            inner[name] = max(1, int(target_s / dt))
    for name, fn in cases.items():
        for _ in range(warmup * inner[name]):
            fn()
    samples = {name: [] for name in cases}
    for _ in range(reps):
        for name, fn in cases.items():
            n = inner[name]
            if settle:
                time.sleep(settle)
                # a whole sample of warm-up after the pause, so that the timed calls run as
                # warm as the back-to-back 1-thread samples: the first calls after a sleep run
                # on cold caches and a core that clocked down. With one warm-up call W1's
                # 2-thread rows read 3-25 % slower than its 1-thread rows, with a quarter
                # sample 2-11 %, with a whole sample 0-2 % (suite, W1, 15 reps, 16:40 UTC),
                # while dlcore alone (1 vs 2 threads, 500-step samples) measured both at
                # 0.1656 ms/step
                for _ in range(n):
                    fn()
            t0 = clock()
            for _ in range(n):
                fn()
            samples[name].append((clock() - t0) / n)
    return samples


def thread_case(fn, threads, fork_min_work=None):
    """fn run on ``threads`` dlcore threads (and under that fork threshold, when given): the
    callable sets them on every call (a store or two, cheap beside the smallest step), so
    interleaved cases cannot leak their settings into each other."""
    from dlcore import _kernels

    def call():
        _kernels.set_num_threads(threads)
        if fork_min_work is not None:
            _kernels.fork_min_work(fork_min_work)
        return fn()
    return call


def forks_per_call(fn):
    """OpenMP regions dlcore opens in one call of fn, after one call to warm it up."""
    from dlcore import _kernels

    fn()
    c0 = _kernels.fork_count()
    fn()
    return _kernels.fork_count() - c0


def median_ms(samples):
    return 1e3 * statistics.median(samples)


def write_json(name, payload):
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path
