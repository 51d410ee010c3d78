"""Run every fuzz harness (tests/fuzz/harnesses.py) for a bounded time and fail on any finding.

    python tests/fuzz/run.py [--seconds S] [--only NAME ...] [--jobs 1] [--keep DIR]

Each harness runs in its own process on a copy of its seed corpus (tests/fuzz/corpus/NAME, so
the committed corpus is never modified), with libFuzzer's ``-max_total_time=S``,
``-timeout=10`` (a single input running longer is a hang) and ``-rss_limit_mb=1024``
(a reader that allocates far beyond its input is a finding). A harness fails when libFuzzer
reports a crash, an uncaught (undocumented) Python exception, a timeout or an out-of-memory;
its crash input is kept under --keep (default: a temporary directory, printed). An input
libFuzzer keeps only as slow (over 10 s once) is replayed under the timeout and fails the run
only if it fails again (a stalled machine makes such units). The report
gives per harness: executions, coverage (libFuzzer's ``cov``: Python edges instrumented by
atheris; ``ft``: features) and corpus size. Default S = 35: six harnesses in about 4 minutes.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NAMES = ["load_params", "dlcore_load", "idx", "mnist_cache", "cli_data", "layers"]
_STATS = re.compile(r"#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/")


def run_one(name, seconds, keep):
    work = tempfile.mkdtemp(prefix=f"fuzz-{name}-")
    corpus = os.path.join(work, "corpus")
    shutil.copytree(os.path.join(HERE, "corpus", name), corpus)
    artifacts = os.path.join(keep, name) + os.sep
    os.makedirs(artifacts, exist_ok=True)
    cmd = [sys.executable, os.path.join(HERE, "harnesses.py"), name,
           f"-max_total_time={seconds}", "-timeout=10", "-rss_limit_mb=1024",
           "-max_len=65536", f"-artifact_prefix={artifacts}", "-print_final_stats=1", corpus]
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 300,
                       cwd=work, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    log = p.stdout + p.stderr
    stats = _STATS.findall(log)
    execs, cov, ft, corp = (int(v) for v in stats[-1]) if stats else (0, 0, 0, 0)
    m = re.search(r"stat::number_of_executed_units:\s*(\d+)", log)
    if m:
        execs = int(m.group(1))
    crashes, slow = [], []
    for c in sorted(os.listdir(artifacts)):
        if c.startswith("slow-unit-") and _replays_in_time(name, os.path.join(artifacts, c), work):
            slow.append(c)
        else:
            crashes.append(c)
    ok = p.returncode == 0 and not crashes
    shutil.rmtree(work, ignore_errors=True)
    return {"harness": name, "ok": ok, "rc": p.returncode, "seconds": round(time.time() - t0),
            "executions": execs, "cov": cov, "ft": ft, "corpus": corp,
            "findings": [os.path.join(artifacts, c) for c in crashes],
            "slow_units_replayed": [os.path.join(artifacts, c) for c in slow],
            "log_tail": "" if ok else log[-4000:]}


def _replays_in_time(name, path, cwd):
    """libFuzzer keeps an input that once took longer than -report_slow_units (10 s) as a
    slow-unit artifact; a shared machine that stalls makes one now and then (an input that
    replayed in 1 ms took 23 s once). A hang is what -timeout=10 catches: the input is run once
    more under it, and counts as a finding only if it fails or times out again."""
    cmd = [sys.executable, os.path.join(HERE, "harnesses.py"), name, "-timeout=10",
           "-rss_limit_mb=1024", os.path.abspath(path)]
    try:
        q = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=cwd,
                           env=dict(os.environ, PYTHONWARNINGS="ignore"))
    except subprocess.TimeoutExpired:
        return False
    return q.returncode == 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=35)
    ap.add_argument("--only", nargs="*", default=NAMES, choices=NAMES)
    ap.add_argument("--keep", default=None, help="directory for crash inputs")
    ap.add_argument("--json", default=None, help="write the report here")
    a = ap.parse_args(argv)
    keep = a.keep or tempfile.mkdtemp(prefix="dlcore-fuzz-findings-")
    report = []
    for name in a.only:
        r = run_one(name, a.seconds, keep)
        report.append(r)
        print(f"fuzz {name:12s} {'ok  ' if r['ok'] else 'FAIL'} {r['seconds']:4d}s "
              f"execs={r['executions']:<8d} cov={r['cov']:<5d} ft={r['ft']:<6d} "
              f"corpus={r['corpus']}", flush=True)
        for u in r["slow_units_replayed"]:
            print(f"fuzz {name}: slow unit {u} ran in time when replayed (not a hang)",
                  flush=True)
        if not r["ok"]:
            print(r["log_tail"], file=sys.stderr)
            print(f"fuzz {name}: findings in {keep}/{name}: {r['findings']}", file=sys.stderr)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)
    bad = [r["harness"] for r in report if not r["ok"]]
    if bad:
        print(f"fuzz: FAILED: {', '.join(bad)} (inputs kept in {keep})", file=sys.stderr)
        return 1
    print(f"fuzz: {len(report)} harnesses, no findings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
