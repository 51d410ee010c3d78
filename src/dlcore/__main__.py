"""The ``dlcore`` command line: ``python -m dlcore`` (or the installed ``dlcore`` script).

Subcommands:

- ``demo``: train a network on MNIST with a progress bar, print the test accuracy and save a
  PNG of the loss and accuracy curves (see :mod:`dlcore._demo`);
- ``experiment NAME``: reproduce one of the book's experiments, or the dropout tutorial's,
  printing its numbers and wall time and writing its plot (see :mod:`dlcore._experiments`).

Errors that are the user's to fix (no data set installed, a corrupt data file, a diverging
run, an unwritable output path) are printed as one message without a traceback, and the exit
status is non-zero. Run ``python -m dlcore demo --help`` for the options.
"""
import argparse
import os
import sys

from . import _cli


def _number(convert, ok, expected):
    """An argparse type: convert(text), accepted when ok(value), else an error saying what
    was expected and what came."""
    def parse(text):
        try:
            v = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}; got {text!r}") from None
        if not ok(v):
            raise argparse.ArgumentTypeError(f"expected {expected}; got {text}")
        return v
    return parse


_positive_int = _number(int, lambda v: v >= 1, "a positive integer")
_non_negative_int = _number(int, lambda v: v >= 0, "an integer >= 0")
_positive_float = _number(float, lambda v: 0 < v < float("inf"), "a positive number")
_ratio = _number(float, lambda v: 0 <= v < 1, "a ratio in [0, 1)")


class _Help(argparse.HelpFormatter):
    """Appends "(default: X)" to an option's help unless the help already says it or
    there is no default worth showing."""

    def _get_help_string(self, action):
        text = action.help or ""
        d = action.default
        if ("default" in text or d is None or d is False or d is argparse.SUPPRESS
                or not action.option_strings):
            return text
        return text + (" " if text else "") + "(default: %(default)s)"


def _common(p, output_help, dtype=None):
    """Options every subcommand has."""
    p.add_argument("--output", "-o", metavar="PATH", help=output_help)
    if dtype is not None:
        p.add_argument("--dtype", choices=("float32", "float64"), default=dtype,
                       help=f"floating-point type of the parameters and the compute "
                            f"(default: {dtype})")
    p.add_argument("--threads", type=_positive_int, metavar="N",
                   help="OpenMP threads for dlcore's kernels (default: OMP_NUM_THREADS, "
                        "else the cores that other programs leave idle by the load average and "
                        "the tasks running now, "
                        "at least 1; the results do not depend on it)")
    p.add_argument("--seed", type=_non_negative_int, default=0, metavar="N",
                   help="seed of numpy's global RNG, which the networks, mini-batches and "
                        "dropout draw from (default: 0)")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="print only the results (no progress)")
    # Tests (and curious users) can swap the data set for an .npz holding x_train, t_train,
    # x_test, t_test: images uint8 (normalised as load_mnist does) or float, labels integers.
    p.add_argument("--data", metavar="NPZ", help=argparse.SUPPRESS)


def build_parser():
    from . import _demo, _experiments
    from ._version import __version__

    parser = argparse.ArgumentParser(
        prog="python -m dlcore", formatter_class=_Help,
        description="dlcore: the code of 'Deep Learning from Scratch' on compiled C kernels. "
                    "Train a network on MNIST (demo) or reproduce the book's experiments.")
    parser.add_argument("--version", action="version", version=f"dlcore {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo", help="train a network on MNIST and plot its loss and accuracy",
        description="Train a network on MNIST with the book's Trainer, show its progress, "
                    "print the test accuracy and save a PNG of the training loss and the "
                    "train/test accuracy per epoch. The defaults (an MLP 784-100-100-10, "
                    "Adam, 6 epochs, float32) reach a test accuracy of about 0.975 in a "
                    "few seconds on 2 cores.",
        formatter_class=_Help)
    demo.add_argument("--network", choices=tuple(_demo.NETWORKS), default="mlp",
                      help="twolayer: TwoLayerNet 784-100-10; mlp: MultiLayerNet "
                           "784-100-100-10; mlp-extend: the same with batch normalization; "
                           "convnet: SimpleConvNet (about 10 s per epoch)")
    demo.add_argument("--optimizer", choices=tuple(_demo.OPTIMIZERS), default="adam",
                      help="the book's optimizer")
    demo.add_argument("--epochs", type=_positive_int, default=None,
                      help="epochs (default: mlp 6, twolayer 8, mlp-extend 5, convnet 2)")
    demo.add_argument("--batch-size", type=_positive_int, default=100, metavar="N",
                      help="mini-batch size")
    demo.add_argument("--lr", type=_positive_float, default=None,
                      help="learning rate (default: " + ", ".join(
                          f"{k} {v[1]:g}" for k, v in _demo.OPTIMIZERS.items()) + ")")
    demo.add_argument("--train-size", type=_positive_int, default=None, metavar="N",
                      help="train on the first N training images only (default: all)")
    demo.add_argument("--distributed", action="store_true",
                      help="data-parallel training on MPI: run as `mpiexec -n N python -m "
                           "dlcore demo --distributed`; each of the N processes computes on "
                           "its slice of every batch of --batch-size, only rank 0 prints and "
                           "plots; 1 thread per process unless --threads or OMP_NUM_THREADS "
                           "(needs: pip install \"dlcore[mpi]\")")
    _common(demo, f"the PNG to write (or a directory for {_demo.DEFAULT_OUTPUT}; default: "
                  f"{_demo.DEFAULT_OUTPUT} in the current directory)", dtype="float32")
    demo.set_defaults(func=_demo.run)

    exp = sub.add_parser(
        "experiment", help="reproduce one of the book's experiments", formatter_class=_Help,
        description="Reproduce an experiment of the book (or of the dropout tutorial of "
                    "'Dive into Deep Learning'): print its numbers and wall time, and write "
                    "NAME.png and NAME.json into --output.")
    names = exp.add_subparsers(dest="experiment", metavar="NAME")
    out_help = "directory for NAME.png and NAME.json (default: the current directory)"

    def add(name, help_text, description, dtype=None):
        p = names.add_parser(name, help=help_text, description=description,
                             formatter_class=_Help)
        _common(p, out_help, dtype)
        p.set_defaults(func=_experiments.EXPERIMENTS[name])
        return p

    p = add("gradient-check", "backprop vs numerical gradients (ch05/gradient_check.py)",
            "TwoLayerNet 784-50-10 (float64) on the first 3 training images with one-hot "
            "labels: the mean absolute difference per parameter between the backprop "
            "gradient and the book's central difference, and a 4-point central difference.")
    p.add_argument("--h", type=_positive_float, default=_experiments.H_BOOK,
                   help="step of the book's 2-point central difference")
    p.add_argument("--h4", type=_positive_float, default=_experiments.H_4POINT,
                   help="step of the 4-point central difference (chosen by measurement; "
                        "see the README)")
    p.add_argument("--hidden-size", type=_positive_int, default=50, metavar="N",
                   help="hidden units")
    p.add_argument("--samples", type=_positive_int, default=3, metavar="N",
                   help="number of training images")

    p = add("backprop-mnist", "TwoLayerNet trained by backprop (ch05/train_neuralnet.py)",
            "TwoLayerNet 784-50-10, mini-batches of 100 drawn with replacement, manual SGD "
            "(lr 0.1) for 10000 iterations; train and test accuracy every epoch (600 "
            "iterations).", dtype="float64")
    p.add_argument("--iters", type=_positive_int, default=10000, metavar="N",
                   help="training iterations")
    p.add_argument("--batch-size", type=_positive_int, default=100, metavar="N",
                   help="mini-batch size")
    p.add_argument("--lr", type=_positive_float, default=0.1, help="learning rate")
    p.add_argument("--hidden-size", type=_positive_int, default=50, metavar="N",
                   help="hidden units")

    p = add("dropout-overfit", "dropout against overfitting (ch06/overfit_dropout.py)",
            "The first 300 training images, MultiLayerNetExtend 784-[100]x6-10 through the "
            "Trainer for 301 epochs (batch 100, SGD lr 0.01), without and with dropout "
            "(ratio 0.2, the book's non-inverted dropout); compares the train-test gaps.",
            dtype="float64")
    p.add_argument("--epochs", type=_positive_int, default=301, metavar="N", help="epochs")
    p.add_argument("--train-size", type=_positive_int, default=300, metavar="N",
                   help="train on the first N training images")
    p.add_argument("--batch-size", type=_positive_int, default=100, metavar="N",
                   help="mini-batch size")
    p.add_argument("--lr", type=_positive_float, default=0.01, help="learning rate")
    p.add_argument("--dropout", type=_ratio, default=0.2, metavar="RATIO",
                   help="dropout ratio of the second run")

    p = add("fashion-dropout", "inverted dropout on Fashion-MNIST (Dive into Deep Learning)",
            "Fashion-MNIST (pixels / 255), MLP 784-256-256-10 with ReLU and inverted dropout "
            "0.2 and 0.5 after the hidden layers (training only), W ~ N(0, 0.01^2), biases "
            "0, SGD lr 0.5 on the batch-mean loss, batch 256, 5 epochs over reshuffled data; "
            "test accuracy per epoch next to the published run's.", dtype="float32")
    p.add_argument("--epochs", type=_positive_int, default=5, metavar="N", help="epochs")
    p.add_argument("--batch-size", type=_positive_int, default=256, metavar="N",
                   help="mini-batch size")
    p.add_argument("--lr", type=_positive_float, default=0.5, help="learning rate")
    p.add_argument("--dropout1", type=_ratio, default=0.2, metavar="RATIO",
                   help="dropout ratio after the first hidden layer")
    p.add_argument("--dropout2", type=_ratio, default=0.5, metavar="RATIO",
                   help="dropout ratio after the second hidden layer")
    p.add_argument("--partial-batch", choices=("scaled", "mean"), default="scaled",
                   help="the last batch of an epoch (60000 = 234 x 256 + 96): 'scaled' "
                        "steps on its mean loss times 96/256, as the reference's SGD does "
                        "(it divides the summed gradient by the nominal batch size); "
                        "'mean' takes a full step on its mean loss")

    p = add("optimizer-compare", "SGD, Momentum, AdaGrad, Adam (ch06/optimizer_compare_mnist.py)",
            "MultiLayerNet 784-[100]x4-10 (ReLU, He init), one per optimizer at its defaults, "
            "on the same mini-batches of 128 for 2000 iterations; smoothed losses.",
            dtype="float64")
    p.add_argument("--iters", type=_positive_int, default=2000, metavar="N",
                   help="training iterations")
    p.add_argument("--batch-size", type=_positive_int, default=128, metavar="N",
                   help="mini-batch size")
    return parser, exp


def main(argv=None):
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit
    status (0 on success)."""
    parser, exp_parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "experiment" and args.experiment is None:
        exp_parser.print_help()
        return 2

    import dlcore
    from ._idx import DataError, DataUnavailableError
    from .trainer import TrainingDiverged
    prog = "dlcore"
    threads = dlcore.get_num_threads()   # --threads holds for this run only
    try:
        return args.func(args)
    except (DataUnavailableError, DataError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    except TrainingDiverged as e:
        print(f"\n{prog}: error: {e}", file=sys.stderr)
        return 1
    except _cli.CliError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # stdout closed early (e.g. piped into `head`): stop quietly, as cat or grep do
        # (the recipe of Python's signal docs: no second error when Python flushes at exit)
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1
    finally:
        dlcore.set_num_threads(threads)


if __name__ == "__main__":
    sys.exit(main())
