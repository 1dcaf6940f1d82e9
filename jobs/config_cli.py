"""``home-recs config show``: the effective configuration, defaults included, after the checks."""
from __future__ import annotations

import argparse
import json

import yaml

from transforms.config import fingerprint, load_config


def register(sub) -> None:
    p = sub.add_parser("config", help="print the effective config (defaults merged with --config), after the checks",
                       description="Loads the packaged defaults (transforms/default_config.yaml), deep-merges --config "
                                   "over them, runs every load-time check (unknown keys, value types, shelves, page, "
                                   "experiments) and prints the result. Exit 2 with one line when a check fails, so it "
                                   "also validates a config before a run.")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    show = verbs.add_parser("show", help="print the effective config")
    show.add_argument("--config", help="YAML deep-merged over the defaults (local or gs://)")
    show.add_argument("--json", action="store_true", help="print JSON instead of YAML")
    show.add_argument("--section", help="only this top-level section, e.g. shelves or page")
    show.set_defaults(func=run)


def run(args: argparse.Namespace, _unknown: list[str]) -> int:
    config = load_config(args.config)
    from models.experiments import build_variants
    from models.serving_models import ModelChoice

    # the checks that need the models' names (sources, rules), on the config and each variant; the
    # variants' models are resolved by `daily` (they need --models), not here
    build_variants({**config, "experiments": {k: {"variants": {v: {kk: vv for kk, vv in spec.items() if kk != "models"}
                                                               for v, spec in e["variants"].items()}}
                                              for k, e in (config.get("experiments") or {}).items()}},
                   ModelChoice(), None)
    shown = config if not args.section else {args.section: config.get(args.section)}
    if args.section and args.section not in config:
        from transforms.errors import InputError

        raise InputError(f"config show --section {args.section}: no such section (sections: {', '.join(config)})")
    if args.json:
        print(json.dumps(shown, indent=2, default=str))
    else:
        print(f"# effective config: defaults + {args.config or '(no --config)'}; fingerprint {fingerprint(config)}")
        print(yaml.safe_dump(shown, sort_keys=False, default_flow_style=None, width=110), end="")
    return 0
