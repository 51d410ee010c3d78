"""Oracle for dropout, batch normalization and the chapter-6 utilities. Plain numpy, written
from the spec (sections 2.5, 2.6, 4, 5, 8); no dlcore. Everything is computed in float64."""
import numpy as np

BN_EPS = 1e-6  # the book's 10e-7


def flatten_features(a):
    """(N, D) stays; (N, C, H, W) -> (N, C*H*W): BN normalises per C*H*W feature."""
    a = np.asarray(a, dtype=np.float64)
    return a if a.ndim == 2 else a.reshape(a.shape[0], -1)


def bn_train_forward(x, gamma, beta):
    """Returns out (x's shape) and a dict of the cached quantities (2-D)."""
    shape = np.shape(x)
    x = flatten_features(x)
    gamma, beta = np.asarray(gamma, float), np.asarray(beta, float)
    mean = x.mean(axis=0)
    xc = x - mean
    var = (xc * xc).mean(axis=0)               # biased
    std = np.sqrt(var + BN_EPS)
    xn = xc / std
    out = xn * gamma + beta
    return out.reshape(shape), dict(mean=mean, var=var, xc=xc, xn=xn, std=std)


def bn_test_forward(x, gamma, beta, running_mean, running_var):
    shape = np.shape(x)
    x = flatten_features(x)
    xn = (x - np.asarray(running_mean, float)) / np.sqrt(np.asarray(running_var, float) + BN_EPS)
    return (xn * np.asarray(gamma, float) + np.asarray(beta, float)).reshape(shape)


def bn_backward(dout, cache, gamma):
    """The spec's statements (2.6) as written there, in float64. Returns dx (2-D), dgamma,
    dbeta."""
    dout = flatten_features(dout)
    gamma = np.asarray(gamma, float)
    xc, xn, std = cache["xc"], cache["xn"], cache["std"]
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (xn * dout).sum(axis=0)
    dxn = gamma * dout
    dxc = dxn / std
    dstd = -((dxn * xc) / (std * std)).sum(axis=0)
    dvar = 0.5 * dstd / std
    dxc = dxc + (2.0 / n) * xc * dvar
    dmu = dxc.sum(axis=0)
    return dxc - dmu / n, dgamma, dbeta


def bn_backward_closed_form(dout, cache, gamma):
    """The textbook closed form (gamma/std) (dout - mean(dout) - xn mean(dout xn)): equal to
    the spec's statements in exact arithmetic (used as a second, differently derived check)."""
    dout = flatten_features(dout)
    xn, std = cache["xn"], cache["std"]
    dx = (np.asarray(gamma, float) / std) * (
        dout - dout.mean(axis=0) - xn * (dout * xn).mean(axis=0))
    return dx


def running_update(running, stat, momentum):
    return momentum * running + (1.0 - momentum) * stat


def smooth_curve(x):
    """Kaiser(11, beta 2) weights summing to 1 over the signal mirrored at both ends, as the
    book's slices do: 10 samples x[10..1] before (edge excluded), x[-1..-10] after (edge
    included; the spec says both ends exclude it, but the book's end slice starts at x[-1]).
    'valid' sums, trimmed by 5 at each end."""
    x = [float(v) for v in x]
    n = len(x)
    w = np.kaiser(11, 2.0)
    w = w / w.sum()
    head = [x[i] for i in range(min(10, n - 1), 0, -1)]
    tail = [x[n - 1 - i] for i in range(min(10, n))]
    s = head + x + tail
    m = len(s)
    if m >= 11:
        y = [sum(w[k] * s[i + k] for k in range(11)) for i in range(m - 10)]
    else:  # numpy's 'valid' with the shorter operand as the window
        y = [sum(s[k] * w[i + m - 1 - k] for k in range(m)) for i in range(11 - m + 1)]
    return np.array(y[5:len(y) - 5])
