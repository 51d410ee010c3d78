"""The book's chapter-8 ``deep_convnet.py`` (about 99.3% on MNIST with the shipped params).

conv-relu-conv-relu-pool, three times (16, 32, 64 filters; conv4 has pad 2), then
affine-relu-dropout-affine-dropout-softmax. ``layers`` is a plain list of 20 layers whose
parameterized entries are at indices (0, 2, 5, 7, 10, 12, 15, 18) (W1..W8, b1..b8); the
layers that receive ``train_flg`` are those that are ``isinstance(layer, Dropout)`` with
dlcore's Dropout. The fan-in list of the He init and W7's shape (64*4*4, hidden) are
hard-coded for 28x28 input, as in the book.
"""
import os  # noqa: F401  (the book's module namespace, exposed by star imports)
import pickle  # noqa: F401
import sys  # noqa: F401
from collections import OrderedDict  # noqa: F401

import numpy as np

from .layers import *  # noqa: F401,F403  (the book's star-import surface)
from .layers import Affine, Convolution, Dropout, Pooling, Relu, SoftmaxWithLoss
from .simple_convnet import _check_conv_param
from . import _nets

_PARAM_LAYER_INDICES = (0, 2, 5, 7, 10, 12, 15, 18)


class DeepConvNet:
    """The book's deep CNN for 28x28 input.

    Parameters
    ----------
    input_dim : (C, 28, 28)
    conv_param_1 ... conv_param_6 : dicts with keys filter_num, filter_size, pad, stride
    hidden_size, output_size : int
    dtype : np.float64 (default, the book's) or np.float32, keyword-only

    Weights are He-initialised, ``sqrt(2 / n) * np.random.randn(...)`` with the book's
    hard-coded fan-ins n = [9, 144, 144, 288, 288, 576, 1024, hidden_size], drawn W1..W8.
    ``loss`` always runs in training mode (dropout active, consuming numpy's RNG).

    Examples
    --------
    >>> np.random.seed(0)
    >>> net = DeepConvNet()
    >>> len(net.params), net.params["W1"].shape
    (16, (16, 1, 3, 3))
    >>> net.predict(np.zeros((1, 1, 28, 28)), train_flg=False).shape
    (1, 10)
    """

    # Trainer(fused='auto') runs this class on the fused engine; its loss(x, t) is the
    # engine's test-mode loss (True) or is left to the network's own loss (False).
    _dlcore_fused_loss = False

    def __init__(self, input_dim=(1, 28, 28),
                 conv_param_1={'filter_num': 16, 'filter_size': 3, 'pad': 1, 'stride': 1},
                 conv_param_2={'filter_num': 16, 'filter_size': 3, 'pad': 1, 'stride': 1},
                 conv_param_3={'filter_num': 32, 'filter_size': 3, 'pad': 1, 'stride': 1},
                 conv_param_4={'filter_num': 32, 'filter_size': 3, 'pad': 2, 'stride': 1},
                 conv_param_5={'filter_num': 64, 'filter_size': 3, 'pad': 1, 'stride': 1},
                 conv_param_6={'filter_num': 64, 'filter_size': 3, 'pad': 1, 'stride': 1},
                 hidden_size=50, output_size=10, *, dtype=np.float64):
        who = "DeepConvNet"
        self.dtype = dt = _nets.net_dtype(dtype, who)
        conv_params = [conv_param_1, conv_param_2, conv_param_3,
                       conv_param_4, conv_param_5, conv_param_6]
        for i, cp in enumerate(conv_params):
            _check_conv_param(cp, who, f"conv_param_{i + 1}")
        _nets.check_positive_int(hidden_size, "hidden_size", who)
        _nets.check_positive_int(output_size, "output_size", who)
        if not isinstance(input_dim, (tuple, list)) or len(input_dim) != 3:
            raise ValueError(f"{who}: expected input_dim=(C, 28, 28); got {input_dim!r}")
        _nets.check_positive_int(input_dim[0], "input_dim[0]", who)
        total, pre = (64 * 4 * 4 + 1) * hidden_size + (hidden_size + 1) * output_size, \
            int(input_dim[0])
        for cp in conv_params:
            total += cp['filter_num'] * (pre * cp['filter_size']**2 + 1)
            pre = cp['filter_num']
        _nets.check_total_size(total, who)

        # fan-in of each layer, hard-coded in the book (it does not follow conv_param_*)
        pre_node_nums = np.array([1 * 3 * 3, 16 * 3 * 3, 16 * 3 * 3, 32 * 3 * 3, 32 * 3 * 3,
                                  64 * 3 * 3, 64 * 4 * 4, hidden_size])
        weight_init_scales = np.sqrt(2.0 / pre_node_nums)

        self.input_dim = tuple(int(v) for v in input_dim)  # (dlcore.save)
        self.params = {}
        pre_channel_num = input_dim[0]
        for idx, conv_param in enumerate(conv_params):
            self.params['W' + str(idx + 1)] = _nets.draw(
                weight_init_scales[idx],
                (conv_param['filter_num'], pre_channel_num,
                 conv_param['filter_size'], conv_param['filter_size']), dt)
            self.params['b' + str(idx + 1)] = _nets.zeros(conv_param['filter_num'], dt)
            pre_channel_num = conv_param['filter_num']
        self.params['W7'] = _nets.draw(weight_init_scales[6], (64 * 4 * 4, hidden_size), dt)
        self.params['b7'] = _nets.zeros(hidden_size, dt)
        self.params['W8'] = _nets.draw(weight_init_scales[7], (hidden_size, output_size), dt)
        self.params['b8'] = _nets.zeros(output_size, dt)

        p = self.params

        def conv(i):
            cp = conv_params[i - 1]
            return Convolution(p['W' + str(i)], p['b' + str(i)], cp['stride'], cp['pad'])

        self.layers = []
        self.layers.append(conv(1))
        self.layers.append(Relu())
        self.layers.append(conv(2))
        self.layers.append(Relu())
        self.layers.append(Pooling(pool_h=2, pool_w=2, stride=2))
        self.layers.append(conv(3))
        self.layers.append(Relu())
        self.layers.append(conv(4))
        self.layers.append(Relu())
        self.layers.append(Pooling(pool_h=2, pool_w=2, stride=2))
        self.layers.append(conv(5))
        self.layers.append(Relu())
        self.layers.append(conv(6))
        self.layers.append(Relu())
        self.layers.append(Pooling(pool_h=2, pool_w=2, stride=2))
        self.layers.append(Affine(p['W7'], p['b7']))
        self.layers.append(Relu())
        self.layers.append(Dropout(0.5))
        self.layers.append(Affine(p['W8'], p['b8']))
        self.layers.append(Dropout(0.5))

        self.last_layer = SoftmaxWithLoss()

    # ------------------------------------------------------------------ self-description
    # dlcore.save stores _constructor_args(); dlcore.load checks a file's parameters against
    # _param_shapes(kw) of the arguments it names before building anything.
    def _constructor_args(self):
        p = self.params
        args = {"input_dim": list(self.input_dim)}
        for i, idx in enumerate(_PARAM_LAYER_INDICES[:6]):
            args[f"conv_param_{i + 1}"] = _nets.conv_param_of(self.layers[idx])
        args.update(hidden_size=int(p["W7"].shape[1]), output_size=int(p["W8"].shape[1]))
        return args

    @staticmethod
    def _param_shapes(kw):
        shapes, pre = {}, kw["input_dim"][0]
        for i in range(1, 7):
            cp = kw[f"conv_param_{i}"]
            shapes[f"W{i}"] = (cp["filter_num"], pre, cp["filter_size"], cp["filter_size"])
            shapes[f"b{i}"] = (cp["filter_num"],)
            pre = cp["filter_num"]
        hid, out = kw["hidden_size"], kw["output_size"]
        # the book's layer 7 takes 64 * 4 * 4 features (28 x 28 input, three 2 x 2 pools)
        shapes.update(W7=(64 * 4 * 4, hid), b7=(hid,), W8=(hid, out), b8=(out,))
        return shapes

    def predict(self, x, train_flg=False):
        """Raw class scores for x of shape (N, C, 28, 28)."""
        x = _nets.as_input(x, self.dtype)
        for layer in self.layers:
            if isinstance(layer, Dropout):
                x = layer.forward(x, train_flg)
            else:
                x = layer.forward(x)
        return x

    def loss(self, x, t):
        """Softmax cross-entropy loss in training mode (dropout on)."""
        y = self.predict(x, train_flg=True)
        return self.last_layer.forward(y, _nets.as_target(t, self.dtype))

    def accuracy(self, x, t, batch_size=100):
        """Test-mode argmax accuracy over ``int(N / batch_size)`` full batches, divided by N."""
        return _nets.accuracy_batched(self, x, t, batch_size,
                                      lambda tx: self.predict(tx, train_flg=False))

    def gradient(self, x, t):
        """Backprop gradients of the training-mode loss (the layers' own dW/db arrays)."""
        self.loss(x, t)
        dout = 1
        dout = self.last_layer.backward(dout)
        tmp_layers = self.layers.copy()
        tmp_layers.reverse()
        for layer in tmp_layers:
            dout = layer.backward(dout)
        grads = {}
        for i, layer_idx in enumerate(_PARAM_LAYER_INDICES):
            grads['W' + str(i + 1)] = self.layers[layer_idx].dW
            grads['b' + str(i + 1)] = self.layers[layer_idx].db
        return grads

    def save_params(self, file_name="params.pkl"):
        """Pickle ``params`` as a plain dict of arrays (the book's
        ``deep_convnet_params.pkl`` format)."""
        _nets.save_params(self, file_name)

    def load_params(self, file_name="params.pkl"):
        """Load the book's parameter pickle through a restricted unpickler, replace the
        entries of ``params`` and rebind W and b of the layers at indices
        (0, 2, 5, 7, 10, 12, 15, 18)."""
        _nets.load_params(self, file_name, "DeepConvNet.load_params")
        for i, layer_idx in enumerate(_PARAM_LAYER_INDICES):
            self.layers[layer_idx].W = self.params['W' + str(i + 1)]
            self.layers[layer_idx].b = self.params['b' + str(i + 1)]
