"""The book's ``common/multi_layer_net_extend.py``: MultiLayerNet with Dropout and BatchNorm.

``MultiLayerNetExtend(input_size, hidden_size_list, output_size, activation='relu',
weight_init_std='relu', weight_decay_lambda=0, use_dropout=False, dropout_ration=0.5,
use_batchnorm=False)`` (the keyword ``dropout_ration`` is the book's spelling). Per hidden
layer i the layers are ``Affine{i}``, ``BatchNorm{i}`` (if on), ``Activation_function{i}``,
``Dropout{i}`` (if on); ``params`` holds W1, b1, ..., then gamma1, beta1, ... (BatchNorm's
arrays, aliased). ``predict``/``loss`` pass ``train_flg`` to the layers whose key contains
"Dropout" or "BatchNorm", as the book does.
"""
import os  # noqa: F401  (the book's module namespace, exposed by star imports)
import sys  # noqa: F401
from collections import OrderedDict

import numpy as np

from .layers import *  # noqa: F401,F403  (the book's star-import surface)
from .layers import Affine, BatchNormalization, Dropout, SoftmaxWithLoss
from .gradient import numerical_gradient
from .multi_layer_net import (MultiLayerNet, _accuracy, _activation_class, _check_sizes, _init_weights,
                              _weight_decay)
from . import _nets


class MultiLayerNetExtend:
    """Fully connected net with optional batch normalization and (non-inverted) dropout.

    Parameters are those of :class:`dlcore.multi_layer_net.MultiLayerNet`, plus
    ``use_dropout``, ``dropout_ration`` (the drop probability; the book's spelling) and
    ``use_batchnorm``; ``dtype`` (keyword-only) is np.float64 (default) or np.float32 (the
    BatchNormalization layers then create their running statistics in float32).

    Parameters
    ----------
    input_size : int
    hidden_size_list : list of int
    output_size : int
    activation : 'relu' or 'sigmoid'
    weight_init_std : 'relu'/'he', 'sigmoid'/'xavier' or a number
        As for :class:`dlcore.multi_layer_net.MultiLayerNet`.
    weight_decay_lambda : float
        L2 weight decay.
    use_dropout : bool, default False
    dropout_ration : float, default 0.5
        The drop probability (the book's spelling).
    use_batchnorm : bool, default False
    dtype : np.float64 (default) or np.float32, keyword-only

    Examples
    --------
    >>> import numpy as np
    >>> np.random.seed(0)
    >>> net = MultiLayerNetExtend(4, [5], 3, use_batchnorm=True, use_dropout=True)
    >>> list(net.layers)
    ['Affine1', 'BatchNorm1', 'Activation_function1', 'Dropout1', 'Affine2']
    >>> list(net.params)
    ['W1', 'b1', 'W2', 'b2', 'gamma1', 'beta1']
    """

    _who = "MultiLayerNetExtend"

    # Trainer(fused='auto') runs this class on the fused engine; its loss(x, t) is the
    # engine's test-mode loss (True) or is left to the network's own loss (False).
    _dlcore_fused_loss = True

    def __init__(self, input_size, hidden_size_list, output_size,
                 activation='relu', weight_init_std='relu', weight_decay_lambda=0,
                 use_dropout=False, dropout_ration=0.5, use_batchnorm=False, *,
                 dtype=np.float64):
        who = self._who
        self.dtype = dt = _nets.net_dtype(dtype, who)
        hidden = _check_sizes(input_size, hidden_size_list, output_size, who)
        activation_layer = _activation_class(activation, who)
        self.input_size = input_size
        self.output_size = output_size
        self.hidden_size_list = hidden_size_list
        self.hidden_layer_num = len(hidden)
        self.use_dropout = use_dropout
        self.weight_decay_lambda = weight_decay_lambda
        self.use_batchnorm = use_batchnorm
        self.params = {}

        self.__init_weight(weight_init_std)

        self.layers = OrderedDict()
        for idx in range(1, self.hidden_layer_num + 1):
            self.layers['Affine' + str(idx)] = Affine(self.params['W' + str(idx)],
                                                      self.params['b' + str(idx)])
            if self.use_batchnorm:
                n = hidden[idx - 1]
                self.params['gamma' + str(idx)] = _nets.ones(n, dt)
                self.params['beta' + str(idx)] = _nets.zeros(n, dt)
                self.layers['BatchNorm' + str(idx)] = BatchNormalization(
                    self.params['gamma' + str(idx)], self.params['beta' + str(idx)])
            self.layers['Activation_function' + str(idx)] = activation_layer()
            if self.use_dropout:
                self.layers['Dropout' + str(idx)] = Dropout(dropout_ration)

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
        args = MultiLayerNet._constructor_args(self)
        ratio = 0.5
        if self.use_dropout and self.hidden_layer_num:
            ratio = _nets.json_number(self.layers["Dropout1"].dropout_ratio, "dropout_ration")
        args.update(use_dropout=bool(self.use_dropout), dropout_ration=ratio,
                    use_batchnorm=bool(self.use_batchnorm))
        return args

    @staticmethod
    def _param_shapes(kw):
        shapes = MultiLayerNet._param_shapes(kw)
        if kw["use_batchnorm"]:
            for k, h in enumerate(kw["hidden_size_list"], 1):
                shapes[f"gamma{k}"] = (h,)
                shapes[f"beta{k}"] = (h,)
        return shapes

    def predict(self, x, train_flg=False):
        """Raw class scores; ``train_flg`` goes to the Dropout/BatchNorm layers."""
        x = _nets.as_input(x, self.dtype)
        for key, layer in self.layers.items():
            if "Dropout" in key or "BatchNorm" in key:
                x = layer.forward(x, train_flg)
            else:
                x = layer.forward(x)
        return x

    def _weight_decay(self):
        return _weight_decay(self)

    def loss(self, x, t, train_flg=False):
        """Softmax cross-entropy plus weight decay; test mode unless ``train_flg``."""
        y = self.predict(x, train_flg)
        return self.last_layer.forward(y, _nets.as_target(t, self.dtype)) + self._weight_decay()

    def accuracy(self, X, T):
        """Fraction of argmax hits in test mode (numpy float64); T: labels or one-hot."""
        return _accuracy(self, X, T, lambda x: self.predict(x, train_flg=False))

    def numerical_gradient(self, X, T):
        """Central differences (h=1e-4) of the training-mode loss (every evaluation redraws
        dropout masks and updates the BatchNorm running statistics, as in the book)."""
        def loss_W(W):
            return self.loss(X, T, train_flg=True)

        grads = {}
        for idx in range(1, self.hidden_layer_num + 2):
            grads['W' + str(idx)] = numerical_gradient(loss_W, self.params['W' + str(idx)])
            grads['b' + str(idx)] = numerical_gradient(loss_W, self.params['b' + str(idx)])
            if self.use_batchnorm and idx != self.hidden_layer_num + 1:
                grads['gamma' + str(idx)] = numerical_gradient(loss_W,
                                                               self.params['gamma' + str(idx)])
                grads['beta' + str(idx)] = numerical_gradient(loss_W,
                                                              self.params['beta' + str(idx)])
        return grads

    def gradient(self, x, t):
        """Backprop gradients of the training-mode loss: W (plus weight decay), b, and
        gamma/beta of every BatchNorm layer."""
        self.loss(x, t, train_flg=True)
        dout = 1
        dout = self.last_layer.backward(dout)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        grads = {}
        for idx in range(1, self.hidden_layer_num + 2):
            layer = self.layers['Affine' + str(idx)]
            W = self.params['W' + str(idx)]
            grads['W' + str(idx)] = layer.dW + self.weight_decay_lambda * W
            grads['b' + str(idx)] = layer.db
            if self.use_batchnorm and idx != self.hidden_layer_num + 1:
                bn = self.layers['BatchNorm' + str(idx)]
                grads['gamma' + str(idx)] = bn.dgamma
                grads['beta' + str(idx)] = bn.dbeta
        return grads

    def save_params(self, file_name="params.pkl"):
        """Pickle ``params`` as a plain dict of arrays (W, b, gamma, beta; the BatchNorm
        running statistics are not parameters and are not saved, as in the book's
        convention). Beyond the book for this class."""
        _nets.save_params(self, file_name)

    def load_params(self, file_name="params.pkl"):
        """Load a parameter pickle (restricted unpickler) and rebind the layers' arrays."""
        _nets.load_params(self, file_name, f"{self._who}.load_params")
        for idx in range(1, self.hidden_layer_num + 2):
            layer = self.layers['Affine' + str(idx)]
            layer.W = self.params['W' + str(idx)]
            layer.b = self.params['b' + str(idx)]
            if self.use_batchnorm and idx != self.hidden_layer_num + 1:
                bn = self.layers['BatchNorm' + str(idx)]
                bn.gamma = self.params['gamma' + str(idx)]
                bn.beta = self.params['beta' + str(idx)]
