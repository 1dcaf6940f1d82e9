"""``home-recs models list|show|promote|rollback``: inspect versions and move aliases (production,
previous, challenger)."""
from __future__ import annotations

import argparse
import json
import sys

from models.lifecycle.registry import Registry
from transforms.errors import InputError
from transforms.features.feature_spec import FEATURE_SPECS


def register(sub) -> None:
    p = sub.add_parser("models", help="list, show, promote or roll back model versions in a registry",
                       description="The registry lives at --models (local path or gs://). Aliases: production "
                                   "(what the daily job serves), previous, and challenger (a version that passed "
                                   "the gate in `retrain --to challenger`, served to an experiment's variant).")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    for name, help_text in [("list", "versions and aliases per shelf"), ("show", "one version's metadata"),
                            ("promote", "point production at a version (previous <- old production)"),
                            ("rollback", "swap production and previous")]:
        v = verbs.add_parser(name, help=help_text)
        v.add_argument("--models", required=True, help="registry root")
        v.add_argument("--shelf", required=name != "list", choices=sorted(FEATURE_SPECS))
        if name in ("show", "promote"):
            v.add_argument("--version", help="version id (show: default production)")
        if name == "promote":
            v.add_argument("--from-alias", choices=("challenger",),
                           help="promote the version this alias points at, only if its recorded gate verdict "
                                "passed (exit 3 otherwise); instead of --version")
        v.add_argument("--json", action="store_true", help="machine-readable output")
        v.set_defaults(func=run)


def run(args: argparse.Namespace, _unknown: list[str]) -> int:
    reg = Registry(args.models)
    if args.verb == "list":
        shelves = [args.shelf] if args.shelf else reg.shelves()
        out = {s: {"production": reg.alias(s, "production"), "previous": reg.alias(s, "previous"),
                   "challenger": reg.alias(s, "challenger"), "versions": reg.versions(s)} for s in shelves}
        if args.json:
            print(json.dumps(out, indent=2))
            return 0
        for s, info in out.items():
            print(f"{s}: production={info['production']} previous={info['previous']} challenger={info['challenger']}")
            for v in info["versions"]:
                meta = reg.metadata(s, v)
                ev = reg.read_optional(s, v, "evaluation.json") or {}
                score = (ev.get("model") or {}).get("metrics", {}).get("ndcg@10")
                tags = [a for a in ("production", "previous", "challenger") if info[a] == v]
                gate = ev.get("gate") or {}
                verdict = "gate passed" if gate.get("promote") else ("gate failed: " + ",".join(
                    k for k, c in gate.get("checks", {}).items() if c.get("status") == "failed")) if gate else "no gate"
                print(f"  {v}  trained {meta['training_window']['from']}..{meta['training_window']['to']}  "
                      f"ndcg@10={score if score is None else round(score, 4)}  {verdict}  {' '.join(tags)}")
        if not out:
            print(f"no models under {args.models}")
        return 0
    if args.verb == "show":
        version = args.version or reg.alias(args.shelf, "production")
        info = {"metadata": reg.metadata(args.shelf, version),
                "evaluation": reg.read_optional(args.shelf, version, "evaluation.json")}
        print(json.dumps(info, indent=2, default=str))
        return 0
    if args.verb == "promote":
        if bool(args.version) == bool(args.from_alias):
            raise InputError("models promote: give exactly one of --version V or --from-alias challenger")
        if args.from_alias:
            return _promote_from_alias(reg, args)
        gate = (reg.read_optional(args.shelf, args.version, "evaluation.json") or {}).get("gate") or {}
        if gate and not gate.get("promote"):   # a human may override the gate; the record and the output say so
            print(f"note: {args.version}'s recorded gate verdict failed "
                  f"({', '.join(k for k, c in gate.get('checks', {}).items() if c.get('status') == 'failed')}); "
                  f"promoted by hand", file=sys.stderr)
        result = reg.promote(args.shelf, args.version, reason="manual promote"
                             + (" (gate verdict: failed)" if gate and not gate.get("promote") else ""))
    else:
        result = reg.rollback(args.shelf)
    print(json.dumps(result) if args.json else
          f"{args.shelf}: production={result['production']} previous={result['previous']}")
    return 0


def _promote_from_alias(reg: Registry, args) -> int:
    """Promote the alias's version when the gate verdict recorded at registration passed: the same
    gate as `retrain`, so an experiment's challenger reaches production on the same terms."""
    version = reg.alias(args.shelf, args.from_alias)
    if not version:
        raise InputError(f"shelf {args.shelf}: no {args.from_alias} version in {args.models}")
    gate = (reg.read_optional(args.shelf, version, "evaluation.json") or {}).get("gate")
    if not gate or not gate.get("promote"):
        failed = [k for k, c in ((gate or {}).get("checks") or {}).items() if c.get("status") == "failed"]
        message = (f"{args.shelf}: {args.from_alias} {version} NOT promoted: its gate verdict "
                   f"{'failed (' + ', '.join(failed) + ')' if gate else 'is missing'}")
        print(json.dumps({"promoted": False, "version": version, "failed_checks": failed, "message": message})
              if args.json else message)
        return 3
    result = reg.promote(args.shelf, version, reason=f"promoted from {args.from_alias} (gate passed)")
    print(json.dumps(result) if args.json else
          f"{args.shelf}: production={result['production']} previous={result['previous']} (from {args.from_alias})")
    return 0
