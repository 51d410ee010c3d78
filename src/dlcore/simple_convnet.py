"""The book's chapter-7 ``simple_convnet.py``.

``SimpleConvNet(input_dim=(1, 28, 28), conv_param={'filter_num': 30, 'filter_size': 5,
'pad': 0, 'stride': 1}, hidden_size=100, output_size=10, weight_init_std=0.01)``:
Conv1 -> Relu1 -> Pool1 (2x2, stride 2) -> Affine1 -> Relu2 -> Affine2 -> SoftmaxWithLoss
(``last_layer``). ``save_params``/``load_params`` exchange the book's ``params.pkl`` (a plain
dict of arrays; loading goes through a restricted unpickler).
"""
import os  # noqa: F401  (the book's module namespace, exposed by star imports)
import pickle  # noqa: F401
import sys  # noqa: F401
from collections import OrderedDict

import numpy as np

from .layers import *  # noqa: F401,F403  (the book's star-import surface)
from .layers import Affine, Convolution, Pooling, Relu, SoftmaxWithLoss
from .gradient import numerical_gradient
from . import _nets

_CONV_KEYS = ('filter_num', 'filter_size', 'pad', 'stride')


def _check_conv_param(conv_param, who, name="conv_param"):
    if not isinstance(conv_param, dict) or any(k not in conv_param for k in _CONV_KEYS):
        raise ValueError(f"{who}: expected {name} to be a dict with keys "
                         f"{', '.join(_CONV_KEYS)}; got {conv_param!r}")
    _nets.check_positive_int(conv_param['filter_num'], f"{name}['filter_num']", who)
    _nets.check_positive_int(conv_param['filter_size'], f"{name}['filter_size']", who)
    _nets.check_positive_int(conv_param['stride'], f"{name}['stride']", who)
    pad = conv_param['pad']
    if isinstance(pad, bool) or not isinstance(pad, (int, np.integer)) or pad < 0:
        raise ValueError(f"{who}: expected a non-negative int for {name}['pad']; got {pad!r}")


class SimpleConvNet:
    """conv - relu - pool - affine - relu - affine - softmax.

    Parameters
    ----------
    input_dim : (C, H, W); the sizes use H only (square input, as in the book).
    conv_param : dict with keys filter_num, filter_size, pad, stride.
    hidden_size, output_size : int
    weight_init_std : float
        W1, W2, W3 are ``weight_init_std * np.random.randn(...)``, drawn in that order.
    dtype : np.float64 (default, the book's) or np.float32, keyword-only

    Examples
    --------
    >>> import numpy as np
    >>> np.random.seed(0)
    >>> net = SimpleConvNet(input_dim=(1, 8, 8), conv_param={'filter_num': 2,
    ...     'filter_size': 3, 'pad': 0, 'stride': 1}, hidden_size=4, output_size=3)
    >>> net.params['W2'].shape
    (18, 4)
    >>> net.predict(np.zeros((2, 1, 8, 8))).shape
    (2, 3)
    """

    # Trainer(fused='auto') runs this class on the fused engine; its loss(x, t) is the
    # engine's test-mode loss (True) or is left to the network's own loss (False).
    _dlcore_fused_loss = True

    def __init__(self, input_dim=(1, 28, 28),
                 conv_param={'filter_num': 30, 'filter_size': 5, 'pad': 0, 'stride': 1},
                 hidden_size=100, output_size=10, weight_init_std=0.01, *, dtype=np.float64):
        who = "SimpleConvNet"
        self.dtype = dt = _nets.net_dtype(dtype, who)
        _check_conv_param(conv_param, who)
        if not isinstance(input_dim, (tuple, list)) or len(input_dim) != 3:
            raise ValueError(f"{who}: expected input_dim=(C, H, W); got {input_dim!r}")
        for i, v in enumerate(input_dim):
            _nets.check_positive_int(v, f"input_dim[{i}]", who)
        _nets.check_positive_int(hidden_size, "hidden_size", who)
        _nets.check_positive_int(output_size, "output_size", who)
        filter_num = conv_param['filter_num']
        filter_size = conv_param['filter_size']
        filter_pad = conv_param['pad']
        filter_stride = conv_param['stride']
        input_size = input_dim[1]
        conv_output_size = (input_size - filter_size + 2 * filter_pad) / filter_stride + 1
        pool_output_size = int(filter_num * (conv_output_size / 2) * (conv_output_size / 2))
        real_pool = ((input_size + 2 * filter_pad - filter_size) // filter_stride + 1) // 2
        if pool_output_size != filter_num * real_pool * real_pool or real_pool < 1:
            # the book computes W2's rows with this float formula; where it disagrees with
            # the real pooled size its network fails at the first Affine
            raise ValueError(
                f"{who}: expected sizes where (H - filter_size + 2*pad)/stride + 1 is an even "
                f"integer >= 2 (the book's formula for W2's rows); got input_dim={input_dim!r}, "
                f"conv_param={conv_param!r}, which gives {conv_output_size:g}")

        _nets.check_total_size(filter_num * (int(input_dim[0]) * filter_size**2 + 1)
                               + (pool_output_size + 1) * hidden_size
                               + (hidden_size + 1) * output_size, who)
        self.params = {}
        self.params['W1'] = _nets.draw(weight_init_std,
                                       (filter_num, input_dim[0], filter_size, filter_size), dt)
        self.params['b1'] = _nets.zeros(filter_num, dt)
        self.params['W2'] = _nets.draw(weight_init_std, (pool_output_size, hidden_size), dt)
        self.params['b2'] = _nets.zeros(hidden_size, dt)
        self.params['W3'] = _nets.draw(weight_init_std, (hidden_size, output_size), dt)
        self.params['b3'] = _nets.zeros(output_size, dt)

        self.input_dim = tuple(int(v) for v in input_dim)  # (dlcore.save)
        self.layers = OrderedDict()
        self.layers['Conv1'] = Convolution(self.params['W1'], self.params['b1'],
                                           conv_param['stride'], conv_param['pad'])
        self.layers['Relu1'] = Relu()
        self.layers['Pool1'] = Pooling(pool_h=2, pool_w=2, stride=2)
        self.layers['Affine1'] = Affine(self.params['W2'], self.params['b2'])
        self.layers['Relu2'] = Relu()
        self.layers['Affine2'] = Affine(self.params['W3'], self.params['b3'])

        self.last_layer = SoftmaxWithLoss()

    # ------------------------------------------------------------------ self-description
    # dlcore.save stores _constructor_args(); dlcore.load checks a file's parameters against
    # _param_shapes(kw) of the arguments it names before building anything.
    def _constructor_args(self):
        p = self.params
        return {"input_dim": list(self.input_dim),
                "conv_param": _nets.conv_param_of(self.layers["Conv1"]),
                "hidden_size": int(p["W2"].shape[1]), "output_size": int(p["W3"].shape[1])}

    @staticmethod
    def _param_shapes(kw):
        dim, cp = kw["input_dim"], kw["conv_param"]
        FN, fs = cp["filter_num"], cp["filter_size"]
        co = (dim[1] - fs + 2 * cp["pad"]) / cp["stride"] + 1  # the book's float formula
        hid, out = kw["hidden_size"], kw["output_size"]
        return {"W1": (FN, dim[0], fs, fs), "b1": (FN,),
                "W2": (int(FN * (co / 2) * (co / 2)), hid), "b2": (hid,),
                "W3": (hid, out), "b3": (out,)}

    def predict(self, x):
        """Raw class scores for x of shape (N, C, H, W)."""
        x = _nets.as_input(x, self.dtype)
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x, t):
        """Softmax cross-entropy loss; t: labels (N,) or one-hot."""
        y = self.predict(x)
        return self.last_layer.forward(y, _nets.as_target(t, self.dtype))

    def accuracy(self, x, t, batch_size=100):
        """Argmax accuracy over ``int(N / batch_size)`` full batches, divided by N (the book:
        the remainder is skipped, and fewer than ``batch_size`` samples give 0.0)."""
        return _nets.accuracy_batched(self, x, t, batch_size, self.predict)

    def numerical_gradient(self, x, t):
        """Central differences (h=1e-4) of the loss for W1..W3, b1..b3."""
        def loss_w(w):
            return self.loss(x, t)

        grads = {}
        for idx in (1, 2, 3):
            grads['W' + str(idx)] = numerical_gradient(loss_w, self.params['W' + str(idx)])
            grads['b' + str(idx)] = numerical_gradient(loss_w, self.params['b' + str(idx)])
        return grads

    def gradient(self, x, t):
        """Backprop gradients (the layers' own dW/db arrays)."""
        self.loss(x, t)
        dout = 1
        dout = self.last_layer.backward(dout)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        grads = {}
        grads['W1'], grads['b1'] = self.layers['Conv1'].dW, self.layers['Conv1'].db
        grads['W2'], grads['b2'] = self.layers['Affine1'].dW, self.layers['Affine1'].db
        grads['W3'], grads['b3'] = self.layers['Affine2'].dW, self.layers['Affine2'].db
        return grads

    def save_params(self, file_name="params.pkl"):
        """Pickle ``params`` as a plain dict of arrays (the book's ``params.pkl``; relative
        paths are against the current directory; plain ``pickle.load`` reads it)."""
        _nets.save_params(self, file_name)

    def load_params(self, file_name="params.pkl"):
        """Load the book's ``params.pkl`` format through a restricted unpickler (only dicts,
        numbers, strings and numpy arrays), replace the entries of ``params`` and rebind
        W and b of Conv1, Affine1 and Affine2 so that they alias ``params`` again."""
        _nets.load_params(self, file_name, "SimpleConvNet.load_params")
        for i, key in enumerate(['Conv1', 'Affine1', 'Affine2']):
            self.layers[key].W = self.params['W' + str(i + 1)]
            self.layers[key].b = self.params['b' + str(i + 1)]
