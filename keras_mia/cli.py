"""The ``keras-mia`` command line (the stable interface of SPEC section 2).

Heavy imports (TensorFlow, Keras) happen inside each command, after the checks that need
neither, so ``--help`` is instant and a mistake is reported before TensorFlow starts.

Errors: one boundary, :func:`main`, turns every expected error (``keras_mia.errors``:
a ``UserError``, a configuration, manifest or image-read error, a ``ValueError`` or missing
file raised by this package, a full disk, a read-only or forbidden folder) into one line,
``keras-mia CMD: error: MESSAGE``, on stderr and exit status 2. Anything else is a bug and
keeps its traceback. ``--debug`` prints the traceback of every error and lets TensorFlow's
start-up logging through.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.abc
import logging
import os
import sys
import tempfile
import traceback
from collections.abc import Iterator

from keras_mia.errors import CommandError, UserError, user_message

__all__ = ["main", "build_parser", "CommandError", "UserError"]


def _cmd_synth(args: argparse.Namespace) -> int:
    from keras_mia.synth import generate

    manifest = generate(args.recipe, args.out_dir, n=args.n, seed=args.seed, layout=args.layout)
    print(f"Wrote synthetic data set '{args.recipe}' (synthetic, not patient data): {manifest}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from keras_mia.data.validate import validate_manifest

    report = validate_manifest(args.manifest)
    for problem in report.problems:
        print(problem)
    print(report.summary())
    return 0 if report.ok else 1


def _cmd_recipes(args: argparse.Namespace) -> int:
    from keras_mia.recipes import list_recipes

    recipes = list_recipes()
    width = max(len(name) for name in recipes)
    for name, description in recipes.items():
        print(f"{name:<{width}}  {description}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from keras_mia.recipes import load_recipe

    overrides = list(args.set or [])
    if args.manifest:
        overrides.append(f"manifest={args.manifest}")
    config = load_recipe(args.config or args.recipe, overrides)
    if args.config and config.name != args.recipe:
        raise CommandError(
            f"--config {args.config} is a '{config.name}' run. Received: recipe={args.recipe}"
        )
    _check_output_folder(args.out, "--out", "the run folder")
    from keras_mia.training.backbone import resolve_backbone

    config = resolve_backbone(config)  # e.g. a missing patch_model, before TensorFlow starts
    from keras_mia.data.checks import check_training_manifest

    # Before TensorFlow starts; the engine checks again (for Python callers) and prints the
    # warnings.
    check_training_manifest(config)
    from keras_mia.training.engine import train

    train(config, args.out)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from keras_mia.recipes import load_recipe

    load_recipe(args.recipe, list(args.set or []))  # configuration errors before TensorFlow
    if args.out is not None:
        _check_output_folder(args.out, "--out", "the demo folder")
    from keras_mia.demo import run_demo

    run_demo(args.recipe, args.out, overrides=list(args.set or []))
    return 0


def _cmd_prepare(args: argparse.Namespace) -> int:
    from keras_mia.datasets import prepare

    names = list(_PREPARE_OPTIONS) + ["segment", "label_test_by_name"]
    options = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    report = prepare(args.dataset, args.src, args.out, **options)
    print(f"Next: keras-mia validate {report.out_dir}/manifest.csv")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    overrides = list(args.set or [])
    for key, value in (("threshold_rule", args.threshold_rule),
                       ("target_sensitivity", args.target_sensitivity),
                       ("bootstrap", args.bootstrap)):
        if value is not None:
            overrides.append(f"evaluation.{key}={value}")
    _check_run_folder(args.run_dir)
    from keras_mia.evaluation.evaluate import evaluate_run

    evaluate_run(args.run_dir, args.manifest, args.split, batch_size=args.batch_size,
                 write_plots=not args.no_plots, heatmap_images=args.heatmap_image or (),
                 overrides=overrides)
    return 0


def _cmd_probe_aspect(args: argparse.Namespace) -> int:
    _check_run_folder(args.run_dir)
    from keras_mia.evaluation.aspect_probe import probe_aspect

    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    probe_aspect(args.run_dir, args.manifest, splits, batch_size=args.batch_size)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    _check_run_folder(args.run_dir)
    if args.out is not None:
        _check_output_folder(args.out, "--out", "the SavedModel folder")
    from keras_mia.export.saved_model import export_run

    out = export_run(args.run_dir, args.out, threshold=args.threshold)
    print(f"Next: keras-mia predict {out} IMAGES...")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    if args.out is not None and os.path.isdir(args.out):
        raise CommandError(
            f"--out {args.out} is a folder; --out takes the CSV file to write, e.g. "
            f"--out {os.path.join(args.out, 'predictions.csv')}"
        )
    if not os.path.isfile(os.path.join(args.model_dir, "saved_model.pb")):
        raise CommandError(
            f"{args.model_dir}: no saved_model.pb; MODEL_DIR must be a folder written by "
            "`keras-mia export RUN_DIR`"
        )
    from keras_mia.export.predict import predict_files

    _, failures = predict_files(args.model_dir, args.inputs, args.out, args.heatmap,
                                heatmap_stride=args.stride, prepared=args.prepared)
    return 1 if failures else 0


def _check_run_folder(run_dir: str) -> None:
    """Refuses a RUN_DIR without a run's config.yaml before TensorFlow starts."""
    config = os.path.join(run_dir, "config.yaml")
    if not os.path.isfile(config):
        raise CommandError(
            f"{config}: not found; is {run_dir} a run folder written by `keras-mia train`?"
        )


def _check_output_folder(path: str, flag: str, what: str) -> None:
    """Refuses an output folder argument that names an existing file, before any work."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise CommandError(
            f"{flag} {path} is an existing file, but {flag} names {what} to write. Choose a "
            "new folder name (or move the file away)"
        )


# flag -> (type or action, help); each reaches keras_mia.datasets.prepare as a keyword.
_PREPARE_OPTIONS: dict[str, tuple[object, str]] = {
    "overwrite": ("store_true", "write into a non-empty OUT"),
    "quiet": ("store_true", "do not print the counts report"),
    "keep_duplicates": ("store_true", "open-i: keep byte-identical duplicate files"),
    "patient_pattern": (str, "open-i: regular expression whose groups give the patient id"),
    "image_size": (str, "cbis-ddsm, mias: output size HxW (default 1152x896 for cbis-ddsm, "
                   "native 1024x1024 for mias)"),
    "scale": (float, "cbis-ddsm: resize each scan to this fraction of its size instead "
                     "(Scuccimarra: 0.66)"),
    "roi_crops": (int, "cbis-ddsm, mias: also write SxS crops centred on each ROI (seed: 845 "
                       "at --scale 0.66; mias: 480)"),
    "patches": (str, "cbis-ddsm, mias: also write Shen's patch set 's' or 's10'"),
    "patch_size": (int, "cbis-ddsm, mias: patch size in pixels (default 224)"),
    "val_fraction": (float, "cbis-ddsm, dbc, mias --split auto: fraction of patients for "
                            "validation"),
    "test_fraction": (float, "dbc, mias --split auto: fraction of patients for test"),
    "seed": (int, "cbis-ddsm, mias, dbc: seed of the splits and patch sampling"),
    "overflow": (str, "cbis-ddsm: 'crop' (default) or 'fit' when an image is too wide"),
    "csv_dir": (str, "cbis-ddsm: folder of the case-description CSVs (default: SRC)"),
    "jobs": (int, "cbis-ddsm: parallel worker processes"),
    "info_file": (str, "mias: path of Info.txt (default: SRC/Info.txt)"),
    "split": (str, "mias: split written in the manifest (default test; 'auto': train/val/test "
                   "by woman, seeded by --seed, 60/20/20 unless --val-fraction/--test-fraction)"),
    "annotations": (str, "dbc: path of Annotation_Boxes.csv (default: SRC/...)"),
    "negative_distance": (int, "dbc: minimum slice distance of negatives from the tumour"),
    "negatives_per_positive": (float, "dbc: negatives drawn per positive slice"),
    "max_per_class": (int, "dbc: cap per class (Konz used 2600)"),
    "series_pattern": (str, "dbc: regular expression of the pre-contrast fat-sat series"),
    "slice_order": (str, "dbc: 'instance' (default, as Konz) or 'position'"),
}


def build_parser() -> argparse.ArgumentParser:
    """Builds the argument parser of every ``keras-mia`` sub-command."""
    parser = argparse.ArgumentParser(
        prog="keras-mia",
        description="Reproduce classic medical-image deep-learning systems with Keras 3.",
    )
    parser.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "synth",
        help="write a synthetic data set and its manifest.csv",
        description="Write a synthetic data set for RECIPE (hello_world, breast_mri, mammo) "
        "with OUT_DIR/manifest.csv, split train/val/test by patient.",
    )
    p.add_argument("recipe", help="recipe or data set name (see `keras-mia recipes`)")
    p.add_argument("out_dir", help="folder to write (created)")
    p.add_argument(
        "--n", type=int, default=None, help="number of patients/images (default: per recipe)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--layout",
        default="manifest",
        choices=["manifest", "raw"],
        help="'manifest' (default): PNG/DICOM + manifest.csv; 'raw': the public data set's "
        "own on-disk layout, as input for `keras-mia prepare`",
    )
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser(
        "validate",
        help="check every row of a manifest; exit 1 if any problem",
        description="Check every row of MANIFEST: files exist and decode, labels are known, "
        "masks match their image's size, no patient is in two splits, no image is duplicated. "
        "Prints every problem found (exit 1) or a summary (exit 0).",
    )
    p.add_argument("manifest", help="path to a manifest CSV")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser(
        "prepare",
        help="convert a downloaded public data set to PNGs + manifest.csv",
        description="Convert a downloaded public data set (open-i, cbis-ddsm, mias, dbc) in SRC "
        "into PNG images (and masks) plus OUT/manifest.csv. Prints counts per split and label "
        "and every skipped item with its reason (also in OUT/prepare_report.txt).",
    )
    p.add_argument("dataset", help="open-i, cbis-ddsm, mias or dbc")
    p.add_argument("src", help="the downloaded data set's folder")
    p.add_argument("out", help="output folder (created)")
    for name, (kind, text) in _PREPARE_OPTIONS.items():
        flag = "--" + name.replace("_", "-")
        if kind == "store_true":
            p.add_argument(flag, dest=name, action="store_true", default=None, help=text)
        else:
            p.add_argument(flag, dest=name, type=kind, default=None, help=text)
    p.add_argument(
        "--no-segment", dest="segment", action="store_false", default=None,
        help="cbis-ddsm, mias: skip breast segmentation (keep labels, tape and marks)",
    )
    p.add_argument(
        "--no-label-test-by-name", dest="label_test_by_name", action="store_false", default=None,
        help="open-i: leave unlabelled TEST files out instead of labelling them from their names",
    )
    p.set_defaults(func=_cmd_prepare)

    p = sub.add_parser("recipes", help="list the recipes (reproduced systems)")
    p.set_defaults(func=_cmd_recipes)

    p = sub.add_parser(
        "train",
        help="train a recipe on a manifest into a run folder (resumable)",
        description="Train RECIPE on MANIFEST into RUN_DIR. Re-running the same command after a "
        "crash resumes from the last finished epoch. RUN_DIR/config.yaml is the fully resolved "
        "configuration: `keras-mia train RECIPE --config RUN_DIR/config.yaml --out NEW_DIR` "
        "repeats the run.",
    )
    p.add_argument("recipe", help="recipe name (see `keras-mia recipes`)")
    p.add_argument("--manifest", help="manifest CSV to train on (from `synth` or `prepare`)")
    p.add_argument("--out", required=True, help="run folder (created; resumed if it exists)")
    p.add_argument("--config", help="a run's config.yaml to repeat (instead of the recipe file)")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override any recipe key, e.g. --set training.epochs=3 --set data.image_size=[64,64]"
        " (repeatable; values are YAML)",
    )
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "demo",
        help="synth -> train -> evaluate -> export -> predict on synthetic data (CPU, minutes)",
        description="Run RECIPE's demo end to end on its SYNTHETIC data set with the reduced "
        "settings in the recipe's 'demo:' list: generate the data, train, evaluate on the test "
        "split, export the SavedModel and predict one file from it. Re-running resumes.",
    )
    p.add_argument("recipe", nargs="?", default="hello_world",
                   help="recipe name (default hello_world)")
    p.add_argument("--out", default=None, help="demo folder (default runs/demo-<recipe>)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a recipe key after the demo settings (repeatable)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "evaluate",
        help="evaluate a run's best model on one split: predictions, metrics, plots",
        description="Evaluate RUN_DIR/best.keras on one split of the manifest through the "
        "training's validation/test pipeline. Writes RUN_DIR/eval/SPLIT/predictions.csv, "
        "metrics.json (image- and patient-level metrics with seeded bootstrap 95% confidence "
        "intervals) and figures, and RUN_DIR/plots/training_curves.png.",
    )
    p.add_argument("run_dir", help="run folder written by `keras-mia train`")
    p.add_argument("--manifest", help="manifest CSV (default: the one the run trained on)")
    p.add_argument("--split", default="test", help="train, val or test (default test)")
    p.add_argument(
        "--threshold-rule", choices=["fixed", "youden", "sensitivity"], default=None,
        help="operating threshold: the recipe's fixed one (default), or chosen on the "
        "validation split by Youden's J or a target sensitivity",
    )
    p.add_argument("--target-sensitivity", type=float, default=None,
                   help="for --threshold-rule sensitivity (default 0.9)")
    p.add_argument("--bootstrap", type=int, default=None,
                   help="bootstrap resamples of the confidence intervals (default 1000)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="inference batch size (default: the recipe's)")
    p.add_argument("--no-plots", action="store_true", help="write only the CSV and JSON")
    p.add_argument("--heatmap-image", action="append", metavar="FILE",
                   help="patch classifiers: also draw class heatmaps of this whole image "
                   "(repeatable)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a key of the run's config for this evaluation, e.g. "
                   "--set evaluation.patient_aggregation=mean (repeatable)")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser(
        "probe-aspect",
        help="check that a classifier's predictions survive re-framing films to other shapes",
        description="Re-frame every film of the chosen splits to the typical aspect ratios "
        "(width/height quantiles of the training films) of the other class(es): padded, "
        "centre-cropped and stretched; predict them through the validation/test pipeline and "
        "report the fraction whose predicted class is unchanged. A model that reads the "
        "film's shape instead of its content scores low. Writes "
        "RUN_DIR/eval/aspect_probe/aspect_probe.json and .csv.",
    )
    p.add_argument("run_dir", help="classification run folder written by `keras-mia train`")
    p.add_argument("--manifest", help="manifest CSV (default: the one the run trained on)")
    p.add_argument("--splits", default="val,test",
                   help="comma-separated splits to re-frame (default val,test)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="inference batch size (default: the recipe's)")
    p.set_defaults(func=_cmd_probe_aspect)

    p = sub.add_parser(
        "export",
        help="export a run as a TensorFlow SavedModel with serving signatures",
        description="Write RUN_DIR/best.keras as a TensorFlow SavedModel whose serving_default "
        "signature takes raw single-channel images (float32, original intensity units, any "
        "size) and preprocesses them in-graph as the recipe does; serving_png takes encoded "
        "PNG files; metadata gives the recipe, classes and threshold. Works for runs trained "
        "on any Keras backend.",
    )
    p.add_argument("run_dir", help="run folder written by `keras-mia train`")
    p.add_argument("--out", default=None, help="SavedModel folder (default RUN_DIR/saved_model)")
    p.add_argument("--threshold", type=float, default=None,
                   help="operating threshold to save (default: the one `evaluate` reported, "
                   "else the recipe's)")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser(
        "predict",
        help="predict image files with an exported SavedModel alone",
        description="Predict DICOM/PNG/JPEG files (and folders, walked recursively) with a "
        "SavedModel written by `keras-mia export`. A mammography model trained on "
        "`prepare cbis-ddsm` data gets raw files prepared as that data was (bit depth, "
        "resize, breast segmentation). Prints a table, optionally writes a CSV; "
        "files that cannot be read are reported by name and the others still predicted "
        "(exit 1 if any failed); input a mammography model cannot be meant for (colour "
        "photograph, thumbnail, non-MG DICOM) is warned about on stderr and in the CSV.",
    )
    p.add_argument("model_dir", help="SavedModel folder written by `keras-mia export`")
    p.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR", help="images or folders")
    p.add_argument("--out", default=None,
                   help="CSV to write (path, probabilities, class, warnings)")
    p.add_argument("--heatmap", default=None, metavar="DIR",
                   help="patch classifiers: write per-class heatmap PNGs into DIR")
    p.add_argument("--stride", type=int, default=None,
                   help="heatmap window stride in pixels (default: a quarter of the window)")
    p.add_argument("--prepared", action="store_true",
                   help="the files were written by `keras-mia prepare` already: do not "
                   "prepare them again (mammography models prepare raw files as their "
                   "training data was prepared)")
    p.set_defaults(func=_cmd_predict)
    for command in sub.choices.values():
        # Also accepted after the command; SUPPRESS keeps a `keras-mia --debug CMD` intact.
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help=_DEBUG_HELP)
    return parser


_DEBUG_HELP = ("show the traceback of every error and TensorFlow's start-up logging "
               "(by default a mistake is one line, exit 2)")


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the process exit code.

    Expected errors (see ``keras_mia.errors.user_message``) are printed as one line,
    ``keras-mia CMD: error: MESSAGE``, on stderr and give exit code 2; with ``--debug`` their
    traceback is printed first. Unexpected errors propagate with their traceback.

    Args:
        argv: the arguments after the program name (default: ``sys.argv[1:]``).

    Returns:
        0 on success, 1 when a command found problems (``validate``, ``predict``), 2 on an
        expected error, 130 when interrupted (Ctrl-C).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    if not debug:
        _quiet_tensorflow_logging()
    try:
        with _quiet_tensorflow_start(enabled=not debug):
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"keras-mia {args.command}: interrupted", file=sys.stderr, flush=True)
        return 130
    except Exception as err:
        message = user_message(err, output=_output_of(args))
        if message is None:
            raise
        if debug:
            traceback.print_exc()
        print(f"keras-mia {args.command}: error: {message}", file=sys.stderr, flush=True)
        return 2


def _output_of(args: argparse.Namespace) -> str | None:
    """The file or folder a command writes, named by a full-disk error that has no path."""
    for name in ("out", "out_dir", "run_dir"):
        value = getattr(args, name, None)
        if value:
            return value
    return None


def _quiet_tensorflow_logging() -> None:
    """Keeps TensorFlow's informational logging off the terminal (unless set otherwise)."""
    # 3: C++ errors too, e.g. "failed call to cuInit" on a machine without a GPU, which is
    # no error for a CPU run. An explicit TF_CPP_MIN_LOG_LEVEL in the environment wins.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


@contextlib.contextmanager
def _quiet_tensorflow_start(enabled: bool = True) -> Iterator[None]:
    """Silences what TensorFlow's C++ libraries print while ``import tensorflow`` runs.

    Those lines (``cudart_stub``, ``absl::InitializeLog``, CPU-feature and oneDNN notices)
    are written to file descriptor 2 before TensorFlow reads ``TF_CPP_MIN_LOG_LEVEL``, so
    only redirecting the descriptor keeps them from burying a command's own message. They
    are replayed if the import fails. Nothing is done when TensorFlow is already imported.

    Args:
        enabled: ``False`` (``--debug``) does nothing.
    """
    if not enabled or "tensorflow" in sys.modules:
        yield
        return
    finder = _QuietImportFinder()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(finder)


class _QuietImportFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as the other finders do, with a loader that runs it quietly."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    """Runs another loader's ``exec_module`` with file descriptor 2 redirected."""

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        try:
            with _stderr_descriptor_captured():
                self._loader.exec_module(module)
        finally:
            # The module keeps its real loader (resource readers, reloads).
            module.__loader__ = self._loader
            if getattr(module, "__spec__", None) is not None:
                module.__spec__.loader = self._loader


@contextlib.contextmanager
def _stderr_descriptor_captured() -> Iterator[None]:
    """Sends file descriptor 2 to a temporary file; replays it if the block raises."""
    _flush_stderr()
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 (a detached process): nothing to quiet
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        failed = True
        try:
            yield
            failed = False
        finally:
            _flush_stderr()
            os.dup2(saved, 2)
            os.close(saved)
            if failed:
                sink.seek(0)
                captured = sink.read().decode("utf-8", errors="replace")
                if captured and sys.stderr is not None:
                    sys.stderr.write(captured)


def _flush_stderr() -> None:
    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
