"""Oracle for the foundation: functions, Relu, Sigmoid, Affine, SoftmaxWithLoss, SGD.
Plain numpy from the spec (sections 1, 2.1-2.4, 3); no dlcore."""
import numpy as np


def sigmoid(x):
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def sigmoid_grad(x):
    s = sigmoid(x)
    return (1.0 - s) * s


def relu(x):
    return np.maximum(0, x)


def relu_grad(x):
    g = np.zeros_like(x)
    g[x >= 0] = 1
    return g


def softmax(x):
    shifted = x - np.max(x, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=-1, keepdims=True)


def cross_entropy(y, t):
    if y.ndim == 1:
        y = y.reshape(1, -1)
        t = np.asarray(t).reshape(1, -1)
    if np.size(t) == y.size:
        t = np.asarray(t).reshape(y.shape).argmax(axis=1)
    t = np.asarray(t).reshape(-1)
    n = y.shape[0]
    return -np.sum(np.log(y[np.arange(n), t] + 1e-7)) / n


def relu_layer_forward(x):
    mask = x <= 0
    out = np.array(x, copy=True)
    out[mask] = 0
    return out, mask


def affine_forward(x, W, b):
    x2 = x.reshape(x.shape[0], -1)
    return x2 @ W + b


def affine_backward(dout, x, W):
    x2 = x.reshape(x.shape[0], -1)
    dx = (dout @ W.T).reshape(x.shape)
    return dx, x2.T @ dout, dout.sum(axis=0)


def softmax_with_loss_backward(y, t):
    n = y.shape[0]
    if np.size(t) == y.size:
        return (y - np.asarray(t).reshape(y.shape)) / n
    d = y.copy()
    d[np.arange(n), np.asarray(t).reshape(-1)] -= 1
    return d / n


def central_diff4(f, x, h=1e-3):
    """4-point central difference of a scalar f over every element of x (float64, in place,
    restored): error O(h^4)."""
    g = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        vals = []
        for k in (2, 1, -1, -2):
            x[i] = old + k * h
            vals.append(f())
        x[i] = old
        g[i] = (-vals[0] + 8 * vals[1] - 8 * vals[2] + vals[3]) / (12 * h)
    return g
