"""The book's chapter-5 ``layer_naive.py``: a multiply and an add node of a computational
graph, on Python scalars or numpy arrays (no kernels needed)."""


class MulLayer:
    """``forward(x, y)`` returns ``x * y`` and remembers both; ``backward(dout)`` returns
    ``(dout * y, dout * x)``.

    Parameters
    ----------
    None
        ``MulLayer()`` takes no arguments.

    Examples
    --------
    >>> apple = MulLayer()
    >>> apple.forward(100, 2)
    200
    >>> apple.backward(1.1)
    (2.2, 110.00000000000001)
    """

    def __init__(self):
        self.x = None
        self.y = None

    def forward(self, x, y):
        self.x = x
        self.y = y
        return x * y

    def backward(self, dout):
        if self.x is None:
            raise RuntimeError("MulLayer.backward: call forward(x, y) first")
        return dout * self.y, dout * self.x


class AddLayer:
    """``forward(x, y)`` returns ``x + y``; ``backward(dout)`` returns ``(dout * 1, dout * 1)``.

    Parameters
    ----------
    None
        ``AddLayer()`` takes no arguments.

    Examples
    --------
    >>> AddLayer().backward(1.1)
    (1.1, 1.1)
    """

    def __init__(self):
        pass

    def forward(self, x, y):
        return x + y

    def backward(self, dout):
        return dout * 1, dout * 1
