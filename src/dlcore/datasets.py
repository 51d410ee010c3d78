"""Data sets in the book's format: MNIST (re-exported from :mod:`dlcore.mnist`) and
Fashion-MNIST, offline.

``load_fashion_mnist(normalize=True, flatten=True, one_hot_label=False)`` returns
``((x_train, t_train), (x_test, t_test))`` with the same shapes, dtypes and flags as
``load_mnist`` (spec section 12). The IDX files come from the first available of:

1. a directory given as ``idx_dir`` or ``$DLCORE_FASHION_MNIST_DIR``;
2. the Debian/Ubuntu package ``dataset-fashion-mnist``
   (``/usr/share/datasets/fashion-mnist``).

Each file is checked against the sha256 of the uncompressed original; a mismatch raises
:class:`DataError` naming the file. Nothing is downloaded and nothing is printed.
"""
import os

from ._idx import DataError, DataUnavailableError  # noqa: F401 (re-exported)
from ._sources import (
    DatasetSpec,
    FileSpec,
    IdxDirSource,
    book_format,
    cache_from,
    load_arrays,
)
from .mnist import load_mnist

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"

# Label names, in label order (from the data set's documentation).
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    title="Fashion-MNIST",
    files={
        "train_img": FileSpec(
            "train-images-idx3-ubyte.gz",
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            (60000, 28, 28)),
        "train_label": FileSpec(
            "train-labels-idx1-ubyte.gz",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            (60000,)),
        "test_img": FileSpec(
            "t10k-images-idx3-ubyte.gz",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            (10000, 28, 28)),
        "test_label": FileSpec(
            "t10k-labels-idx1-ubyte.gz",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            (10000,)),
    },
    num_classes=10,
    install_hint=(
        "To get Fashion-MNIST offline, install the Debian/Ubuntu package:\n"
        "    sudo apt-get install dataset-fashion-mnist\n"
        "or put its four IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,\n"
        "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) in a directory and pass\n"
        "load_fashion_mnist(idx_dir=DIR) or set DLCORE_FASHION_MNIST_DIR=DIR."),
)


def default_fashion_sources(idx_dir=None):
    """The directory (``idx_dir`` or ``$DLCORE_FASHION_MNIST_DIR``), then the Debian
    package's directory."""
    sources = []
    if idx_dir is not None:
        sources.append(IdxDirSource(idx_dir, "directory (idx_dir)"))
    elif os.environ.get("DLCORE_FASHION_MNIST_DIR"):
        sources.append(IdxDirSource(os.environ["DLCORE_FASHION_MNIST_DIR"],
                                    "directory ($DLCORE_FASHION_MNIST_DIR)"))
    sources.append(IdxDirSource(DEBIAN_DIR, "of the Debian package dataset-fashion-mnist"))
    return sources


def load_fashion_mnist(normalize=True, flatten=True, one_hot_label=False, *, idx_dir=None,
                       cache=False, sources=None, spec=FASHION_MNIST):
    """Load Fashion-MNIST in the format of the book's ``load_mnist``.

    Parameters
    ----------
    normalize, flatten, one_hot_label : bool
        As in :func:`dlcore.mnist.load_mnist`: float32 ``astype(float32) / 255`` images or
        read-only uint8; (N, 784) or (N, 1, 28, 28); read-only uint8 labels (N,) or float64
        one-hot (N, 10).
    idx_dir : path, optional
        A directory with the four IDX files (``.gz`` or not); default
        ``$DLCORE_FASHION_MNIST_DIR``, then the Debian package's directory.
    cache : bool or path
        False (default; the IDX files are already local): no cache. True: read and write
        ``fashion-mnist.npz`` in ``$DLCORE_DATA`` or the user's cache directory; a path: that
        directory.
    sources, spec
        Replace the sources or the file table (for tests).

    Returns
    -------
    ((x_train, t_train), (x_test, t_test))

    Examples
    --------
    >>> try:
    ...     (x_train, t_train), _ = load_fashion_mnist(flatten=False)
    ... except DataUnavailableError:        # apt-get install dataset-fashion-mnist
    ...     x_train = np.zeros((60000, 1, 28, 28), np.float32)
    >>> x_train.shape
    (60000, 1, 28, 28)
    """
    if sources is None:
        sources = default_fashion_sources(idx_dir)
    arrays = load_arrays(spec, sources, cache_from(cache, "load_fashion_mnist"))
    return book_format(spec, arrays, normalize, flatten, one_hot_label)


__all__ = ["load_mnist", "load_fashion_mnist", "FASHION_MNIST_CLASSES", "DataError",
           "DataUnavailableError"]
