"""The book's ``common/util.py``: ``smooth_curve``, ``shuffle_dataset``,
``conv_output_size``, ``im2col`` and ``col2im`` (the last two in C, from dlcore._conv)."""
import numpy as np

from ._conv import col2im, im2col  # noqa: F401  (the book's util module defines them)

_SMOOTH_TAPS = 11


def smooth_curve(x):
    """Smooth a loss curve with a normalised 11-tap Kaiser window (beta 2), the book's way.

    The signal is extended by mirroring 10 samples at each end: at the start x[10], ..., x[1]
    (the first sample itself excluded), at the end x[-1], ..., x[-10] (the last sample
    included, as the book's slices do). The 'valid' convolution is then trimmed by 5 samples
    at each end, so the output has the input's length for len(x) >= 11 (shorter inputs give
    the book's shorter or empty results). Lists are accepted.

    Parameters
    ----------
    x : array_like of shape (n,)
        The curve, e.g. the Trainer's ``train_loss_list``.

    Returns
    -------
    ndarray of shape (n,)
        For n >= 11.

    Examples
    --------
    >>> smooth_curve([1.0] * 12).round(12)
    array([1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1.])
    """
    x = np.asarray(x)
    k = _SMOOTH_TAPS - 1
    head = x[1:k + 1][::-1]
    tail = x[::-1][:k]
    s = np.concatenate([head, x, tail])
    w = np.kaiser(_SMOOTH_TAPS, 2)
    y = np.convolve(w / w.sum(), s, mode="valid")
    return y[5:len(y) - 5]


def shuffle_dataset(x, t):
    """Shuffle the samples of x and t with one ``np.random.permutation(len)`` (numpy's
    global RNG, as the book) and return shuffled copies ``(x, t)``.

    x must have 2 dimensions (N, D) or 4 (N, C, H, W); other ranks raise IndexError, where
    the book's fancy index fails.

    Parameters
    ----------
    x : ndarray of shape (N, D) or (N, C, H, W)
        Samples.
    t : ndarray of length N
        Labels or one-hot targets.

    Returns
    -------
    (ndarray, ndarray)
        Shuffled copies of ``x`` and ``t``.

    Raises
    ------
    IndexError
        If ``x`` has another number of dimensions than 2 or 4.
    ValueError
        If ``t`` has another length than ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> np.random.seed(0)
    >>> shuffle_dataset(np.arange(6).reshape(3, 2), np.array([0, 1, 2]))
    (array([[4, 5],
           [2, 3],
           [0, 1]]), array([2, 1, 0]))
    """
    x = np.asarray(x)
    t = np.asarray(t)
    if x.ndim == 0:
        raise IndexError("shuffle_dataset: expected x of shape (N, D) or (N, C, H, W); "
                         "got a 0-d array")
    if t.ndim == 0 or t.shape[0] != x.shape[0]:
        # the book fails on fewer targets and silently drops the extra ones of a longer t
        raise ValueError(f"shuffle_dataset: expected t with one target per sample of x "
                         f"({x.shape[0]}); got {t.dtype} array of shape {t.shape}")
    permutation = np.random.permutation(x.shape[0])
    if x.ndim in (1, 3):
        raise IndexError(f"shuffle_dataset: expected x of shape (N, D) or (N, C, H, W); "
                         f"got {x.dtype} array of shape {x.shape}")
    return x[permutation], t[permutation]


def conv_output_size(input_size, filter_size, stride=1, pad=0):
    """``(input_size + 2*pad - filter_size) / stride + 1`` with true division, so the result
    is a float (28, 5 -> 24.0), as in the book.

    Parameters
    ----------
    input_size, filter_size : int
        Sizes along one axis.
    stride : int, default 1
        Must not be 0.
    pad : int, default 0

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If ``stride`` is 0.

    Examples
    --------
    >>> conv_output_size(28, 5)
    24.0
    """
    if isinstance(stride, (int, float, np.number)) and not isinstance(stride, bool) \
            and stride == 0:
        raise ValueError("conv_output_size: expected a non-zero stride; got stride=0")
    try:
        return (input_size + 2 * pad - filter_size) / stride + 1
    except OverflowError as e:  # e.g. a numpy int8 against a huge Python int
        raise ValueError(f"conv_output_size: sizes out of range for their types ({e})") from e
