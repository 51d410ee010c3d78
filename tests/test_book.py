"""Book-script compatibility: dlcore.book.install() aliases (common.*, dataset.mnist), the
star-import surfaces the book's scripts rely on, and ``python -m dlcore.book script.py``
running an unmodified book-style script (its own helper files, or dlcore's with
--compiled-nets)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import dlcore
import dlcore.book as book

NAMES = list(book.ALIASES) + list(book.COMPILED_NETS) + ['common', 'dataset']


@pytest.fixture
def clean_modules():
    """Snapshot and restore sys.modules entries that install() touches."""
    saved = {n: sys.modules.get(n) for n in NAMES}
    yield
    for n, mod in saved.items():
        if mod is None:
            sys.modules.pop(n, None)
        else:
            sys.modules[n] = mod


def star(module_name):
    ns = {}
    exec(f"from {module_name} import *", ns)
    return ns


def test_install_registers_aliases(clean_modules):
    reg = book.install()
    import common.layers
    import common.trainer
    import dataset.mnist
    from common.multi_layer_net_extend import MultiLayerNetExtend
    assert common.layers is dlcore.layers and sys.modules['common.layers'] is dlcore.layers
    assert common.trainer.Trainer is dlcore.trainer.Trainer
    assert dataset.mnist.load_mnist is sys.modules['dlcore.mnist'].load_mnist
    assert MultiLayerNetExtend.__module__ == 'dlcore.multi_layer_net_extend'
    for alias, target in book.ALIASES.items():
        assert sys.modules[alias] is sys.modules[target] is reg[alias]
    assert common.__path__ == [] and 'two_layer_net' not in reg
    with pytest.raises(ModuleNotFoundError):
        import common.nonexistent  # noqa: F401
    book.install()  # idempotent
    assert sys.modules['common.layers'] is dlcore.layers


def test_install_compiled_nets_and_back(clean_modules):
    book.install(compiled_nets=True)
    import two_layer_net
    import simple_convnet
    import deep_convnet
    import layer_naive
    assert two_layer_net.TwoLayerNet.__module__ == 'dlcore.two_layer_net'
    assert simple_convnet.SimpleConvNet is dlcore.simple_convnet.SimpleConvNet
    assert deep_convnet.DeepConvNet.__module__ == 'dlcore.deep_convnet'
    ns = star('layer_naive')
    assert 'MulLayer' in ns and 'AddLayer' in ns
    book.install()
    assert 'two_layer_net' not in sys.modules


def test_star_import_surfaces(clean_modules):
    """What the book's scripts get from star imports (spec Gotcha 14)."""
    book.install()
    ns = star('common.optimizer')
    assert ns['np'] is np and 'SGD' in ns  # ch06/optimizer_compare_mnist.py needs np here
    ns = star('common.layers')
    for name in ('Relu', 'Sigmoid', 'Affine', 'SoftmaxWithLoss', 'Dropout',
                 'BatchNormalization', 'Convolution', 'Pooling', 'softmax',
                 'cross_entropy_error', 'sigmoid', 'im2col', 'col2im', 'np'):
        assert name in ns, name
    ns = star('common.functions')
    assert 'mean_squared_error' in ns and 'sum_squared_error' in ns and ns['np'] is np
    ns = star('common.multi_layer_net')
    assert {'MultiLayerNet', 'OrderedDict', 'numerical_gradient', 'Affine', 'np'} <= set(ns)
    ns = star('common.multi_layer_net_extend')
    assert {'MultiLayerNetExtend', 'Dropout', 'BatchNormalization', 'np'} <= set(ns)
    ns = star('common.trainer')
    assert {'Trainer', 'np', 'SGD', 'Adam'} <= set(ns)
    ns = star('common.util')
    assert {'smooth_curve', 'shuffle_dataset', 'conv_output_size', 'im2col', 'col2im'} <= set(ns)
    ns = star('common.gradient')
    assert 'numerical_gradient' in ns
    for mod in ('dlcore.two_layer_net', 'dlcore.simple_convnet', 'dlcore.deep_convnet'):
        ns = star(mod)
        assert {'np', 'OrderedDict', 'Affine', 'Relu'} <= set(ns), mod


def test_nothing_printed_on_import():
    code = ("import dlcore, dlcore.book, dlcore.trainer, dlcore.two_layer_net, "
            "dlcore.multi_layer_net, dlcore.multi_layer_net_extend, dlcore.simple_convnet, "
            "dlcore.deep_convnet; dlcore.book.install(compiled_nets=True)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr == ""


# --------------------------------------------------------------- python -m dlcore.book
SCRIPT = '''\
# coding: utf-8
import sys, os
sys.path.append(os.pardir)  # the book's way: the parent holds common/ and dataset/
import numpy as np
from dataset.mnist import load_mnist
from common.layers import *
from common.trainer import Trainer
from two_layer_net import TwoLayerNet
from data_source import get_data

(x_train, t_train), (x_test, t_test) = get_data(load_mnist)
x_train, t_train = x_train[:300], t_train[:300]

network = TwoLayerNet(input_size=784, hidden_size=20, output_size=10)
trainer = Trainer(network, x_train, t_train, x_test[:200], t_test[:200],
                  epochs=2, mini_batch_size=100,
                  optimizer='SGD', optimizer_param={'lr': 0.1})
trainer.train()

print("layers module:", Relu.__module__)
print("argv:", sys.argv[1:])
print("note:", open("note.txt").read())
print("helper:", TwoLayerNet.__module__, getattr(TwoLayerNet, "MARK", "none"))
print("name:", __name__)
'''

# the chapter's own helper file (written here, in the style of the book's ch05 file)
LOCAL_TWO_LAYER_NET = '''\
import sys, os
sys.path.append(os.pardir)
import numpy as np
from collections import OrderedDict
from common.layers import *


class TwoLayerNet:
    MARK = "local"

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01):
        self.params = {"W1": weight_init_std * np.random.randn(input_size, hidden_size),
                       "b1": np.zeros(hidden_size),
                       "W2": weight_init_std * np.random.randn(hidden_size, output_size),
                       "b2": np.zeros(output_size)}
        self.layers = OrderedDict(Affine1=Affine(self.params["W1"], self.params["b1"]),
                                  Relu1=Relu(),
                                  Affine2=Affine(self.params["W2"], self.params["b2"]))
        self.lastLayer = SoftmaxWithLoss()

    def predict(self, x):
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x, t):
        return self.lastLayer.forward(self.predict(x), t)

    def accuracy(self, x, t):
        return np.sum(np.argmax(self.predict(x), axis=1) == t) / float(x.shape[0])

    def gradient(self, x, t):
        self.loss(x, t)
        dout = self.lastLayer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        return {"W1": self.layers["Affine1"].dW, "b1": self.layers["Affine1"].db,
                "W2": self.layers["Affine2"].dW, "b2": self.layers["Affine2"].db}
'''

# chapter-6 style: np arrives only through `from common.optimizer import *`
SCRIPT_CH06 = '''\
import os
import sys
sys.path.append(os.pardir)
from common.optimizer import *
from common.multi_layer_net import MultiLayerNet
from common.multi_layer_net_extend import MultiLayerNetExtend
from common.util import smooth_curve, shuffle_dataset

x = np.random.rand(64, 20)
t = (x[:, 0] > 0.5).astype(int)
x, t = shuffle_dataset(x, t)
nets = {"SGD": MultiLayerNet(20, [16, 16], 2),
        "Adam": MultiLayerNetExtend(20, [16, 16], 2, use_batchnorm=True,
                                    use_dropout=True, dropout_ration=0.1)}
opts = {"SGD": SGD(lr=0.1), "Adam": Adam()}
losses = {k: [] for k in nets}
for i in range(30):
    mask = np.random.choice(64, 16)
    for k, net in nets.items():
        opts[k].update(net.params, net.gradient(x[mask], t[mask]))
        losses[k].append(net.loss(x[mask], t[mask]))
for k in nets:
    print(k, len(smooth_curve(losses[k])), np.isfinite(losses[k]).all())
'''

REAL_DATA = '''\
def get_data(load_mnist):
    return load_mnist(normalize=True)
'''

STUB_DATA = '''\
import numpy as np


def get_data(load_mnist):  # real MNIST is not installed: tiny synthetic digits instead
    rng = np.random.default_rng(0)
    x = rng.random((500, 784)).astype(np.float32)
    t = (x[:, :10].argmax(axis=1)).astype(np.uint8)
    return (x[:300], t[:300]), (x[300:], t[300:])
'''


def _real_mnist_available():
    try:
        from dlcore.mnist import DataUnavailableError, load_mnist
    except ImportError:
        return False
    try:
        load_mnist()
    except DataUnavailableError:
        return False
    return True


@pytest.fixture(scope="module")
def book_tree(tmp_path_factory):
    """A book-like tree: root/common and root/dataset are decoys that fail if imported
    (the aliases must win over sys.path.append(os.pardir)), root/ch05 holds the script,
    its helper files and a data file it opens by relative path."""
    root = tmp_path_factory.mktemp("book")
    for pkg in ("common", "dataset"):
        (root / pkg).mkdir()
        (root / pkg / "__init__.py").write_text(
            f"raise ImportError('the book tree\\'s own {pkg} package was imported')\n")
    ch = root / "ch05"
    ch.mkdir()
    (ch / "train_neuralnet.py").write_text(SCRIPT)
    (ch / "two_layer_net.py").write_text(LOCAL_TWO_LAYER_NET)
    real = _real_mnist_available()
    (ch / "data_source.py").write_text(REAL_DATA if real else STUB_DATA)
    (ch / "note.txt").write_text("hello")
    (root / "ch06").mkdir()
    (root / "ch06" / "optimizer_compare.py").write_text(SCRIPT_CH06)
    return root, real


def run_book(args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "dlcore.book", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_python_m_dlcore_book_runs_script_unmodified(book_tree):
    root, _ = book_tree
    r = run_book(["ch05/train_neuralnet.py", "--flag", "x"], cwd=root)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert sum(line.startswith("train loss:") for line in out) == 6
    assert [line for line in out if line.startswith("=== epoch:")][0].startswith(
        "=== epoch:1, train acc:")
    assert "=============== Final Test Accuracy ===============" in out
    assert "layers module: dlcore.layers" in out
    assert "argv: ['--flag', 'x']" in out
    assert "note: hello" in out  # the script's directory is the current directory
    assert "helper: two_layer_net local" in out  # the chapter's own file, on dlcore
    assert "name: __main__" in out
    assert r.stderr == ""
    final = float([line for line in out if line.startswith("test acc:")][0][9:])
    assert 0.0 <= final <= 1.0


def test_python_m_dlcore_book_chapter6_style_script(book_tree):
    root, _ = book_tree
    r = run_book([str(root / "ch06" / "optimizer_compare.py")], cwd=root)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["SGD 30 True", "Adam 30 True"]


def test_python_m_dlcore_book_compiled_nets(book_tree):
    root, _ = book_tree
    r = run_book(["--compiled-nets", str(root / "ch05" / "train_neuralnet.py")], cwd="/")
    assert r.returncode == 0, r.stderr
    assert "helper: dlcore.two_layer_net none" in r.stdout.splitlines()
    assert "argv: []" in r.stdout


def test_python_m_dlcore_book_errors(tmp_path):
    r = run_book(["--help"], cwd=tmp_path)
    assert r.returncode == 0 and "--compiled-nets" in r.stdout
    r = run_book([str(tmp_path / "missing.py")], cwd=tmp_path)
    assert r.returncode != 0 and "no script at" in r.stderr
    (tmp_path / "fails.py").write_text("import sys\nsys.exit(3)\n")
    assert run_book([str(tmp_path / "fails.py")], cwd=tmp_path).returncode == 3


def test_run_script_restores_process_state(tmp_path, clean_modules):
    (tmp_path / "s.py").write_text("import os, sys\nRESULT = (os.getcwd(), sys.argv[:], "
                                   "sys.path[0])\n")
    cwd, argv, path = os.getcwd(), list(sys.argv), list(sys.path)
    g = book.run_script(tmp_path / "s.py", ["a"])
    assert g['RESULT'] == (str(tmp_path), [str(tmp_path / "s.py"), "a"], str(tmp_path))
    assert (os.getcwd(), sys.argv, sys.path) == (cwd, argv, path)


def _blas_threads():
    from threadpoolctl import threadpool_info
    return {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


def test_run_script_sets_numpy_blas_threads_and_restores_them(tmp_path, clean_modules,
                                                              monkeypatch):
    from threadpoolctl import threadpool_limits
    import dlcore._cli
    (tmp_path / "s.py").write_text(
        "from threadpoolctl import threadpool_info\n"
        "N = {i['filepath']: i['num_threads'] for i in threadpool_info() "
        "if i['user_api'] == 'blas'}\n")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with threadpool_limits(2, user_api="blas"):  # a known count before, on any machine
        before = _blas_threads()
        assert before and set(before.values()) == {2}
        for free in (1, 3):  # "auto" (the default) follows the CLI's choice
            monkeypatch.setattr(dlcore._cli, "auto_threads", lambda free=free: (free, ""))
            g = book.run_script(tmp_path / "s.py")
            assert set(g["N"]) == set(before) and set(g["N"].values()) == {free}
            assert _blas_threads() == before
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")  # the user's choice: left alone
        assert book.run_script(tmp_path / "s.py")["N"] == before
        assert book.run_script(tmp_path / "s.py", blas_threads=None)["N"] == before
        g = book.run_script(tmp_path / "s.py", blas_threads=3)
        assert set(g["N"].values()) == {3}
        assert _blas_threads() == before


@pytest.mark.parametrize("bad,exc,got", [(0, ValueError, "0"), (-2, ValueError, "-2"),
                                         (1.5, TypeError, "float"), (True, TypeError, "bool"),
                                         ("1", ValueError, "'1'")])
def test_run_script_refuses_bad_blas_threads(tmp_path, bad, exc, got):
    (tmp_path / "s.py").write_text("RAN = True\n")
    with pytest.raises(exc, match="expected blas_threads to be an integer >= 1, None or "
                                  f"'auto'; got {got}$"):
        book.run_script(tmp_path / "s.py", blas_threads=bad)


def test_python_m_dlcore_book_blas_threads_option(tmp_path):
    # numpy's BLAS (every BLAS but dlcore's own scipy_openblas32, which dlcore pins itself)
    (tmp_path / "s.py").write_text(
        "from threadpoolctl import threadpool_info\n"
        "print(sorted({i['num_threads'] for i in threadpool_info() "
        "if i['user_api'] == 'blas' and 'scipy_openblas32' not in i['filepath']}))\n")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2")
    r = run_book(["--blas-threads", "1", str(tmp_path / "s.py")], cwd=tmp_path, env=env)
    assert r.returncode == 0 and r.stdout.strip() == "[1]", r.stderr
    for args in (["--blas-threads", "0"], []):  # left as it is; auto leaves the user's choice
        r = run_book(args + [str(tmp_path / "s.py")], cwd=tmp_path, env=env)
        assert r.returncode == 0 and r.stdout.strip() == "[2]", (args, r.stderr)
    r = run_book(["--blas-threads", "-1", str(tmp_path / "s.py")], cwd=tmp_path)
    assert r.returncode == 2 and "--blas-threads: expected a count >= 0; got -1" in r.stderr
