"""How a Trainer takes one training step: one strategy object per Trainer, each with
``step(x, t) -> loss`` (the post-update loss, as the book records it).

- :class:`LayerStep`: the book's step, ``network.gradient`` + ``optimizer.update`` +
  ``network.loss``; ``network.accuracy`` for the evaluations.
- :class:`FusedStep`: the same step on the fused C engine (:class:`dlcore.engine.FusedTrainer`),
  and the evaluations on its predict (the same bits).
  Its gradient raises :class:`dlcore.engine.NotFusable` before anything is drawn or computed
  when the engine cannot run the step; the Trainer then continues on a LayerStep.
- :class:`DistributedStep`: wraps either of them: the gradients (and batch-norm running
  statistics) are averaged over the MPI ranks between gradient and update, and the loss is
  the global-batch mean.

The strategies hold no state of the step beyond their network, optimizer and engine; the
Trainer keeps the counters, lists and printing.
"""
import numpy as np


class LayerStep:
    """The per-layer (book) step."""

    fused = None  # no engine

    def __init__(self, trainer):
        self._tr = trainer

    def gradient(self, x, t):
        with self._tr._local():
            return self._tr.network.gradient(x, t)

    def update(self, grads):
        self._tr.optimizer.update(self._tr.network.params, grads)

    def loss(self, x, t):
        with self._tr._local():
            return self._tr.network.loss(x, t)

    def step(self, x, t):
        grads = self.gradient(x, t)
        self.update(grads)
        return self.loss(x, t)

    def accuracy(self, x, t):
        return self._tr.network.accuracy(x, t)


class FusedStep(LayerStep):
    """The step on a FusedTrainer. ``fused_loss``: the post-update loss is the engine's
    test-mode loss (the book networks without weight decay compute exactly that)."""

    def __init__(self, trainer, fused, fused_loss):
        super().__init__(trainer)
        self.fused = fused
        self._fused_loss = fused_loss

    def gradient(self, x, t):
        with self._tr._local():
            return self.fused.gradient(x, t)

    def update(self, grads):
        self.fused.update()  # grads are fused.grads (averaged in place when distributed)

    def loss(self, x, t):
        if not self._fused_loss:
            return super().loss(x, t)
        with self._tr._local():
            return self.fused.loss(x, t)

    def accuracy(self, x, t):
        """The engine's accuracy: from its predict where that gives the network's bits (every
        book network's accuracy is the argmax hits of its test-mode predict)."""
        return self.fused.accuracy(x, t)


class DistributedStep:
    """``inner``'s step with the gradients averaged over the ranks (weighted by each rank's
    share of the global batch) and the global-batch mean loss."""

    def __init__(self, trainer, inner):
        self._tr = trainer
        self.inner = inner
        self.fused = inner.fused

    def step(self, x, t):
        n = len(x)
        grads = self.inner.gradient(x, t)
        self._average(grads, n)
        self.inner.update(grads)
        return self._global_mean(self.inner.loss(x, t), n)

    def _average(self, grads, n_local):
        """Averages grads (and batch-norm running statistics) over the ranks in place,
        weighted by the local sample count."""
        tr = self._tr
        arrays = dict(grads)
        for name, layer, attr in tr._bn:
            a = getattr(layer, attr)
            if a is not None:
                arrays["\x00bn:" + name] = a
        tr._averager(arrays, n_local / tr.batch_size)

    def _global_mean(self, loss, n_local):
        """The global-batch mean of the ranks' losses (each weighted by its sample count)."""
        from . import distributed as dist
        tr = self._tr
        total = dist.sum_scalars([float(loss) * n_local], tr._comm)[0] / tr.batch_size
        return type(loss)(total) if isinstance(loss, np.generic) else total
