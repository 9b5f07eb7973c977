"""The ``astrotune`` command: ``astrotune predict MODEL INPUT -o OUT.csv``, ``astrotune --version``; no
arguments lists commands.

Every expected failure ends in one line ``astrotune: error: <file or flag>: <reason>`` (a list of
problems is capped with a count) and exit status 1.
"""

import argparse
import logging
import sys

from astrotune import __version__
from astrotune.errors import InputError


def parser():
    """The argument parser of ``astrotune`` and its subcommands."""
    main = argparse.ArgumentParser(prog="astrotune", description="astrotune command-line tools.")
    main.add_argument("--version", action="version", version=f"astrotune {__version__}")
    commands = main.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    predict = commands.add_parser(
        "predict", help="classify a folder of images, a packed .h5 data set or a CSV of RA/Dec with a trained model",
        description="Write class probabilities and the predicted class per object to a CSV.")
    predict.add_argument("model", help="trained model (.keras, saved by the workflow's train_model step)")
    predict.add_argument("input", help="folder of images, packed .h5 data set, or .csv with columns ra, dec "
                                       "(optional id, class)")
    predict.add_argument("-o", "--output", required=True,
                         help="CSV to write: a new file, or a regular file that is none of the inputs")
    predict.add_argument("--batch-size", type=int, default=64, help="images per batch, read and predicted "
                                                                    "(default 64)")
    predict.add_argument("--skyserver-url", default="https://skyserver.sdss.org",
                         help="SkyServer base URL for coordinate inputs (http or https)")
    predict.add_argument("--cutouts", help="folder for fetched cutouts: new, empty, or one an earlier run "
                                           "filled (default: <output>_cutouts)")
    predict.add_argument("--max-objects", type=int, default=10_000,
                         help="most rows of a coordinate CSV or images of a folder (default 10000)")
    predict.add_argument("--max-failed-fraction", type=float, default=0.0,
                         help="largest fraction of objects that may stay unclassified before the exit "
                              "status is 1 (default 0); they are listed in the CSV either way")
    return main


def main(argv=None):
    """Run the ``astrotune`` command; returns the exit status."""
    args = parser().parse_args(argv)
    if args.command is None:
        parser().print_help()
        return 0
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        if args.command == "predict":
            from astrotune.evaluation.predict import predict

            predict(args.model, args.input, args.output, batch_size=args.batch_size,
                    skyserver_url=args.skyserver_url, cutouts_dir=args.cutouts, max_objects=args.max_objects,
                    max_failed_fraction=args.max_failed_fraction)
    except InputError as err:
        print(f"astrotune: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
