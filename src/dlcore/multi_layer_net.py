"""The book's ``common/multi_layer_net.py``: a fully connected net of any depth.

``MultiLayerNet(input_size, hidden_size_list, output_size, activation='relu',
weight_init_std='relu', weight_decay_lambda=0)``: layers ``Affine1``,
``Activation_function1``, ..., ``Affine{L+1}`` (an OrderedDict) and ``last_layer`` (a
SoftmaxWithLoss); ``params`` W1, b1, ..., W{L+1}, b{L+1} are the same array objects the
Affine layers hold. The loss adds ``0.5 * weight_decay_lambda * sum(W**2)`` over every W.
"""
import os  # noqa: F401  (the book's module namespace, exposed by star imports)
import sys  # noqa: F401
from collections import OrderedDict

import numpy as np

from .layers import *  # noqa: F401,F403  (the book's star-import surface)
from .layers import Affine, Relu, Sigmoid, SoftmaxWithLoss
from .gradient import numerical_gradient
from . import _nets


def _init_scale(weight_init_std, fan_in):
    """'relu'/'he' -> sqrt(2/fan_in), 'sigmoid'/'xavier' -> sqrt(1/fan_in), else the number."""
    kind = str(weight_init_std).lower()
    if kind in ('relu', 'he'):
        return np.sqrt(2.0 / fan_in)
    if kind in ('sigmoid', 'xavier'):
        return np.sqrt(1.0 / fan_in)
    return weight_init_std


def _init_weights(net, weight_init_std):
    """W_i = scale * randn(fan_in, fan_out) in order W1, W2, ... (the book's draws), b_i = 0;
    shared by MultiLayerNet and MultiLayerNetExtend."""
    all_size_list = [net.input_size] + list(net.hidden_size_list) + [net.output_size]
    for idx in range(1, len(all_size_list)):
        scale = _init_scale(weight_init_std, all_size_list[idx - 1])
        net.params['W' + str(idx)] = _nets.draw(
            scale, (all_size_list[idx - 1], all_size_list[idx]), net.dtype)
        net.params['b' + str(idx)] = _nets.zeros(all_size_list[idx], net.dtype)


def _weight_decay(net):
    """0.5 * lambda * sum(W_i ** 2) over every W_i, the output layer's included."""
    if net.weight_decay_lambda == 0:  # the book adds 0.0 here; skip the pass over W
        return 0
    return _nets.weight_decay_loss(net.weight_decay_lambda,
                                   [net.params['W' + str(idx)]
                                    for idx in range(1, net.hidden_layer_num + 2)])


def _accuracy(net, x, t, predict):
    """Fraction of argmax hits of predict(x) as a numpy float64; t: labels or one-hot,
    checked against x's batch before predicting (see _nets.accuracy_targets)."""
    t = _nets.accuracy_targets(x, t, f"{net._who}.accuracy")
    y = np.argmax(predict(x), axis=1)
    return np.sum(y == t) / float(np.shape(x)[0])


def _activation_class(activation, who):
    classes = {'sigmoid': Sigmoid, 'relu': Relu}
    try:
        return classes[activation]
    except (KeyError, TypeError):
        raise ValueError(f"{who}: expected activation 'relu' or 'sigmoid'; "
                         f"got {activation!r}") from None


def _check_sizes(input_size, hidden_size_list, output_size, who):
    _nets.check_positive_int(input_size, "input_size", who)
    _nets.check_positive_int(output_size, "output_size", who)
    try:
        sizes = list(hidden_size_list)
    except TypeError:
        raise TypeError(f"{who}: expected a list of ints for hidden_size_list; "
                        f"got {type(hidden_size_list).__name__}") from None
    for s in sizes:
        _nets.check_positive_int(s, "every hidden size", who)
    chain = [int(v) for v in [input_size] + sizes + [output_size]]
    _nets.check_total_size(sum(a * b + b for a, b in zip(chain, chain[1:])), who)
    return sizes


class MultiLayerNet:
    """Fully connected net: (Affine -> activation) x L -> Affine -> SoftmaxWithLoss.

    Parameters
    ----------
    input_size : int
    hidden_size_list : list of int
    output_size : int
    activation : 'relu' or 'sigmoid'
    weight_init_std : 'relu'/'he' (sqrt(2/fan_in)), 'sigmoid'/'xavier' (sqrt(1/fan_in)) or
        a number (the std itself). Weights are ``scale * np.random.randn(fan_in, fan_out)``,
        drawn W1, W2, ... from numpy's global RNG; biases are zeros.
    weight_decay_lambda : float
        L2 weight decay (on the loss and on every W's gradient).
    dtype : np.float64 (default, the book's) or np.float32, keyword-only

    Examples
    --------
    >>> import numpy as np
    >>> np.random.seed(0)
    >>> net = MultiLayerNet(4, [5, 5], 3)
    >>> list(net.layers)
    ['Affine1', 'Activation_function1', 'Affine2', 'Activation_function2', 'Affine3']
    """

    _who = "MultiLayerNet"

    # Trainer(fused='auto') runs this class on the fused engine; its loss(x, t) is the
    # engine's test-mode loss (True) or is left to the network's own loss (False).
    _dlcore_fused_loss = True

    def __init__(self, input_size, hidden_size_list, output_size,
                 activation='relu', weight_init_std='relu', weight_decay_lambda=0, *,
                 dtype=np.float64):
        who = self._who
        self.dtype = _nets.net_dtype(dtype, who)
        hidden = _check_sizes(input_size, hidden_size_list, output_size, who)
        activation_layer = _activation_class(activation, who)
        self.input_size = input_size
        self.output_size = output_size
        self.hidden_size_list = hidden_size_list
        self.hidden_layer_num = len(hidden)
        self.weight_decay_lambda = weight_decay_lambda
        self.params = {}

        self.__init_weight(weight_init_std)

        self.layers = OrderedDict()
        for idx in range(1, self.hidden_layer_num + 1):
            self.layers['Affine' + str(idx)] = Affine(self.params['W' + str(idx)],
                                                      self.params['b' + str(idx)])
            self.layers['Activation_function' + str(idx)] = activation_layer()

        idx = self.hidden_layer_num + 1
        self.layers['Affine' + str(idx)] = Affine(self.params['W' + str(idx)],
                                                  self.params['b' + str(idx)])
        self.last_layer = SoftmaxWithLoss()

    def __init_weight(self, weight_init_std):
        _init_weights(self, weight_init_std)

    # ------------------------------------------------------------------ self-description
    # dlcore.save stores _constructor_args(); dlcore.load checks a file's parameters against
    # _param_shapes(kw) of the arguments it names before building anything.
    def _constructor_args(self):
        act = "relu"
        if self.hidden_layer_num:
            act = type(self.layers["Activation_function1"]).__name__.lower()
        return {"input_size": int(self.input_size),
                "hidden_size_list": [int(h) for h in self.hidden_size_list],
                "output_size": int(self.output_size), "activation": act,
                "weight_decay_lambda": _nets.json_number(self.weight_decay_lambda,
                                                         "weight_decay_lambda")}

    @staticmethod
    def _param_shapes(kw):
        sizes = [kw["input_size"]] + list(kw["hidden_size_list"]) + [kw["output_size"]]
        shapes = {}
        for k in range(1, len(sizes)):
            shapes[f"W{k}"] = (sizes[k - 1], sizes[k])
            shapes[f"b{k}"] = (sizes[k],)
        return shapes

    def predict(self, x):
        """Raw class scores (no softmax)."""
        x = _nets.as_input(x, self.dtype)
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def _weight_decay(self):
        return _weight_decay(self)

    def loss(self, x, t):
        """Softmax cross-entropy plus the weight-decay term."""
        y = self.predict(x)
        return self.last_layer.forward(y, _nets.as_target(t, self.dtype)) + self._weight_decay()

    def accuracy(self, x, t):
        """Fraction of argmax hits (numpy float64); t: labels or one-hot."""
        return _accuracy(self, x, t, self.predict)

    def numerical_gradient(self, x, t):
        """Central differences (h=1e-4) of the loss for every W and b."""
        def loss_W(W):
            return self.loss(x, t)

        grads = {}
        for idx in range(1, self.hidden_layer_num + 2):
            grads['W' + str(idx)] = numerical_gradient(loss_W, self.params['W' + str(idx)])
            grads['b' + str(idx)] = numerical_gradient(loss_W, self.params['b' + str(idx)])
        return grads

    def gradient(self, x, t):
        """Backprop gradients: ``W_i = dW + lambda * W`` (a new array), ``b_i = db``."""
        self.loss(x, t)
        dout = 1
        dout = self.last_layer.backward(dout)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        grads = {}
        for idx in range(1, self.hidden_layer_num + 2):
            layer = self.layers['Affine' + str(idx)]
            grads['W' + str(idx)] = layer.dW + self.weight_decay_lambda * layer.W
            grads['b' + str(idx)] = layer.db
        return grads

    def save_params(self, file_name="params.pkl"):
        """Pickle ``params`` as a plain dict of arrays (the book's format for its convnets;
        beyond the book for this class)."""
        _nets.save_params(self, file_name)

    def load_params(self, file_name="params.pkl"):
        """Load a parameter pickle (restricted unpickler) and rebind the layers' arrays.
        ch03's ``sample_weight.pkl`` fits ``MultiLayerNet(784, [50, 100], 10,
        activation='sigmoid')``."""
        _nets.load_params(self, file_name, f"{self._who}.load_params")
        self._rebind()

    def _rebind(self):
        for idx in range(1, self.hidden_layer_num + 2):
            layer = self.layers['Affine' + str(idx)]
            layer.W = self.params['W' + str(idx)]
            layer.b = self.params['b' + str(idx)]
