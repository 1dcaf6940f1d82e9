"""The ``home-recs`` command line: one sub-command per job.

Each job module exposes ``register(subparsers)`` that adds its parser and sets ``func``; ``func``
receives the parsed namespace plus the list of flags the parser did not know (Beam options).
"""
from __future__ import annotations

import argparse
import errno
import importlib
import logging
import sys

from transforms.errors import InputError
from transforms.io.provenance import code_version

# Sub-commands in the order --help lists them: name -> (module, one-line help). The help is repeated
# here so that `home-recs --help` lists every command without importing one (Beam, Spark and
# xgboost load only for the command that runs); tests/test_importers.py checks it matches each module's.
COMMANDS = {
    "generate": ("jobs.generate", "write a synthetic dataset (events, items, listeners, curation) with planted structure"),
    "import": ("jobs.importers", "turn a real dataset or any interaction file into the data contract"),
    "daily": ("jobs.daily", "compute every listener's Home shelves for one date (Beam)"),
    "publish": ("jobs.publish", "publish a day staged by `daily --no-publish` or `--submit-only` (idempotent: safe to re-run)"),
    "build-examples": ("jobs.examples", "training examples (candidates + features + labels) at past as_of dates (Beam)"),
    "train": ("jobs.train", "train a shelf's XGBoost ranker on examples from build-examples"),
    "evaluate": ("jobs.evaluate", "offline evaluation of a model against baselines (NDCG@k, Recall@k, MAP@k, HitRate@k)"),
    "retrain": ("jobs.retrain", "build examples, train, evaluate, gate, register and (maybe) promote a shelf's model"),
    "models": ("jobs.models_cli", "list, show, promote or roll back model versions in a registry"),
    "drift": ("jobs.drift", "skew (training vs serving) and drift (day vs baseline day) of the feature statistics"),
    "item-neighbours": ("jobs.neighbours",
                        "item-item neighbours from co-listening before as_of: cosine and implicit ALS (Spark)"),
    "config": ("jobs.config_cli", "print the effective config (defaults merged with --config), after the checks"),
    "lookup": ("jobs.lookup", "print one listener's Home page of a published day (shelves in order, then positions)"),
    "experiment-report": ("jobs.experiment_report",
                          "compare an experiment's variants offline on the plays after each serve"),
    "layout-report": ("jobs.layout_report",
                      "offline NDCG of the per-listener shelf order (home_layout) against a fixed order"),
}
COMMAND_MODULES = tuple(module for module, _ in COMMANDS.values())


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class _CurrentStderr(logging.StreamHandler):
    """A stream handler that writes to whatever ``sys.stderr`` is when a record is emitted, not the
    stream of the moment it was made: ``main`` runs inside other programs (tests, notebooks) that
    swap and close stderr, and a handler bound to a closed stream fails every later log line."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:   # StreamHandler.__init__ assigns it; sys.stderr is read at emit
        pass


def configure_logging(library_level: str, verbose: bool = False) -> None:
    """Log to stderr: ``home_recs.*`` at INFO (DEBUG with ``verbose``), every other logger (Beam's
    screens of per-stage lines, py4j, urllib3) at ``library_level``."""
    handler = _CurrentStderr()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, library_level), handlers=[handler], force=True)
    logging.getLogger("home_recs").setLevel(logging.DEBUG if verbose else logging.INFO)


def build_parser(command: str | None = None, lazy: bool = False) -> argparse.ArgumentParser:
    """The ``home-recs`` parser with every sub-command registered by its module; with ``lazy``, only
    ``command``'s module is imported (none when None) and the others are listed by name and help."""
    parser = argparse.ArgumentParser(
        prog="home-recs",
        description="Precompute a music app's Home shelves for every listener (offline, daily, Beam + Spark + XGBoost).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {code_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging for home-recs' own messages")
    parser.add_argument("--log-level", default="WARNING", type=str.upper, choices=LOG_LEVELS,
                        help="level of Beam's, Spark's and other libraries' log messages (default WARNING: "
                             "home-recs' own progress lines and summary stay; INFO shows Beam's stage by stage)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        if lazy and name != command:
            sub.add_parser(name, help=help_text)
        else:
            importlib.import_module(module).register(sub)
    return parser


def _command_in(argv: list[str]) -> str | None:
    """The sub-command named in ``argv``: the first argument that is not an option or its value."""
    takes_value = {"--log-level"}
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in takes_value:
            skip = True
        elif not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def _interrupted(command: str) -> int:
    """One line for Ctrl-C (exit 130, the shell's code for SIGINT): nothing was published; what a
    run staged stays under OUTPUT/_staging/<run id>/ and a re-run starts afresh."""
    print(f"home-recs {command}: interrupted; nothing was published (a run's staged files stay under "
          f"OUTPUT/_staging/)", file=sys.stderr)
    return 130


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_in(argv), lazy=True)
    args, unknown = parser.parse_known_args(argv)
    configure_logging(args.log_level, args.verbose)
    if unknown and not getattr(args, "accepts_beam_options", False):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return int(args.func(args, unknown) or 0)
    except InputError as err:
        print(f"home-recs {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _interrupted(args.command)
    except (RuntimeError, OSError) as err:
        # Beam re-raises a worker's exception as RuntimeError("<type>: <message> [while running 'Stage']")
        text = str(err)
        if "KeyboardInterrupt" in text:
            return _interrupted(args.command)
        if getattr(err, "errno", None) == errno.ENOSPC or "[Errno 28]" in text:
            print(f"home-recs {args.command}: error: no space left on device ({text.splitlines()[0][:300]}); "
                  f"free space under the output or the temp folder and run again", file=sys.stderr)
            return 1
        raise
    except BrokenPipeError:
        # the reader went away (`| head`): not an error of ours; keep Python from printing one at exit
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
