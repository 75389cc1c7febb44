"""The ``keras-mia`` command line (the stable interface of SPEC section 2).

Heavy imports (TensorFlow, Keras) happen inside each command, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["main", "build_parser"]


class CommandError(Exception):
    """An error the user can fix; printed as one line, exit code 2."""


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
    from keras_mia.training.engine import train

    train(config, args.out)
    return 0


def _cmd_prepare(args: argparse.Namespace) -> int:
    from keras_mia.datasets import prepare

    names = list(_PREPARE_OPTIONS) + ["segment", "label_test_by_name"]
    options = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    try:
        report = prepare(args.dataset, args.src, args.out, **options)
    except (ValueError, FileNotFoundError) as err:
        raise CommandError(str(err)) from None
    print(f"Next: keras-mia validate {report.out_dir}/manifest.csv")
    return 0


# flag -> (type or action, help); each reaches keras_mia.datasets.prepare as a keyword.
_PREPARE_OPTIONS: dict[str, tuple[object, str]] = {
    "overwrite": ("store_true", "write into a non-empty OUT"),
    "quiet": ("store_true", "do not print the counts report"),
    "keep_duplicates": ("store_true", "open-i: keep byte-identical duplicate files"),
    "patient_pattern": (str, "open-i: regular expression whose groups give the patient id"),
    "image_size": (str, "cbis-ddsm, mias: output size HxW (default 1152x896 for cbis-ddsm)"),
    "patches": (str, "cbis-ddsm: also write Shen's patch set 's' or 's10'"),
    "patch_size": (int, "cbis-ddsm: patch size in pixels (default 224)"),
    "val_fraction": (float, "cbis-ddsm, dbc: fraction of patients for validation"),
    "test_fraction": (float, "dbc: fraction of patients for test"),
    "seed": (int, "cbis-ddsm, dbc: seed of the validation split and patch sampling"),
    "overflow": (str, "cbis-ddsm: 'crop' (default) or 'fit' when an image is too wide"),
    "csv_dir": (str, "cbis-ddsm: folder of the case-description CSVs (default: SRC)"),
    "jobs": (int, "cbis-ddsm: parallel worker processes"),
    "info_file": (str, "mias: path of Info.txt (default: SRC/Info.txt)"),
    "split": (str, "mias: split written in the manifest (default test)"),
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
        help="cbis-ddsm: skip breast segmentation (keep burned-in labels)",
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
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the process exit code."""
    # TensorFlow's C++ start-up chatter (CUDA probing, CPU features) hides the real output.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    from keras_mia.utils.typed_config import ConfigError

    try:
        return int(args.func(args) or 0)
    except (CommandError, ConfigError) as err:
        print(f"keras-mia {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
