"""``home-recs build-examples``: training examples at past as_of dates (Beam).

Wiring only: the flags become an :class:`~jobs.pipelines.examples.ExamplesRequest` for
:func:`~jobs.pipelines.examples.build_examples`, whose summary is printed.
"""
from __future__ import annotations

import argparse

from jobs.common import add_neighbours_as_of
from jobs.pipelines.examples import ExamplesRequest, build_examples, print_examples
from jobs.plumbing import request_from
from transforms.features.feature_spec import FEATURE_SPECS


def register(sub) -> None:
    p = sub.add_parser(
        "build-examples", help="training examples (candidates + features + labels) at past as_of dates (Beam)",
        description="For each as_of date, generates candidates and features exactly as `home-recs daily` would on "
                    "that date, and labels them from events in [as_of, as_of + horizon). Writes "
                    "OUTPUT/shelf=NAME/*.parquet (listener_id, as_of, item_id, candidate_source, features..., label), "
                    "OUTPUT/feature_stats/<shelf>.json (training statistics with their bin edges), "
                    "OUTPUT/candidate_recall.json and OUTPUT/summary.json. Unknown flags go to Beam.")
    p.add_argument("--as-of", required=True, help="comma-separated dates YYYY-MM-DD (as_of = 00:00 UTC of each)")
    p.add_argument("--horizon", default="1d", help="label window length: Nd or Nh (default 1d)")
    p.add_argument("--input", required=True, help="dataset folder (local or gs://)")
    p.add_argument("--output", required=True, help="examples folder (replaced on success)")
    p.add_argument("--config", help="YAML file deep-merged over the packaged defaults")
    p.add_argument("--runner", default="DirectRunner", help="Beam runner (default DirectRunner)")
    p.add_argument("--neighbours", help="output of `home-recs item-neighbours`, as in `home-recs daily`. Its as_of "
                   "(summary.json) must be at or before the earliest --as-of date, else the job stops: a later table "
                   "counts the examples' label days")
    add_neighbours_as_of(p)
    p.add_argument("--shelf", action="append", default=[], choices=sorted(FEATURE_SPECS),
                   help="only this model shelf (repeatable; default every model shelf of the config): the other "
                        "shelves' candidates, features and population counts are not computed")
    p.set_defaults(func=run, accepts_beam_options=True)


def run(args: argparse.Namespace, beam_args: list[str]) -> int:
    request = request_from(ExamplesRequest, args)
    print_examples(build_examples(request, beam_args), request.output)
    return 0
