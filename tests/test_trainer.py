"""Trainer: the book's printed lines and lists, epoch arithmetic (float iter_per_epoch and
float modulo), sampling with replacement, loss after the update; and the options beyond the
book (progress bar, callback, stop on NaN/Inf, one BLAS thread while training)."""
import io

import numpy as np
import pytest

import dlcore.trainer as trainer_mod
from dlcore.multi_layer_net import MultiLayerNet
from dlcore.trainer import Trainer, TrainingDiverged
from dlcore.two_layer_net import TwoLayerNet
from oracle import nets as O


def make_data(n, d=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    t = np.argmax(x @ rng.standard_normal((d, classes)), axis=1)
    return x, t


class CountingNet:
    """A duck-typed network that records calls (the Trainer needs only params, gradient,
    loss and accuracy)."""

    def __init__(self, loss_values=None):
        self.params = {'w': np.zeros(2)}
        self.calls = []
        self.loss_values = loss_values

    def gradient(self, x, t):
        self.calls.append(('gradient', len(x)))
        return {'w': np.ones(2)}

    def loss(self, x, t):
        self.calls.append(('loss', len(x)))
        if self.loss_values is not None:
            return self.loss_values[sum(c[0] == 'loss' for c in self.calls) - 1]
        return np.float64(self.params['w'][0])

    def accuracy(self, x, t):
        self.calls.append(('accuracy', len(x)))
        return np.float64(len(x)) / 1000


@pytest.mark.parametrize("n,batch,epochs,iters,evals,ipe", [
    (300, 100, 5, 15, 5, 3.0),     # 3.0 iterations per epoch
    (50, 100, 4, 4, 4, 1),          # fewer samples than a batch: every step is an "epoch"
    (1000, 300, 3, 10, 1, 1000 / 300),  # 3.33...: the float modulo is 0 only at iteration 0
    (60000, 100, 0.01, 6, 1, 600.0),
])
def test_epoch_arithmetic(n, batch, epochs, iters, evals, ipe):
    x, t = np.zeros((n, 2)), np.zeros(n, dtype=int)
    net = CountingNet()
    tr = Trainer(net, x, t, x[:7], t[:7], epochs=epochs, mini_batch_size=batch,
                 verbose=False)
    assert tr.iter_per_epoch == ipe and type(tr.iter_per_epoch) is type(ipe)
    assert tr.max_iter == iters
    tr.train()
    assert len(tr.train_loss_list) == iters == tr.current_iter
    assert len(tr.train_acc_list) == len(tr.test_acc_list) == evals == tr.current_epoch
    # gradient, then loss on the same batch after the update, per step
    steps = [c for c in net.calls if c[0] in ('gradient', 'loss')]
    assert steps == [('gradient', batch), ('loss', batch)] * iters
    assert net.calls[-1] == ('accuracy', 7)  # final accuracy on the full test set
    np.testing.assert_allclose(tr.train_loss_list, -0.01 * np.arange(1, iters + 1))


def test_loss_recorded_after_update_and_sampling_with_replacement():
    x = np.arange(5.0).reshape(5, 1)
    t = np.zeros(5, dtype=int)
    seen = []

    class Net(CountingNet):
        def gradient(self, xb, tb):
            seen.append(xb[:, 0].copy())
            return super().gradient(xb, tb)

    np.random.seed(4)
    tr = Trainer(Net(), x, t, x, t, epochs=2, mini_batch_size=5, verbose=False)
    tr.train()
    np.random.seed(4)
    expected = [np.random.choice(5, 5) for _ in range(2)]
    for got, idx in zip(seen, expected):
        np.testing.assert_array_equal(got, idx.astype(float))
    assert any(len(set(e)) < 5 for e in expected)  # duplicates: drawn with replacement


def test_printed_lines_and_lists_match_oracle(capsys):
    """verbose output: 'train loss:V' per step, '=== epoch:E, train acc:A, test acc:B ==='
    per evaluation, then the final banner and 'test acc:V' (compared with the oracle's
    lines, built from the spec)."""
    x, t = make_data(60, seed=1)
    xt, tt = make_data(30, seed=2)
    kw = dict(epochs=3, mini_batch_size=20, optimizer='sgd', optimizer_param={'lr': 0.1},
              evaluate_sample_num_per_epoch=25)
    np.random.seed(7)
    tr = Trainer(TwoLayerNet(6, 5, 3, weight_init_std=0.3), x, t, xt, tt, **kw)
    tr.train()
    lines = capsys.readouterr().out.splitlines()
    np.random.seed(7)
    ot = O.Trainer(O.TwoLayerNet(6, 5, 3, 0.3), x, t, xt, tt, **kw)
    ot.train()
    assert len(lines) == 9 + 3 + 2
    assert lines[0].startswith("train loss:") and lines[1].startswith("=== epoch:1, train acc:")
    assert lines[-2] == "=============== Final Test Accuracy ==============="
    assert lines[-1].startswith("test acc:")
    # same format; values equal to ~1e-15, so compare the parsed numbers, then the text
    assert [line.split(':')[0] for line in lines] == [line.split(':')[0] for line in ot.lines]
    np.testing.assert_allclose(tr.train_loss_list, ot.train_loss_list, rtol=1e-10)
    assert tr.train_acc_list == ot.train_acc_list and tr.test_acc_list == ot.test_acc_list
    for a, b in zip(lines, ot.lines):
        if not a.startswith("train loss:"):
            assert a == b
    # evaluations used the first 25 samples: accuracies are multiples of 1/25
    assert all(abs(a * 25 - round(a * 25)) < 1e-12 for a in tr.train_acc_list)


def test_verbose_false_prints_nothing(capsys):
    x, t = make_data(40)
    Trainer(TwoLayerNet(6, 4, 3), x, t, x, t, epochs=2, mini_batch_size=20,
            verbose=False).train()
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_attributes_and_optimizer_by_name():
    x, t = make_data(40)
    net = TwoLayerNet(6, 4, 3)
    tr = Trainer(net, x, t, x, t)
    assert (tr.network, tr.verbose, tr.epochs, tr.batch_size) == (net, True, 20, 100)
    assert tr.evaluate_sample_num_per_epoch is None and tr.train_size == 40
    assert type(tr.optimizer).__name__ == 'SGD' and tr.optimizer.lr == 0.01
    assert (tr.current_iter, tr.current_epoch) == (0, 0)
    assert tr.train_loss_list == tr.train_acc_list == tr.test_acc_list == []
    names = {'SGD': 'SGD', 'momentum': 'Momentum', 'Nesterov': 'Nesterov',
             'ADAGRAD': 'AdaGrad', 'rmsprop': 'RMSprop', 'Adam': 'Adam'}
    import dlcore.optimizer as opt
    for name, cls in names.items():
        if not hasattr(opt, cls):
            continue
        tr = Trainer(net, x, t, x, t, optimizer=name, optimizer_param={'lr': 0.5})
        assert type(tr.optimizer) is getattr(opt, cls) and tr.optimizer.lr == 0.5
    with pytest.raises(ValueError, match="expected optimizer to be one of 'SGD'"):
        Trainer(net, x, t, x, t, optimizer='lbfgs')
    with pytest.raises(TypeError):  # constructor keywords must match the optimizer's
        Trainer(net, x, t, x, t, optimizer='sgd', optimizer_param={'learning_rate': 0.1})
    with pytest.raises(TypeError, match="expected a callable for callback"):
        Trainer(net, x, t, x, t, callback=3)


@pytest.mark.parametrize("optimizer,param", [('Momentum', {'lr': 0.05}),
                                             ('AdaGrad', {'lr': 0.1}),
                                             ('Adam', {'lr': 0.01})])
def test_other_optimizers_match_oracle(optimizer, param):
    import dlcore.optimizer as opt
    if not hasattr(opt, optimizer):
        pytest.skip(f"dlcore.optimizer.{optimizer} is not merged yet")
    x, t = make_data(100, seed=3)
    runs = []
    for net_cls, tr_cls in ((MultiLayerNet, Trainer), (O.MultiLayerNet, O.Trainer)):
        np.random.seed(8)
        tr = tr_cls(net_cls(6, [8, 8], 3), x, t, x, t, epochs=10, mini_batch_size=10,
                    optimizer=optimizer, optimizer_param=param, verbose=False)
        tr.train()
        runs.append(tr)
    np.testing.assert_allclose(runs[0].train_loss_list, runs[1].train_loss_list, rtol=1e-6)
    np.testing.assert_allclose(runs[0].test_acc_list, runs[1].test_acc_list, rtol=1e-6)


# ------------------------------------------------------------------- beyond the book
def test_callback_called_after_each_evaluation():
    x, t = make_data(60)
    seen = []

    def cb(trainer):
        seen.append((trainer.current_iter, trainer.current_epoch, len(trainer.test_acc_list)))

    tr = Trainer(TwoLayerNet(6, 4, 3), x, t, x, t, epochs=3, mini_batch_size=20,
                 verbose=False, callback=cb)
    tr.train()
    assert seen == [(0, 1, 1), (3, 2, 2), (6, 3, 3)]


def test_blas_held_at_one_thread_while_training():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    x, t = make_data(40)
    during = []

    def cb(trainer):
        during.append([(i["internal_api"], i["num_threads"])
                       for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"])

    before = [i["num_threads"] for i in threadpoolctl.threadpool_info()
              if i["user_api"] == "blas"]
    tr = Trainer(TwoLayerNet(6, 4, 3), x, t, x, t, epochs=2, mini_batch_size=20,
                 verbose=False, callback=cb)
    tr.train()
    assert during and all(n == 1 for infos in during for _, n in infos)
    assert all(infos for infos in during)  # numpy's BLAS is among them
    after = [i["num_threads"] for i in threadpoolctl.threadpool_info()
             if i["user_api"] == "blas"]
    assert after == before  # restored
    during.clear()
    tr.train_step()  # also when steps are driven by hand
    assert all(n == 1 for infos in during for _, n in infos)


def test_nan_loss_stops_with_clear_error(capsys):
    x, t = make_data(40)
    net = CountingNet(loss_values=[np.float64(1.0), np.float64(0.5), np.float64(np.nan),
                                   np.float64(0.1)])
    tr = Trainer(net, x, t, x, t, epochs=4, mini_batch_size=10, verbose=True)
    with pytest.raises(TrainingDiverged, match=r"became nan at iteration 2 \(epoch 1\)") as e:
        tr.train()
    assert isinstance(e.value, FloatingPointError)
    assert e.value.iteration == 2 and e.value.trainer is tr and np.isnan(e.value.loss)
    assert len(tr.train_loss_list) == 3 and np.isnan(tr.train_loss_list[-1])
    assert capsys.readouterr().out.splitlines()[-1] == "train loss:nan"


def test_inf_loss_and_opt_out():
    x, t = make_data(40)
    net = CountingNet(loss_values=[np.float64(np.inf)] * 4)
    with pytest.raises(TrainingDiverged, match="became inf at iteration 0"):
        Trainer(net, x, t, x, t, epochs=1, mini_batch_size=10, verbose=False).train()
    net = CountingNet(loss_values=[np.float64(np.nan)] * 4)
    tr = Trainer(net, x, t, x, t, epochs=1, mini_batch_size=10, verbose=False,
                 stop_on_nonfinite=False)
    tr.train()  # the book's behaviour: train on
    assert len(tr.train_loss_list) == 4


def test_real_network_nan_is_caught():
    x, t = make_data(40)
    np.random.seed(0)
    net = MultiLayerNet(6, [20, 20], 3)
    net.params['W2'][0, 0] = np.inf  # every score becomes inf or nan
    tr = Trainer(net, x, t, x, t, epochs=5, mini_batch_size=10, verbose=False)
    with pytest.raises(TrainingDiverged, match="at iteration 0"):
        with np.errstate(all='ignore'):  # numpy (not the kernels) warns on inf - inf
            tr.train()


def test_progress_text_bar_without_tqdm(monkeypatch, capsys):
    """progress=True: no per-iteration lines; epoch lines and the final lines still print
    when verbose; without tqdm a plain bar goes to stderr."""
    bars = []
    real = trainer_mod._TextBar

    def make(total):
        bar = real(total, file=io.StringIO())
        bars.append(bar)
        return bar

    monkeypatch.setattr(trainer_mod, "_make_bar", make)
    x, t = make_data(60)
    tr = Trainer(TwoLayerNet(6, 4, 3), x, t, x, t, epochs=2, mini_batch_size=20,
                 progress=True)
    tr.train()
    out = capsys.readouterr().out
    assert "train loss:" not in out
    assert "Final Test Accuracy" in out
    text = bars[0].file.getvalue()
    assert "6/6" in text and "loss " in text
    assert "=== epoch:1" in out and "=== epoch:1" not in text  # epoch lines on stdout, as tqdm.write
    assert len(tr.train_loss_list) == 6


def test_progress_uses_tqdm_when_installed(capsys):
    pytest.importorskip("tqdm")
    x, t = make_data(60)
    tr = Trainer(TwoLayerNet(6, 4, 3), x, t, x, t, epochs=2, mini_batch_size=20,
                 progress=True, verbose=False)
    tr.train()
    err = capsys.readouterr().err
    assert "6/6" in err and len(tr.train_loss_list) == 6
