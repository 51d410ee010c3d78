"""The command line's plots (private), drawn with matplotlib's Agg canvas.

matplotlib is an optional extra (``pip install "dlcore[plot]"``): every function here imports
it when called and raises ImportError when it is missing; the callers train anyway and print
the install hint. No pyplot: a ``Figure`` on a ``FigureCanvasAgg`` touches no global state
(no backend switch, no open figures), so the plots also work inside other programs and
tests. Every figure is written at ``DPI`` dots per inch, so its pixel size is
``figsize * DPI``.
"""
import numpy as np

DPI = 100
DEMO_FIGSIZE = (11.0, 4.5)   # -> 1100 x 450 pixels
WIDE_FIGSIZE = (11.0, 4.5)
SINGLE_FIGSIZE = (7.0, 4.5)  # -> 700 x 450 pixels


def have_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(figsize, ncols=1):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def _save(fig, path):
    fig.savefig(path, dpi=DPI, format="png")
    return path


def _smoothed(losses):
    """The book's ``smooth_curve`` when the curve is long enough (>= 11 points)."""
    from .util import smooth_curve
    losses = np.asarray(losses, dtype=np.float64)
    return smooth_curve(losses) if len(losses) >= 11 else losses


def demo(path, losses, iter_per_epoch, epochs, train_acc, test_acc, title,
         train_label="train"):
    """Two panels: the training loss per mini-batch (faint) and smoothed, against epochs;
    train and test accuracy per epoch."""
    fig, (ax_loss, ax_acc) = _figure(DEMO_FIGSIZE, 2)
    losses = np.asarray(losses, dtype=np.float64)
    x = (np.arange(len(losses)) + 1) / iter_per_epoch
    ax_loss.plot(x, losses, color="tab:blue", alpha=0.25, linewidth=0.7,
                 label="loss per mini-batch")
    ax_loss.plot(x, _smoothed(losses), color="tab:blue", linewidth=1.8,
                 label="smoothed (smooth_curve)")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("training loss (cross-entropy)")
    ax_loss.set_title("Training loss")
    top = float(np.percentile(losses, 99)) if len(losses) else 1.0
    ax_loss.set_ylim(0, max(top, 1e-3) * 1.05)
    ax_loss.grid(alpha=0.3)
    ax_loss.legend(loc="upper right")

    ax_acc.plot(epochs, train_acc, "o-", color="tab:orange", label=train_label)
    ax_acc.plot(epochs, test_acc, "s-", color="tab:green", label="test")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_title("Accuracy")
    lo = min(min(train_acc, default=1.0), min(test_acc, default=1.0))
    ax_acc.set_ylim(max(0.0, min(0.8, lo - 0.02)), 1.0)
    ax_acc.grid(alpha=0.3)
    ax_acc.legend(loc="lower right")
    fig.suptitle(title)
    return _save(fig, path)


def gradient_check(path, keys, diffs, title):
    """Bars of the mean absolute difference per parameter (log scale), one colour per
    method; ``diffs`` maps a method label to (values per key, acceptance bound)."""
    fig, (ax,) = _figure(SINGLE_FIGSIZE)
    n = len(diffs)
    width = 0.8 / n
    pos = np.arange(len(keys))
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    for i, (label, (values, bound)) in enumerate(diffs.items()):
        vals = np.maximum(np.asarray(values, dtype=np.float64), 1e-20)  # log scale: no 0
        ax.bar(pos + (i - (n - 1) / 2) * width, vals, width, color=colors[i % 4],
               label=label)
        if bound is not None:
            ax.axhline(bound, color=colors[i % 4], linestyle="--", linewidth=1,
                       label=f"bound {bound:g}")
    ax.set_yscale("log")
    ax.set_xticks(pos, keys)
    ax.set_xlabel("parameter")
    ax.set_ylabel("mean |backprop - numerical|")
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(loc="upper left", fontsize="small")
    return _save(fig, path)


def _draw(ax, series, title, xlabel, ylabel, ylim, legend_loc):
    """One axes: the (label, x, y, style dict) curves of ``series``, labels, grid, legend."""
    for label, x, y, style in series:
        ax.plot(x, y, label=label, **style)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc=legend_loc)


def curves(path, series, title, xlabel, ylabel, ylim=None, figsize=SINGLE_FIGSIZE,
           legend_loc="best"):
    """One panel of curves; ``series`` is a list of (label, x, y, style dict)."""
    fig, (ax,) = _figure(figsize)
    _draw(ax, series, title, xlabel, ylabel, ylim, legend_loc)
    return _save(fig, path)


def panels(path, panel_list, title, xlabel, ylabel, ylim=None, figsize=WIDE_FIGSIZE):
    """Side-by-side panels; ``panel_list`` is a list of (panel title, series) with series
    as in :func:`curves`."""
    fig, axes = _figure(figsize, len(panel_list))
    for ax, (ptitle, series) in zip(axes, panel_list):
        _draw(ax, series, ptitle, xlabel, ylabel, ylim, "lower right")
    fig.suptitle(title)
    return _save(fig, path)
