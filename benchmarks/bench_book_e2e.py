"""The book's own scripts, end to end: ``python script.py`` (the book's numpy code) against
``python -m dlcore.book script.py`` (the same file, its imports answered by dlcore), wall
clock, interleaved rep by rep.

    python -m benchmarks.bench_book_e2e --book DIR [--reps 3] [--scripts ch04/train_neuralnet.py,...]
               [--threads N | --threads default] [--burners N]

DIR is a checkout of oreilly-japan/deep-learning-from-scratch (this repository does not ship
the book's code; ``git clone`` it, or unpack any copy). The script copies the chapters it
runs, ``common/`` and ``dataset/`` into a temporary directory and writes the book's
``dataset/mnist.pkl`` there from dlcore's offline MNIST (so the numpy run does not download:
the same images and labels, in the book's pickle format). Both sides see the same
environment: matplotlib's Agg backend (``plt.show()`` returns at once), and ``--threads``
threads for dlcore and for numpy's BLAS (OMP_NUM_THREADS / OPENBLAS_NUM_THREADS; default 1).
``--threads default`` runs the dlcore side as a user would, with no thread variable set (dlcore
chooses), against numpy with one BLAS thread; ``--burners N`` keeps N CPU-burning processes
running meanwhile (bench_load's: with 1 on a 2-core machine, one core is busy).
The scripts' printed lines (accuracies) are kept, so the two runs' results can be compared:
the last printed line of each is in the JSON. Output: benchmarks/results/book_e2e.json and a
table on stdout.
"""
import argparse
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT = "ch04/train_neuralnet.py,ch05/train_neuralnet.py"


def prepare(book, scripts, tmp):
    chapters = sorted({Path(s).parts[0] for s in scripts})
    for d in chapters + ["common", "dataset"]:
        src = Path(book) / d
        if not src.is_dir():
            sys.exit(f"bench_book_e2e: expected {src} in the book checkout {book}")
        shutil.copytree(src, Path(tmp) / d)
    from dlcore.mnist import load_mnist
    (xtr, ttr), (xte, tte) = load_mnist(normalize=False, flatten=True)
    data = {"train_img": xtr, "train_label": ttr, "test_img": xte, "test_label": tte}
    with open(Path(tmp) / "dataset" / "mnist.pkl", "wb") as f:
        pickle.dump(data, f, -1)


def _env(threads):
    """The scripts' environment: Agg plots, and `threads` threads for dlcore and numpy's BLAS
    (None: no thread variable at all, each library chooses)."""
    env = dict(os.environ, MPLBACKEND="Agg")
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "DLCORE_NUM_THREADS"):
        if threads is None:
            env.pop(k, None)
        else:
            env[k] = str(threads)
    return env


def run(cmd, cwd, env):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"bench_book_e2e: {' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    lines = [ln for ln in p.stdout.splitlines() if ln.strip()]
    return dt, lines[-1] if lines else ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--book", required=True, help="a checkout of the book's repository")
    ap.add_argument("--scripts", default=DEFAULT)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", default="1", help="a count for both sides, or 'default'")
    ap.add_argument("--burners", type=int, default=0)
    args = ap.parse_args()
    scripts = args.scripts.split(",")
    if args.threads == "default":
        envs = {"numpy": _env(1), "dlcore": _env(None)}
    elif args.threads.isdigit() and int(args.threads) > 0:
        envs = {"numpy": _env(int(args.threads)), "dlcore": _env(int(args.threads))}
    else:
        sys.exit(f"bench_book_e2e: expected --threads N (N >= 1) or default; got {args.threads}")
    rows = []
    load0 = os.getloadavg()[0]
    from .bench_load import burning
    with tempfile.TemporaryDirectory() as tmp, burning(args.burners):
        prepare(args.book, scripts, tmp)
        for s in scripts:
            path = Path(tmp) / s
            cmds = {"numpy": [sys.executable, path.name],
                    "dlcore": [sys.executable, "-m", "dlcore.book", path.name]}
            times = {"numpy": [], "dlcore": []}
            last = {}
            for r in range(args.reps):
                for side in (("numpy", "dlcore") if r % 2 == 0 else ("dlcore", "numpy")):
                    dt, line = run(cmds[side], path.parent, envs[side])
                    times[side].append(dt)
                    last[side] = line
                    print(f"  {s} {side} rep {r}: {dt:.1f} s  ({line})", flush=True)
            mn, md = statistics.median(times["numpy"]), statistics.median(times["dlcore"])
            rows.append({"script": s, "numpy_s": mn, "dlcore_s": md, "speedup": mn / md,
                         "numpy_all": times["numpy"], "dlcore_all": times["dlcore"],
                         "numpy_last_line": last["numpy"], "dlcore_last_line": last["dlcore"]})
    from ._harness import machine_info, write_json
    res = {"book": str(args.book), "threads": args.threads, "burners": args.burners,
           "reps": args.reps,
           "load_start": load0, "load_end": os.getloadavg()[0],
           "time_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
           "machine": machine_info(), "rows": rows}
    write_json("book_e2e", res)
    print("\n| script | numpy (s) | dlcore (s) | numpy / dlcore |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['script']} | {r['numpy_s']:.1f} | {r['dlcore_s']:.1f} | "
              f"{r['speedup']:.2f}x |")
    print(f"load average {load0:.2f} -> {res['load_end']:.2f}")


if __name__ == "__main__":
    main()
