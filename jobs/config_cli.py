"""``home-recs config show``: the effective configuration, defaults included, after the checks;
``home-recs config docs``: docs/CONFIG.md, generated from the schema."""
from __future__ import annotations

import argparse
import json

import yaml

from transforms.config.config import fingerprint, load_config


def register(sub) -> None:
    p = sub.add_parser("config", help="print the effective config (defaults merged with --config), after the checks",
                       description="Loads the defaults of the schema (transforms/config/config_schema.py, docs/CONFIG.md), "
                                   "deep-merges --config over them, runs every load-time check (unknown keys, value "
                                   "types, shelves, page, experiments) and prints the result. Exit 2 with one line when a check fails, so it "
                                   "also validates a config before a run.")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    show = verbs.add_parser("show", help="print the effective config")
    show.add_argument("--config", help="YAML deep-merged over the defaults (local or gs://)")
    show.add_argument("--json", action="store_true", help="print JSON instead of YAML")
    show.add_argument("--section", help="only this top-level section, e.g. shelves or page")
    show.set_defaults(func=run)
    docs = verbs.add_parser("docs", help="print docs/CONFIG.md (every key, type, default, description) from the schema",
                            description="home-recs config docs > docs/CONFIG.md regenerates the committed file.")
    docs.set_defaults(func=run_docs)


def run(args: argparse.Namespace, _unknown: list[str]) -> int:
    config = load_config(args.config)
    from models.config_checks import check_config

    check_config(config)   # sources, rules, item types; a variant's models need --models: `daily` checks them
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


def run_docs(_args: argparse.Namespace, _unknown: list[str]) -> int:
    from transforms.config.config_docs import render

    print(render(), end="")
    return 0
