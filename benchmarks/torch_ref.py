"""PyTorch eager (CPU) versions of the benchmark networks, for the suite.

The same networks and update rules as the book (so that results can be checked for equality):
Linear as ``addmm``, the book's non-inverted dropout (``x * (rand > ratio)``), batch norm by
``F.batch_norm`` (eps 1e-6, batch statistics), conv by ``F.conv2d``, max pooling by
``F.max_pool2d``, the loss as ``F.cross_entropy`` (whose gradient is the book's backward, (softmax - onehot) / N), and the book's SGD
and Adam (epsilon after the uncorrected square root) written with ``torch._foreach_*``, the
multi-tensor ops that ``torch.optim`` itself uses. Only imported when torch is installed.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F


class TorchNet:
    """kind: 'mlp' (Affine/Relu(/BN)(/Dropout) chain) or 'convnet' (SimpleConvNet)."""

    def __init__(self, kind, params, dtype, dropout=None, batchnorm=False, hidden_layers=1,
                 optimizer=("SGD", {"lr": 0.01})):
        tdt = torch.float64 if np.dtype(dtype) == np.float64 else torch.float32
        self.kind, self.dropout, self.batchnorm = kind, dropout, batchnorm
        self.hidden_layers = hidden_layers
        self.keys = list(params)
        self.p = {k: torch.tensor(np.asarray(v, dtype=dtype)).requires_grad_(True)
                  for k, v in params.items()}
        self.dtype = tdt
        self.masks = None  # injected masks (checks): list of bool tensors, else torch.rand
        self.opt_name, self.opt_args = optimizer
        self.iter = 0
        if self.opt_name == "Adam":
            self.m = [torch.zeros_like(t) for t in self.p.values()]
            self.v = [torch.zeros_like(t) for t in self.p.values()]
        if batchnorm:
            self.running = {i: (torch.zeros(self.p[f"gamma{i}"].shape[0], dtype=tdt),
                                torch.ones(self.p[f"gamma{i}"].shape[0], dtype=tdt))
                            for i in range(1, hidden_layers + 1)}

    def forward(self, x, train=True):
        p = self.p
        if self.kind == "convnet":
            h = F.relu(F.conv2d(x, p["W1"], p["b1"]))
            h = F.max_pool2d(h, 2, 2).reshape(x.shape[0], -1)
            h = F.relu(torch.addmm(p["b2"], h, p["W2"]))
            return torch.addmm(p["b3"], h, p["W3"])
        h = x
        mi = 0
        for i in range(1, self.hidden_layers + 2):
            h = torch.addmm(p[f"b{i}"], h, p[f"W{i}"])
            if i == self.hidden_layers + 1:
                break
            if self.batchnorm:
                rm, rv = self.running[i]
                h = F.batch_norm(h, rm, rv, p[f"gamma{i}"], p[f"beta{i}"], training=train,
                                 momentum=0.1, eps=1e-6)
            h = F.relu(h)
            if self.dropout is not None:
                if train:
                    if self.masks is not None:
                        mask = self.masks[mi]
                        mi += 1
                    else:
                        mask = torch.rand(h.shape, dtype=self.dtype) > self.dropout
                    h = h * mask
                else:
                    h = h * (1.0 - self.dropout)
        return h

    def loss(self, z, t):
        # F.cross_entropy: its gradient is the book's (softmax - onehot) / N exactly; the
        # value lacks the book's +1e-7 inside the log (a ~1e-6 relative difference).
        return F.cross_entropy(z, t)

    def gradient(self, x, t):
        for v in self.p.values():
            v.grad = None
        loss = self.loss(self.forward(x), t)
        loss.backward()
        return loss

    @torch.no_grad()
    def update(self):
        params = list(self.p.values())
        grads = [v.grad for v in params]
        a = self.opt_args
        if self.opt_name == "SGD":
            torch._foreach_add_(params, grads, alpha=-a["lr"])
            return
        b1, b2 = a.get("beta1", 0.9), a.get("beta2", 0.999)
        self.iter += 1
        lr_t = a["lr"] * math.sqrt(1.0 - b2 ** self.iter) / (1.0 - b1 ** self.iter)
        torch._foreach_lerp_(self.m, grads, 1 - b1)
        torch._foreach_lerp_(self.v, torch._foreach_mul(grads, grads), 1 - b2)
        denom = torch._foreach_sqrt(self.v)
        torch._foreach_add_(denom, 1e-7)
        torch._foreach_addcdiv_(params, self.m, denom, value=-lr_t)

    def step(self, x, t):
        loss = self.gradient(x, t)
        self.update()
        return loss

    def grads(self):
        return {k: v.grad.detach().numpy() for k, v in self.p.items()}

    @torch.no_grad()
    def predict(self, x, batch_size=None):
        if batch_size is None:
            return self.forward(x, train=False)
        return torch.cat([self.forward(x[i:i + batch_size], train=False)
                          for i in range(0, x.shape[0] - batch_size + 1, batch_size)])
