"""The benchmark baseline: a straightforward numpy implementation of the book's networks.

Written for the suite from the behaviour in spec/book-api.md (sections 2, 3, 6, 8, 10): the
same layers, formulas, epsilons, RNG calls and order as the book's ``common`` package, one
numpy expression per book statement, no tuning. It is what a reader of the book runs today.
float32 runs use float32 parameters and inputs; the only deliberate difference from the book
is that ``im2col`` keeps the input dtype (the book's always returns float64, which would make
a float32 convnet compute in float64).

Networks are built from explicit initial parameters (a dict of arrays, copied) so that every
implementation in the suite starts from the same weights. ``Dropout`` draws its mask from
numpy's global legacy RNG (``np.random.rand(*x.shape) > ratio``) unless a ``mask_source``
callable is given (the suite uses that to replay another implementation's masks).
"""
from collections import OrderedDict

import numpy as np


# ---------------------------------------------------------------------------- layers
class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b
        self.x = self.shape = self.dW = self.db = None

    def forward(self, x):
        self.shape = x.shape
        x = x.reshape(x.shape[0], -1)
        self.x = x
        return np.dot(x, self.W) + self.b

    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx.reshape(*self.shape)


class Relu:
    def __init__(self):
        self.mask = None

    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout[self.mask] = 0
        return dout


class Sigmoid:
    def __init__(self):
        self.out = None

    def forward(self, x):
        self.out = 1 / (1 + np.exp(-x))
        return self.out

    def backward(self, dout):
        return dout * (1.0 - self.out) * self.out


class Dropout:
    """The book's (non-inverted) dropout."""

    def __init__(self, ratio, mask_source=None):
        self.ratio = ratio
        self.mask = None
        self.mask_source = mask_source

    def forward(self, x, train_flg=True):
        if train_flg:
            if self.mask_source is not None:
                self.mask = self.mask_source(self, x.shape)
            else:
                self.mask = np.random.rand(*x.shape) > self.ratio
            return x * self.mask
        return x * (1.0 - self.ratio)

    def backward(self, dout):
        return dout * self.mask


class BatchNorm:
    """The book's batch normalization on 2-D input (eps 1e-6, biased variance)."""

    def __init__(self, gamma, beta, momentum=0.9):
        self.gamma, self.beta, self.momentum = gamma, beta, momentum
        self.running_mean = self.running_var = None
        self.xc = self.xn = self.std = self.dgamma = self.dbeta = None
        self.batch_size = None

    def forward(self, x, train_flg=True):
        if self.running_mean is None:
            self.running_mean = np.zeros(x.shape[1], x.dtype)
            self.running_var = np.zeros(x.shape[1], x.dtype)
        if train_flg:
            mu = x.mean(axis=0)
            xc = x - mu
            var = np.mean(xc ** 2, axis=0)
            std = np.sqrt(var + 10e-7)
            xn = xc / std
            self.batch_size, self.xc, self.xn, self.std = x.shape[0], xc, xn, std
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mu
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
        else:
            xn = (x - self.running_mean) / np.sqrt(self.running_var + 10e-7)
        return self.gamma * xn + self.beta

    def backward(self, dout):
        self.dbeta = dout.sum(axis=0)
        self.dgamma = np.sum(self.xn * dout, axis=0)
        dxn = self.gamma * dout
        dxc = dxn / self.std
        dstd = -np.sum((dxn * self.xc) / (self.std * self.std), axis=0)
        dvar = 0.5 * dstd / self.std
        dxc += (2.0 / self.batch_size) * self.xc * dvar
        dmu = np.sum(dxc, axis=0)
        return dxc - dmu / self.batch_size


def softmax(x):
    x = x - np.max(x, axis=-1, keepdims=True)
    e = np.exp(x)
    return e / np.sum(e, axis=-1, keepdims=True)


class SoftmaxWithLoss:
    def __init__(self):
        self.y = self.t = self.loss = None

    def forward(self, x, t):
        self.t = t
        self.y = softmax(x)
        n = self.y.shape[0]
        self.loss = -np.sum(np.log(self.y[np.arange(n), t] + 1e-7)) / n
        return self.loss

    def backward(self, dout=1):
        n = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(n), self.t] -= 1
        return dx / n


def im2col(x, fh, fw, stride=1, pad=0):
    """(N,C,H,W) -> (N*oh*ow, C*fh*fw), the book's layout (rows (n,oh,ow), columns
    (c,fh,fw)); keeps x's dtype (see the module docstring)."""
    N, C, H, W = x.shape
    oh = (H + 2 * pad - fh) // stride + 1
    ow = (W + 2 * pad - fw) // stride + 1
    xp = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.zeros((N, C, fh, fw, oh, ow), x.dtype)
    for i in range(fh):
        for j in range(fw):
            col[:, :, i, j, :, :] = xp[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(N * oh * ow, -1)


def col2im(col, shape, fh, fw, stride=1, pad=0):
    N, C, H, W = shape
    oh = (H + 2 * pad - fh) // stride + 1
    ow = (W + 2 * pad - fw) // stride + 1
    col = col.reshape(N, oh, ow, C, fh, fw).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1), col.dtype)
    for i in range(fh):
        for j in range(fw):
            img[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride] += col[:, :, i, j, :, :]
    return img[:, :, pad:H + pad, pad:W + pad]


class Convolution:
    def __init__(self, W, b, stride=1, pad=0):
        self.W, self.b, self.stride, self.pad = W, b, stride, pad
        self.x = self.col = self.col_W = self.dW = self.db = None

    def forward(self, x):
        FN, C, FH, FW = self.W.shape
        N, C, H, W = x.shape
        oh = 1 + (H + 2 * self.pad - FH) // self.stride
        ow = 1 + (W + 2 * self.pad - FW) // self.stride
        col = im2col(x, FH, FW, self.stride, self.pad)
        col_W = self.W.reshape(FN, -1).T
        out = np.dot(col, col_W) + self.b
        self.x, self.col, self.col_W = x, col, col_W
        return out.reshape(N, oh, ow, -1).transpose(0, 3, 1, 2)

    def backward(self, dout):
        FN, C, FH, FW = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)
        self.db = np.sum(dout, axis=0)
        self.dW = np.dot(self.col.T, dout).transpose(1, 0).reshape(FN, C, FH, FW)
        dcol = np.dot(dout, self.col_W.T)
        return col2im(dcol, self.x.shape, FH, FW, self.stride, self.pad)


class Pooling:
    def __init__(self, ph, pw, stride=2, pad=0):
        self.ph, self.pw, self.stride, self.pad = ph, pw, stride, pad
        self.x = self.arg_max = None

    def forward(self, x):
        N, C, H, W = x.shape
        oh = int(1 + (H - self.ph) / self.stride)
        ow = int(1 + (W - self.pw) / self.stride)
        col = im2col(x, self.ph, self.pw, self.stride, self.pad).reshape(-1, self.ph * self.pw)
        self.arg_max = np.argmax(col, axis=1)
        out = np.max(col, axis=1)
        self.x = x
        return out.reshape(N, oh, ow, C).transpose(0, 3, 1, 2)

    def backward(self, dout):
        dout = dout.transpose(0, 2, 3, 1)
        size = self.ph * self.pw
        dmax = np.zeros((dout.size, size), dout.dtype)
        dmax[np.arange(self.arg_max.size), self.arg_max.flatten()] = dout.flatten()
        N, oh, ow, C = dout.shape
        dcol = dmax.reshape(N * oh * ow, C * size)
        return col2im(dcol, self.x.shape, self.ph, self.pw, self.stride, self.pad)


# ---------------------------------------------------------------------------- optimizers
class SGD:
    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        for key in params.keys():
            params[key] -= self.lr * grads[key]


class Adam:
    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr, self.beta1, self.beta2 = lr, beta1, beta2
        self.iter = 0
        self.m = self.v = None

    def update(self, params, grads):
        if self.m is None:
            self.m = {k: np.zeros_like(v) for k, v in params.items()}
            self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)
        for key in params.keys():
            self.m[key] += (1 - self.beta1) * (grads[key] - self.m[key])
            self.v[key] += (1 - self.beta2) * (grads[key] ** 2 - self.v[key])
            params[key] -= lr_t * self.m[key] / (np.sqrt(self.v[key]) + 1e-7)


# ---------------------------------------------------------------------------- networks
class Net:
    """A layer chain ending in SoftmaxWithLoss, with the book networks' methods: layers
    whose name contains "Dropout" or "BatchNorm" get ``train_flg`` (MultiLayerNetExtend's
    rule); ``grad_keys`` maps parameter names to (layer name, attribute)."""

    def __init__(self, params, layers, grad_keys):
        self.params = params
        self.layers = layers
        self.grad_keys = grad_keys
        self.last_layer = SoftmaxWithLoss()

    def predict(self, x, train_flg=False):
        for key, layer in self.layers.items():
            if "Dropout" in key or "BatchNorm" in key:
                x = layer.forward(x, train_flg)
            else:
                x = layer.forward(x)
        return x

    def loss(self, x, t, train_flg=False):
        return self.last_layer.forward(self.predict(x, train_flg), t)

    def gradient(self, x, t):
        self.loss(x, t, train_flg=True)
        dout = self.last_layer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        return {k: getattr(self.layers[name], attr) for k, (name, attr) in self.grad_keys.items()}


def _copy(params, dtype):
    return {k: np.array(v, dtype=dtype) for k, v in params.items()}


def mlp(params, hidden_layers, dtype, activation=Relu, dropout=None, batchnorm=False,
        mask_source=None):
    """MultiLayerNet / MultiLayerNetExtend (TwoLayerNet is mlp with one hidden layer)."""
    p = _copy(params, dtype)
    layers, keys = OrderedDict(), {}
    n = hidden_layers + 1
    for i in range(1, n + 1):
        layers[f"Affine{i}"] = Affine(p[f"W{i}"], p[f"b{i}"])
        keys[f"W{i}"] = (f"Affine{i}", "dW")
        keys[f"b{i}"] = (f"Affine{i}", "db")
        if i == n:
            break
        if batchnorm:
            layers[f"BatchNorm{i}"] = BatchNorm(p[f"gamma{i}"], p[f"beta{i}"])
            keys[f"gamma{i}"] = (f"BatchNorm{i}", "dgamma")
            keys[f"beta{i}"] = (f"BatchNorm{i}", "dbeta")
        layers[f"Activation_function{i}"] = activation()
        if dropout is not None:
            layers[f"Dropout{i}"] = Dropout(dropout, mask_source)
    return Net(p, layers, {k: keys[k] for k in p})


def simple_convnet(params, dtype, stride=1, pad=0):
    p = _copy(params, dtype)
    layers = OrderedDict()
    layers["Conv1"] = Convolution(p["W1"], p["b1"], stride, pad)
    layers["Relu1"] = Relu()
    layers["Pool1"] = Pooling(2, 2, stride=2)
    layers["Affine1"] = Affine(p["W2"], p["b2"])
    layers["Relu2"] = Relu()
    layers["Affine2"] = Affine(p["W3"], p["b3"])
    keys = {"W1": ("Conv1", "dW"), "b1": ("Conv1", "db"), "W2": ("Affine1", "dW"),
            "b2": ("Affine1", "db"), "W3": ("Affine2", "dW"), "b3": ("Affine2", "db")}
    return Net(p, layers, keys)


def predict_batched(net, x, batch_size=100):
    """Inference in batches (the book's convnet ``accuracy`` loop); returns the argmaxes."""
    out = []
    for i in range(int(x.shape[0] / batch_size)):
        out.append(np.argmax(net.predict(x[i * batch_size:(i + 1) * batch_size]), axis=1))
    return np.concatenate(out)
