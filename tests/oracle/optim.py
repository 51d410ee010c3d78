"""Oracle for the optimizers (spec section 3): each rule as a pure function of float64 arrays
(or Python floats) returning the new parameter and state, with the spec's statement order,
plus the book's 2-D test problem f(x, y) = x^2/20 + y^2. No dlcore."""
import math

import numpy as np

EPS = 1e-7


def _sqrt(a):
    return np.sqrt(a) if isinstance(a, np.ndarray) else math.sqrt(a)


def sgd(p, g, state, lr=0.01):
    return p - lr * g, state


def momentum(p, g, state, lr=0.01, mu=0.9):
    v = state.get("v", 0.0 * p)
    v = mu * v - lr * g
    return p + v, {"v": v}


def nesterov(p, g, state, lr=0.01, mu=0.9):
    v = state.get("v", 0.0 * p)
    # the 2021 order: the parameter moves with the OLD v
    p = p + (mu * mu) * v
    p = p - ((1 + mu) * lr) * g
    v = v * mu
    v = v - lr * g
    return p, {"v": v}


def adagrad(p, g, state, lr=0.01):
    h = state.get("h", 0.0 * p) + g * g
    return p - lr * g / (_sqrt(h) + EPS), {"h": h}


def rmsprop(p, g, state, lr=0.01, rho=0.99):
    h = state.get("h", 0.0 * p) * rho
    h = h + (1 - rho) * g * g
    return p - lr * g / (_sqrt(h) + EPS), {"h": h}


def adam(p, g, state, lr=0.001, beta1=0.9, beta2=0.999):
    """One key's update; state['t'] is the update-call counter AFTER its increment."""
    t = state["t"]
    lr_t = lr * math.sqrt(1.0 - beta2 ** t) / (1.0 - beta1 ** t)
    m = state.get("m", 0.0 * p)
    v = state.get("v", 0.0 * p)
    m = m + (1 - beta1) * (g - m)
    v = v + (1 - beta2) * (g * g - v)
    return p - lr_t * m / (_sqrt(v) + EPS), {"m": m, "v": v, "t": t}


RULES = {"SGD": sgd, "Momentum": momentum, "Nesterov": nesterov, "AdaGrad": adagrad,
         "RMSprop": rmsprop, "Adam": adam}


def f2d(x, y):
    return x ** 2 / 20.0 + y ** 2


def df2d(x, y):
    return x / 10.0, 2.0 * y


def path_2d(name, steps=30, start=(-7.0, 2.0), **hyper):
    """The book's optimizer comparison on scalars: the list of (x, y) visited, start first."""
    rule = RULES[name]
    x, y = start
    sx, sy = {}, {}
    out = [(x, y)]
    for t in range(1, steps + 1):
        gx, gy = df2d(x, y)
        if name == "Adam":
            sx["t"] = sy["t"] = t
        x, sx = rule(x, gx, sx, **hyper)
        y, sy = rule(y, gy, sy, **hyper)
        out.append((x, y))
    return out


def path_array(name, P, steps=30, **hyper):
    """The same problem on a float64 array of points P (..., 2): x = P[..., 0], y = P[..., 1];
    returns the list of arrays visited."""
    rule = RULES[name]
    P = np.array(P, dtype=np.float64)
    state = {}
    out = [P.copy()]
    for t in range(1, steps + 1):
        G = np.stack(df2d(P[..., 0], P[..., 1]), axis=-1)
        if name == "Adam":
            state["t"] = t
        P, state = rule(P, G, state, **hyper)
        out.append(P.copy())
    return out
