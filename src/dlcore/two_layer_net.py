"""The book's chapter-5 ``two_layer_net.py``: a 2-layer net built from layers (backprop).

``TwoLayerNet(input_size, hidden_size, output_size, weight_init_std=0.01)`` with
``params`` W1, b1, W2, b2 (the same array objects as the layers' ``W``/``b``), ``layers`` an
OrderedDict ``Affine1``, ``Relu1``, ``Affine2`` and the attribute ``lastLayer`` (camelCase, as
in the book). Chapter 4's TwoLayerNet (sigmoid, no layer objects) is a different class that
the book keeps next to its own scripts.
"""
import os  # noqa: F401  (the book's module namespace, exposed by star imports)
import sys  # noqa: F401
from collections import OrderedDict

import numpy as np

from .layers import *  # noqa: F401,F403  (the book's star-import surface)
from .layers import Affine, Relu, SoftmaxWithLoss
from .gradient import numerical_gradient
from . import _nets


class TwoLayerNet:
    """Affine -> Relu -> Affine -> SoftmaxWithLoss.

    Parameters
    ----------
    input_size, hidden_size, output_size : int
    weight_init_std : float
        W1 and W2 are ``weight_init_std * np.random.randn(...)`` (drawn in that order from
        numpy's global RNG); the biases are zeros.
    dtype : np.float64 (default, the book's) or np.float32, keyword-only
        float32 parameters, and inputs converted to float32, so that every layer computes
        in float32.

    Examples
    --------
    >>> import numpy as np
    >>> np.random.seed(0)
    >>> net = TwoLayerNet(4, 5, 3)
    >>> net.params["W1"] is net.layers["Affine1"].W
    True
    >>> sorted(net.gradient(np.ones((2, 4)), np.array([0, 2])))
    ['W1', 'W2', 'b1', 'b2']
    """

    # Trainer(fused='auto') runs this class on the fused engine; its loss(x, t) is the
    # engine's test-mode loss (True) or is left to the network's own loss (False).
    _dlcore_fused_loss = True

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, *,
                 dtype=np.float64):
        who = "TwoLayerNet"
        self.dtype = dt = _nets.net_dtype(dtype, who)
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size),
                        ("output_size", output_size)):
            _nets.check_positive_int(v, name, who)
        _nets.check_total_size((int(input_size) + 1) * int(hidden_size)
                               + (int(hidden_size) + 1) * int(output_size), who)
        self.params = {}
        self.params['W1'] = _nets.draw(weight_init_std, (input_size, hidden_size), dt)
        self.params['b1'] = _nets.zeros(hidden_size, dt)
        self.params['W2'] = _nets.draw(weight_init_std, (hidden_size, output_size), dt)
        self.params['b2'] = _nets.zeros(output_size, dt)

        self.layers = OrderedDict()
        self.layers['Affine1'] = Affine(self.params['W1'], self.params['b1'])
        self.layers['Relu1'] = Relu()
        self.layers['Affine2'] = Affine(self.params['W2'], self.params['b2'])
        self.lastLayer = SoftmaxWithLoss()

    # ------------------------------------------------------------------ self-description
    # dlcore.save stores _constructor_args(); dlcore.load checks a file's parameters against
    # _param_shapes(kw) of the arguments it names before building anything.
    def _constructor_args(self):
        p = self.params
        return {"input_size": int(p["W1"].shape[0]), "hidden_size": int(p["W1"].shape[1]),
                "output_size": int(p["W2"].shape[1])}

    @staticmethod
    def _param_shapes(kw):
        i, h, o = kw["input_size"], kw["hidden_size"], kw["output_size"]
        return {"W1": (i, h), "b1": (h,), "W2": (h, o), "b2": (o,)}

    def predict(self, x):
        """Raw class scores (no softmax), shape (N, output_size)."""
        x = _nets.as_input(x, self.dtype)
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x, t):
        """Softmax cross-entropy loss; t: labels (N,) or one-hot (N, output_size)."""
        y = self.predict(x)
        return self.lastLayer.forward(y, _nets.as_target(t, self.dtype))

    def accuracy(self, x, t):
        """Fraction of argmax hits (numpy float64); t: labels or one-hot."""
        t = _nets.accuracy_targets(x, t, "TwoLayerNet.accuracy")
        y = self.predict(x)
        y = np.argmax(y, axis=1)
        return np.sum(y == t) / float(np.shape(x)[0])

    def numerical_gradient(self, x, t):
        """Central differences (h=1e-4) of the loss for each parameter, in place."""
        def loss_W(W):
            return self.loss(x, t)

        grads = {}
        for key in ('W1', 'b1', 'W2', 'b2'):
            grads[key] = numerical_gradient(loss_W, self.params[key])
        return grads

    def gradient(self, x, t):
        """Backprop gradients: the layers' own ``dW``/``db`` arrays (no copies)."""
        self.loss(x, t)
        dout = 1
        dout = self.lastLayer.backward(dout)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        grads = {}
        grads['W1'], grads['b1'] = self.layers['Affine1'].dW, self.layers['Affine1'].db
        grads['W2'], grads['b2'] = self.layers['Affine2'].dW, self.layers['Affine2'].db
        return grads

    def save_params(self, file_name="params.pkl"):
        """Pickle ``params`` as a plain dict of arrays (the book's format; beyond the book
        for this class)."""
        _nets.save_params(self, file_name)

    def load_params(self, file_name="params.pkl"):
        """Load a parameter pickle (restricted unpickler) and rebind the layers' W and b."""
        _nets.load_params(self, file_name, "TwoLayerNet.load_params")
        for i, key in enumerate(('Affine1', 'Affine2')):
            self.layers[key].W = self.params['W' + str(i + 1)]
            self.layers[key].b = self.params['b' + str(i + 1)]
