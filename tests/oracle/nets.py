"""Oracle for the networks and the Trainer: the book's numerics in plain numpy, written from
the spec (sections 2, 3, 6, 7, 8, 10, 11; Gotchas 9-13), with no dlcore.

Everything draws from numpy's global legacy RNG with the calls the spec lists (randn per
weight in order, rand per dropout forward, choice per trainer step), so a seeded run of
these classes is the reference a seeded dlcore run must reproduce.
"""
import numpy as np


# ----------------------------------------------------------------------------- functions
def softmax(x):
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def cross_entropy(y, t):
    if y.ndim == 1:
        y, t = y.reshape(1, -1), np.reshape(t, (1, -1))
    if t.size == y.size:
        t = t.argmax(axis=1)
    t = np.asarray(t).reshape(-1)
    n = y.shape[0]
    return -np.log(y[np.arange(n), t] + 1e-7).sum() / n


def numerical_gradient(f, x, h=1e-4):
    """Two-point central difference, perturbing x in place (the book's method)."""
    g = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        keep = x[idx]
        x[idx] = keep + h
        fp = f(x)
        x[idx] = keep - h
        fm = f(x)
        g[idx] = (fp - fm) / (2 * h)
        x[idx] = keep
    return g


# ------------------------------------------------------------------------------- layers
class Relu:
    def forward(self, x):
        self.mask = x <= 0
        return np.where(self.mask, 0, x).astype(x.dtype, copy=False)

    def backward(self, d):
        return np.where(self.mask, 0, d).astype(d.dtype, copy=False)


class Sigmoid:
    def forward(self, x):
        with np.errstate(over="ignore"):
            self.out = 1 / (1 + np.exp(-x))
        return self.out

    def backward(self, d):
        return d * (1.0 - self.out) * self.out


class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return self.x @ self.W + self.b

    def backward(self, d):
        self.dW = self.x.T @ d
        self.db = d.sum(axis=0)
        return (d @ self.W.T).reshape(self.shape)


class SoftmaxWithLoss:
    def forward(self, x, t):
        self.t = t
        self.y = softmax(x)
        return cross_entropy(self.y, t)

    def backward(self, dout=1):
        n = self.y.shape[0]
        if self.t.size == self.y.size:
            return (self.y - self.t) / n
        d = self.y.copy()
        d[np.arange(n), self.t] -= 1
        return d / n


class Dropout:
    """Not inverted: training keeps rand > ratio unscaled; test multiplies by 1 - ratio."""

    def __init__(self, ratio=0.5):
        self.ratio = ratio

    def forward(self, x, train_flg=True):
        if train_flg:
            self.mask = np.random.rand(*x.shape) > self.ratio
            return x * self.mask
        return x * (1.0 - self.ratio)

    def backward(self, d):
        return d * self.mask


class BatchNorm:
    """Per feature over axis 0 (4-D input flattened to (N, C*H*W)); biased variance,
    eps 1e-6, momentum 0.9, running stats lazily zero."""

    def __init__(self, gamma, beta, momentum=0.9):
        self.gamma, self.beta, self.momentum = gamma, beta, momentum
        self.running_mean = self.running_var = None

    def forward(self, x, train_flg=True):
        self.in_shape = x.shape
        x = x.reshape(x.shape[0], -1)
        if self.running_mean is None:
            self.running_mean = np.zeros(x.shape[1])
            self.running_var = np.zeros(x.shape[1])
        if train_flg:
            mu = x.mean(axis=0)
            self.xc = x - mu
            var = (self.xc ** 2).mean(axis=0)
            self.std = np.sqrt(var + 1e-6)
            self.xn = self.xc / self.std
            m = self.momentum
            self.running_mean = m * self.running_mean + (1 - m) * mu
            self.running_var = m * self.running_var + (1 - m) * var
            xn = self.xn
        else:
            xn = (x - self.running_mean) / np.sqrt(self.running_var + 1e-6)
        return (self.gamma * xn + self.beta).reshape(self.in_shape)

    def backward(self, d):
        d = d.reshape(d.shape[0], -1)
        n = d.shape[0]
        self.dbeta = d.sum(axis=0)
        self.dgamma = (self.xn * d).sum(axis=0)
        dxn = self.gamma * d
        dxc = dxn / self.std
        dstd = -((dxn * self.xc) / (self.std * self.std)).sum(axis=0)
        dvar = 0.5 * dstd / self.std
        dxc = dxc + (2.0 / n) * self.xc * dvar
        dmu = dxc.sum(axis=0)
        return (dxc - dmu / n).reshape(self.in_shape)


def _windows(x, fh, fw, stride, pad):
    """(N*oh*ow, C*fh*fw) patches, rows (n, oh, ow), columns (c, fh, fw)."""
    n, c, h, w = x.shape
    oh = (h + 2 * pad - fh) // stride + 1
    ow = (w + 2 * pad - fw) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((n, oh, ow, c, fh, fw), dtype=np.result_type(x, np.float64)
                    if x.dtype != np.float32 else np.float32)
    for i in range(fh):
        for j in range(fw):
            patch = xp[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
            cols[:, :, :, :, i, j] = patch.transpose(0, 2, 3, 1)
    return cols.reshape(n * oh * ow, -1), oh, ow


def _unwindows(dcols, shape, fh, fw, stride, pad):
    """Adjoint of _windows: scatter-add the patch gradients back."""
    n, c, h, w = shape
    oh = (h + 2 * pad - fh) // stride + 1
    ow = (w + 2 * pad - fw) // stride + 1
    d = dcols.reshape(n, oh, ow, c, fh, fw)
    dxp = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dcols.dtype)
    for i in range(fh):
        for j in range(fw):
            dxp[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride] += \
                d[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return dxp[:, :, pad:pad + h, pad:pad + w]


class Conv:
    def __init__(self, W, b, stride=1, pad=0):
        self.W, self.b, self.stride, self.pad = W, b, stride, pad

    def forward(self, x):
        fn, c, fh, fw = self.W.shape
        self.x_shape = x.shape
        self.cols, oh, ow = _windows(x, fh, fw, self.stride, self.pad)
        wmat = self.W.reshape(fn, -1)
        out = self.cols @ wmat.T + self.b
        return out.reshape(x.shape[0], oh, ow, fn).transpose(0, 3, 1, 2)

    def backward(self, d):
        fn, c, fh, fw = self.W.shape
        d2 = d.transpose(0, 2, 3, 1).reshape(-1, fn)
        self.db = d2.sum(axis=0)
        self.dW = (d2.T @ self.cols).reshape(self.W.shape)
        dcols = d2 @ self.W.reshape(fn, -1)
        return _unwindows(dcols, self.x_shape, fh, fw, self.stride, self.pad)


class MaxPool:
    """pool_h x pool_w max pooling; ties go to the first maximum (row-major window)."""

    def __init__(self, pool_h, pool_w, stride=2):
        self.ph, self.pw, self.stride = pool_h, pool_w, stride

    def forward(self, x):
        n, c, h, w = x.shape
        oh = (h - self.ph) // self.stride + 1
        ow = (w - self.pw) // self.stride + 1
        self.x_shape = x.shape
        win = np.empty((n, c, oh, ow, self.ph * self.pw), x.dtype)
        for i in range(self.ph):
            for j in range(self.pw):
                win[..., i * self.pw + j] = x[:, :, i:i + self.stride * oh:self.stride,
                                              j:j + self.stride * ow:self.stride]
        self.arg = win.argmax(axis=-1)
        return win.max(axis=-1)

    def backward(self, d):
        n, c, h, w = self.x_shape
        oh, ow = d.shape[2], d.shape[3]
        dx = np.zeros(self.x_shape, d.dtype)
        for i in range(self.ph):
            for j in range(self.pw):
                hit = self.arg == i * self.pw + j
                dx[:, :, i:i + self.stride * oh:self.stride,
                   j:j + self.stride * ow:self.stride] += np.where(hit, d, 0)
        return dx


# ----------------------------------------------------------------------------- networks
class _Sequential:
    """Shared predict/backward over self.seq, a list of (name, layer)."""

    def _forward(self, x, train_flg=False):
        for name, layer in self.seq:
            if isinstance(layer, (Dropout, BatchNorm)):
                x = layer.forward(x, train_flg)
            else:
                x = layer.forward(x)
        return x

    def _backward(self):
        d = self.last.backward(1)
        for name, layer in reversed(self.seq):
            d = layer.backward(d)

    def _argmax_accuracy(self, y, t):
        t = t if t.ndim == 1 else t.argmax(axis=1)
        return np.sum(y.argmax(axis=1) == t) / float(y.shape[0])


class TwoLayerNet(_Sequential):
    """ch05: Affine1, Relu1, Affine2; std * randn for W1 then W2."""

    def __init__(self, n_in, n_hid, n_out, std=0.01):
        self.params = {'W1': std * np.random.randn(n_in, n_hid), 'b1': np.zeros(n_hid),
                       'W2': std * np.random.randn(n_hid, n_out), 'b2': np.zeros(n_out)}
        p = self.params
        self.a1, self.a2 = Affine(p['W1'], p['b1']), Affine(p['W2'], p['b2'])
        self.seq = [('Affine1', self.a1), ('Relu1', Relu()), ('Affine2', self.a2)]
        self.last = SoftmaxWithLoss()

    def predict(self, x):
        return self._forward(x)

    def loss(self, x, t):
        return self.last.forward(self.predict(x), t)

    def accuracy(self, x, t):
        return self._argmax_accuracy(self.predict(x), t)

    def gradient(self, x, t):
        self.loss(x, t)
        self._backward()
        return {'W1': self.a1.dW, 'b1': self.a1.db, 'W2': self.a2.dW, 'b2': self.a2.db}


def _scale(init, fan_in):
    s = str(init).lower()
    if s in ('relu', 'he'):
        return np.sqrt(2.0 / fan_in)
    if s in ('sigmoid', 'xavier'):
        return np.sqrt(1.0 / fan_in)
    return init


class MultiLayerNetExtend(_Sequential):
    """MultiLayerNet when use_dropout = use_batchnorm = False (same keys, draws, loss)."""

    def __init__(self, n_in, hidden, n_out, activation='relu', weight_init_std='relu',
                 weight_decay_lambda=0, use_dropout=False, dropout_ration=0.5,
                 use_batchnorm=False):
        sizes = [n_in] + list(hidden) + [n_out]
        self.L = len(hidden)
        self.lam = weight_decay_lambda
        self.use_bn = use_batchnorm
        self.params = {}
        for i in range(1, len(sizes)):
            s = _scale(weight_init_std, sizes[i - 1])
            self.params[f'W{i}'] = s * np.random.randn(sizes[i - 1], sizes[i])
            self.params[f'b{i}'] = np.zeros(sizes[i])
        act = {'relu': Relu, 'sigmoid': Sigmoid}[activation]
        self.seq, self.named = [], {}
        for i in range(1, self.L + 2):
            self._add(f'Affine{i}', Affine(self.params[f'W{i}'], self.params[f'b{i}']))
            if i == self.L + 1:
                break
            if use_batchnorm:
                self.params[f'gamma{i}'] = np.ones(sizes[i])
                self.params[f'beta{i}'] = np.zeros(sizes[i])
                self._add(f'BatchNorm{i}',
                          BatchNorm(self.params[f'gamma{i}'], self.params[f'beta{i}']))
            self._add(f'Activation_function{i}', act())
            if use_dropout:
                self._add(f'Dropout{i}', Dropout(dropout_ration))
        self.last = SoftmaxWithLoss()

    def _add(self, name, layer):
        self.seq.append((name, layer))
        self.named[name] = layer

    def predict(self, x, train_flg=False):
        return self._forward(x, train_flg)

    def loss(self, x, t, train_flg=False):
        return self._loss(x, t, train_flg)

    def _loss(self, x, t, train_flg):
        decay = 0
        for i in range(1, self.L + 2):
            decay += 0.5 * self.lam * np.sum(self.params[f'W{i}'] ** 2)
        return self.last.forward(self.predict(x, train_flg), t) + decay

    def accuracy(self, x, t):
        return self._argmax_accuracy(self.predict(x, False), t)

    def gradient(self, x, t):
        self._loss(x, t, True)
        self._backward()
        g = {}
        for i in range(1, self.L + 2):
            a = self.named[f'Affine{i}']
            g[f'W{i}'] = a.dW + self.lam * self.params[f'W{i}']
            g[f'b{i}'] = a.db
            if self.use_bn and i <= self.L:
                g[f'gamma{i}'] = self.named[f'BatchNorm{i}'].dgamma
                g[f'beta{i}'] = self.named[f'BatchNorm{i}'].dbeta
        return g


class MultiLayerNet(MultiLayerNetExtend):
    def __init__(self, n_in, hidden, n_out, activation='relu', weight_init_std='relu',
                 weight_decay_lambda=0):
        super().__init__(n_in, hidden, n_out, activation, weight_init_std,
                         weight_decay_lambda)

    def loss(self, x, t):
        return self._loss(x, t, False)


def _batched_accuracy(predict, x, t, bs):
    """Full batches only, divided by the full N (0.0 below one batch)."""
    t = t if t.ndim == 1 else t.argmax(axis=1)
    hits = 0.0
    for k in range(x.shape[0] // bs):
        y = predict(x[k * bs:(k + 1) * bs])
        hits += np.sum(y.argmax(axis=1) == t[k * bs:(k + 1) * bs])
    return hits / x.shape[0]


class SimpleConvNet(_Sequential):
    def __init__(self, input_dim=(1, 28, 28),
                 conv_param=None, hidden_size=100, output_size=10, weight_init_std=0.01):
        cp = conv_param or {'filter_num': 30, 'filter_size': 5, 'pad': 0, 'stride': 1}
        fn, fs = cp['filter_num'], cp['filter_size']
        conv_out = (input_dim[1] - fs + 2 * cp['pad']) / cp['stride'] + 1
        pool_out = int(fn * (conv_out / 2) * (conv_out / 2))
        std = weight_init_std
        self.params = {'W1': std * np.random.randn(fn, input_dim[0], fs, fs),
                       'b1': np.zeros(fn)}
        self.params['W2'] = std * np.random.randn(pool_out, hidden_size)
        self.params['b2'] = np.zeros(hidden_size)
        self.params['W3'] = std * np.random.randn(hidden_size, output_size)
        self.params['b3'] = np.zeros(output_size)
        p = self.params
        self.pl = [Conv(p['W1'], p['b1'], cp['stride'], cp['pad']),
                   Affine(p['W2'], p['b2']), Affine(p['W3'], p['b3'])]
        self.seq = [('Conv1', self.pl[0]), ('Relu1', Relu()), ('Pool1', MaxPool(2, 2, 2)),
                    ('Affine1', self.pl[1]), ('Relu2', Relu()), ('Affine2', self.pl[2])]
        self.last = SoftmaxWithLoss()

    def predict(self, x):
        return self._forward(x)

    def loss(self, x, t):
        return self.last.forward(self.predict(x), t)

    def accuracy(self, x, t, batch_size=100):
        return _batched_accuracy(self.predict, x, t, batch_size)

    def gradient(self, x, t):
        self.loss(x, t)
        self._backward()
        g = {}
        for i, layer in enumerate(self.pl, 1):
            g[f'W{i}'], g[f'b{i}'] = layer.dW, layer.db
        return g


class DeepConvNet(_Sequential):
    """ch08 with its default conv params, for 28x28 input."""

    CONV = [(16, 1), (16, 1), (32, 1), (32, 2), (64, 1), (64, 1)]  # (filters, pad), 3x3

    def __init__(self, input_dim=(1, 28, 28), hidden_size=50, output_size=10):
        fan_in = np.array([9, 144, 144, 288, 288, 576, 1024, hidden_size])
        scales = np.sqrt(2.0 / fan_in)
        self.params = {}
        ch = input_dim[0]
        for i, (fn, _) in enumerate(self.CONV, 1):
            self.params[f'W{i}'] = scales[i - 1] * np.random.randn(fn, ch, 3, 3)
            self.params[f'b{i}'] = np.zeros(fn)
            ch = fn
        self.params['W7'] = scales[6] * np.random.randn(1024, hidden_size)
        self.params['b7'] = np.zeros(hidden_size)
        self.params['W8'] = scales[7] * np.random.randn(hidden_size, output_size)
        self.params['b8'] = np.zeros(output_size)
        p = self.params
        convs = [Conv(p[f'W{i}'], p[f'b{i}'], 1, pad)
                 for i, (_, pad) in enumerate(self.CONV, 1)]
        layers = []
        for k in range(3):
            layers += [convs[2 * k], Relu(), convs[2 * k + 1], Relu(), MaxPool(2, 2, 2)]
        self.pl = convs + [Affine(p['W7'], p['b7']), Affine(p['W8'], p['b8'])]
        layers += [self.pl[6], Relu(), Dropout(0.5), self.pl[7], Dropout(0.5)]
        self.seq = [(str(i), layer) for i, layer in enumerate(layers)]
        self.last = SoftmaxWithLoss()

    def predict(self, x, train_flg=False):
        return self._forward(x, train_flg)

    def loss(self, x, t):
        return self.last.forward(self.predict(x, True), t)

    def accuracy(self, x, t, batch_size=100):
        return _batched_accuracy(lambda v: self.predict(v, False), x, t, batch_size)

    def gradient(self, x, t):
        self.loss(x, t)
        self._backward()
        g = {}
        for i, layer in enumerate(self.pl, 1):
            g[f'W{i}'], g[f'b{i}'] = layer.dW, layer.db
        return g


# --------------------------------------------------------------------------- optimizers
class SGD:
    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        for k in params:
            params[k] -= self.lr * grads[k]


class Momentum:
    def __init__(self, lr=0.01, momentum=0.9):
        self.lr, self.mu, self.v = lr, momentum, None

    def update(self, params, grads):
        if self.v is None:
            self.v = {k: np.zeros_like(p) for k, p in params.items()}
        for k in params:
            self.v[k] = self.mu * self.v[k] - self.lr * grads[k]
            params[k] += self.v[k]


class AdaGrad:
    def __init__(self, lr=0.01):
        self.lr, self.h = lr, None

    def update(self, params, grads):
        if self.h is None:
            self.h = {k: np.zeros_like(p) for k, p in params.items()}
        for k in params:
            self.h[k] += grads[k] * grads[k]
            params[k] -= self.lr * grads[k] / (np.sqrt(self.h[k]) + 1e-7)


class Adam:
    """The book's form: bias correction folded into lr_t, eps on the uncorrected sqrt(v)."""

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr, self.b1, self.b2 = lr, beta1, beta2
        self.iter, self.m, self.v = 0, None, None

    def update(self, params, grads):
        if self.m is None:
            self.m = {k: np.zeros_like(p) for k, p in params.items()}
            self.v = {k: np.zeros_like(p) for k, p in params.items()}
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.b2 ** self.iter) / (1.0 - self.b1 ** self.iter)
        for k in params:
            g = grads[k]
            self.m[k] += (1 - self.b1) * (g - self.m[k])
            self.v[k] += (1 - self.b2) * (g ** 2 - self.v[k])
            params[k] -= lr_t * self.m[k] / (np.sqrt(self.v[k]) + 1e-7)


OPTIMIZERS = {'sgd': SGD, 'momentum': Momentum, 'adagrad': AdaGrad, 'adam': Adam}


# ------------------------------------------------------------------------------ trainer
class Trainer:
    """Spec section 7: choice with replacement, loss after the update, float iter_per_epoch
    with a float modulo test; ``lines`` collects what the book's trainer prints."""

    def __init__(self, network, x_train, t_train, x_test, t_test, epochs=20,
                 mini_batch_size=100, optimizer='SGD', optimizer_param=None,
                 evaluate_sample_num_per_epoch=None, verbose=True):
        self.net = network
        self.data = (x_train, t_train, x_test, t_test)
        self.bs = mini_batch_size
        self.opt = OPTIMIZERS[optimizer.lower()](**(optimizer_param or {'lr': 0.01}))
        self.k = evaluate_sample_num_per_epoch
        self.verbose = verbose
        self.n = x_train.shape[0]
        self.iter_per_epoch = max(self.n / mini_batch_size, 1)
        self.max_iter = int(epochs * self.iter_per_epoch)
        self.train_loss_list, self.train_acc_list, self.test_acc_list = [], [], []
        self.lines = []
        self.epoch = 0

    def _say(self, s):
        if self.verbose:
            self.lines.append(s)

    def train(self):
        xtr, ttr, xte, tte = self.data
        for it in range(self.max_iter):
            pick = np.random.choice(self.n, self.bs)
            xb, tb = xtr[pick], ttr[pick]
            grads = self.net.gradient(xb, tb)
            self.opt.update(self.net.params, grads)
            loss = self.net.loss(xb, tb)
            self.train_loss_list.append(loss)
            self._say(f"train loss:{loss}")
            if it % self.iter_per_epoch == 0:
                self.epoch += 1
                k = self.k if self.k is not None else None
                a = self.net.accuracy(xtr[:k], ttr[:k])
                b = self.net.accuracy(xte[:k], tte[:k])
                self.train_acc_list.append(a)
                self.test_acc_list.append(b)
                self._say(f"=== epoch:{self.epoch}, train acc:{a}, test acc:{b} ===")
        final = self.net.accuracy(xte, tte)
        self._say("=============== Final Test Accuracy ===============")
        self._say(f"test acc:{final}")
        return final
