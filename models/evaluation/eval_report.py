"""The offline evaluation report: ``report.json`` and ``report.html`` with two PNG charts.

:func:`write_report` renders whatever metric keys the entries hold; nothing here computes metrics
(see :mod:`models.evaluation.metrics`). Charts are drawn with matplotlib's Agg canvas (no pyplot, no global
backend switch) and every file goes through :func:`transforms.io.storage.write_bytes`, so
``output_dir`` may be a local folder or ``gs://bucket/prefix``. The HTML references the PNGs by
relative name, so the folder can be copied or served as a whole.
"""
from __future__ import annotations

import html
import io
import json
import math
import re
from typing import Any

import numpy as np

from transforms.io import storage

JSON_NAME = "report.json"
HTML_NAME = "report.html"
BAR_PNG = "metrics_bar.png"
CURVE_PNG = "ndcg_curve.png"

# column order of the metric families (others follow alphabetically); headline ones go in the first table
FAMILY_ORDER = ["ndcg", "recall", "map", "hit_rate", "precision", "recall_all", "ndcg_all", "map_all",
                "recall_all_micro", "coverage", "ties_in_top"]
HEADLINE = {"ndcg", "recall", "map", "hit_rate", "precision", "recall_all", "coverage"}
NOT_RANKED = {"ties_in_top"}  # no "best" value to highlight
BAR_METRICS = ["ndcg@10", "recall@10", "map@10"]
_AT = re.compile(r"^(.+)@(\d+)$")


def write_report(report: dict, output_dir: str) -> tuple[str, str]:
    """Write ``report.json`` (indented, sorted keys) and ``report.html`` (+ PNGs) under ``output_dir``.

    Expected shape (every key optional except ``model``/``baselines`` holding the rows; extra keys
    anywhere are kept in the JSON and shown under "Run details")::

        {
          "shelf": "shortcuts",
          "model": {"name": "model", "version": "...", "metrics": {"ndcg@10": 0.41, ...},
                    "ndcg_curve": {1: 0.30, 2: 0.35, ...},
                    "repeat_explore": {"repeat": {metrics}, "explore": {metrics}}},   # optional
          "baselines": {"baseline_popularity": {"metrics": {...}, "ndcg_curve": {...}}, ...},
          "candidate_recall": 0.107 | None,
          "window": {"from": "2014-12-21", "to": "2014-12-27"},
          "n_examples": 123456,
          ...
        }

    ``metrics`` are flat ``{name: number}`` dicts such as :func:`models.evaluation.metrics.ranking_metrics`
    returns (``family@k`` keys and counts); every key present in any row becomes a column.
    ``ndcg_curve`` maps k (int or str) to NDCG@k. NaN and infinities are written as JSON ``null``;
    numpy scalars become Python numbers. The input dict is not modified.

    Files: ``report.json``, ``report.html``, ``metrics_bar.png`` (NDCG@10, Recall@10, MAP@10 per
    model and baseline, those present) and ``ndcg_curve.png`` (NDCG@k over k), each chart only when
    it has data. Returns ``(json_path, html_path)``.
    """
    clean = _jsonable(report)
    rows = _rows(clean)
    json_path = storage.join(output_dir, JSON_NAME)
    html_path = storage.join(output_dir, HTML_NAME)
    storage.write_bytes(json_path, (json.dumps(clean, indent=2, sort_keys=True, allow_nan=False) + "\n").encode())

    charts = []
    bar = _bar_chart(rows)
    if bar is not None:
        storage.write_bytes(storage.join(output_dir, BAR_PNG), bar[0])
        charts.append((BAR_PNG, bar[1]))
    curve = _curve_chart(rows)
    if curve is not None:
        storage.write_bytes(storage.join(output_dir, CURVE_PNG), curve)
        charts.append((CURVE_PNG, "NDCG@k over k"))
    storage.write_bytes(html_path, _html(clean, rows, charts).encode("utf-8"))
    return json_path, html_path


# ---------------------------------------------------------------------------------------------- data


def _jsonable(obj: Any) -> Any:
    """A JSON-safe deep copy: NaN/inf -> None, numpy -> Python, tuples -> lists, keys kept when all
    of one type (ints stay ints so ``sort_keys`` orders them numerically), else made strings."""
    if isinstance(obj, dict):
        keys = [k.item() if isinstance(k, np.generic) else k for k in obj]
        if len({type(k) for k in keys}) > 1 or any(not isinstance(k, (str, int, float, bool)) for k in keys):
            keys = [str(k) for k in keys]
        return {k: _jsonable(v) for k, v in zip(keys, obj.values())}
    if isinstance(obj, (list, tuple, set)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)  # timestamps, paths, ...


def _rows(report: dict) -> list[dict]:
    """``[{"label", "kind", "metrics", "curve", "split", "entry"}]``: the model first, then the baselines."""
    rows = []
    model = report.get("model")
    if isinstance(model, dict):
        rows.append(_row(str(model.get("name") or "model"), "model", model))
    for name, entry in (report.get("baselines") or {}).items():
        if isinstance(entry, dict):
            rows.append(_row(str(entry.get("name") or name), "baseline", entry))
    return rows


def _row(label: str, kind: str, entry: dict) -> dict:
    curve = {}
    for k, v in (entry.get("ndcg_curve") or {}).items():
        try:
            curve[int(k)] = v
        except (TypeError, ValueError):
            continue
    return {"label": label, "kind": kind, "metrics": dict(entry.get("metrics") or {}),
            "curve": dict(sorted(curve.items())), "split": entry.get("repeat_explore"), "entry": entry}


def _metric_sort_key(name: str):
    m = _AT.match(name)
    if not m:
        return (2, name, 0)  # counts and scalars last
    fam, k = m.group(1), int(m.group(2))
    pos = FAMILY_ORDER.index(fam) if fam in FAMILY_ORDER else len(FAMILY_ORDER)
    return (0 if fam in HEADLINE else 1, pos, fam, k)


def _columns(metric_dicts) -> list[str]:
    names = {k for d in metric_dicts for k in d}
    return sorted(names, key=_metric_sort_key)


def _num(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


# -------------------------------------------------------------------------------------------- charts


def _png(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def _colors(rows):
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    palette = [cmap(i) for i in (0, 1, 2, 4, 5, 6, 7, 8, 9)]  # tab10 without its red, kept for the model
    out, j = [], 0
    for r in rows:
        if r["kind"] == "model":
            out.append("#d62728")
        else:
            out.append(palette[j % len(palette)])
            j += 1
    return out


def _bar_chart(rows) -> tuple[bytes, str] | None:
    from matplotlib.figure import Figure

    present = [m for m in BAR_METRICS if any(_num(r["metrics"].get(m)) is not None for r in rows)]
    if not present:  # fall back to the first @-metrics present
        present = [m for m in _columns(r["metrics"] for r in rows)
                   if _AT.match(m) and any(_num(r["metrics"].get(m)) is not None for r in rows)][:3]
    if not present or not rows:
        return None
    fig = Figure(figsize=(max(6.0, 1.2 + 0.45 * len(rows) * len(present)), 4.2))
    ax = fig.add_subplot()
    width = 0.8 / len(rows)
    x = np.arange(len(present))
    for i, (row, color) in enumerate(zip(rows, _colors(rows))):
        vals = [_num(row["metrics"].get(m)) for m in present]
        heights = [v if v is not None else 0.0 for v in vals]
        bars = ax.bar(x - 0.4 + width * (i + 0.5), heights, width, label=row["label"], color=color)
        for b, v in zip(bars, vals):
            ax.annotate("n/a" if v is None else f"{v:.3f}", (b.get_x() + b.get_width() / 2, b.get_height()),
                        ha="center", va="bottom", fontsize=7, rotation=90 if len(rows) > 4 else 0)
    ax.set_xticks(x, present)
    ax.set_ylabel("value")
    top = max((_num(r["metrics"].get(m)) or 0.0) for r in rows for m in present)
    ax.set_ylim(0, max(top * 1.25, 1e-3))
    ax.set_title("Metrics per model and baseline")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="y", alpha=0.3)
    return _png(fig), ", ".join(present) + " per model and baseline"


def _curve_chart(rows) -> bytes | None:
    from matplotlib.figure import Figure

    with_curve = [(r, c) for r, c in zip(rows, _colors(rows)) if r["curve"]]
    if not with_curve:
        return None
    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.add_subplot()
    for row, color in with_curve:
        ks = list(row["curve"])
        vals = [_num(v) if _num(v) is not None else np.nan for v in row["curve"].values()]
        ax.plot(ks, vals, marker="o", markersize=3, label=row["label"], color=color,
                linewidth=2.2 if row["kind"] == "model" else 1.3)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("k")
    ax.set_ylabel("NDCG@k")
    ax.set_title("NDCG@k over k")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(alpha=0.3)
    return _png(fig)


# ---------------------------------------------------------------------------------------------- html


def _fmt(v) -> str:
    if v is None:
        return "&ndash;"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.0f}" if v.is_integer() and abs(v) >= 1000 else f"{v:.4f}"
    return html.escape(str(v))


def _table(rows: list[tuple[str, str, dict]], columns: list[str], label_header: str = "model / baseline") -> str:
    """rows: (label, kind, metrics). The best value of each @-metric column is bold."""
    best = {}
    for c in columns:
        if _AT.match(c) and _AT.match(c).group(1) not in NOT_RANKED:
            vals = [_num(m.get(c)) for _, _, m in rows]
            vals = [v for v in vals if v is not None]
            if len(vals) > 1:
                best[c] = max(vals)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for label, kind, metrics in rows:
        cells = []
        for c in columns:
            v = metrics.get(c)
            text = _fmt(v)
            if c in best and _num(v) == best[c]:
                text = f"<b>{text}</b>"
            cells.append(f"<td>{text}</td>")
        body.append(f'<tr class="{kind}"><th>{html.escape(label)}</th>{"".join(cells)}</tr>')
    return (f'<div class="scroll"><table><thead><tr><th>{html.escape(label_header)}</th>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _summary(rows) -> str:
    """One sentence: the model vs the best baseline on the first headline metric present."""
    model = next((r for r in rows if r["kind"] == "model"), None)
    baselines = [r for r in rows if r["kind"] == "baseline"]
    if model is None or not baselines:
        return ""
    metric = next((m for m in ["ndcg@10", *BAR_METRICS, *_columns([model["metrics"]])]
                   if _num(model["metrics"].get(m)) is not None
                   and any(_num(b["metrics"].get(m)) is not None for b in baselines)), None)
    if metric is None:
        return ""
    mv = _num(model["metrics"][metric])
    best = max((b for b in baselines if _num(b["metrics"].get(metric)) is not None),
               key=lambda b: _num(b["metrics"][metric]))
    bv = _num(best["metrics"][metric])
    lift = f" ({(mv / bv - 1) * 100:+.1f}%)" if bv else ""
    verdict = "beats" if mv > bv else "does not beat"
    return (f"<p class=\"summary\">{html.escape(model['label'])} {verdict} the best baseline on "
            f"{html.escape(metric)}: {mv:.4f} vs {bv:.4f} ({html.escape(best['label'])}){lift}.</p>")


def _details(report: dict) -> str:
    items = []
    model = report.get("model") if isinstance(report.get("model"), dict) else {}
    for k, v in sorted(model.items()):
        if k not in ("metrics", "ndcg_curve", "repeat_explore"):
            items.append((f"model.{k}", v))
    for k, v in sorted(report.items()):
        if k not in ("model", "baselines"):
            items.append((k, v))
    out = []
    for k, v in items:
        if isinstance(v, (dict, list)):
            text = f"<pre>{html.escape(json.dumps(v, indent=1, sort_keys=True))}</pre>"
        else:
            text = _fmt(v)
        out.append(f"<tr><th>{html.escape(k)}</th><td>{text}</td></tr>")
    return f'<table class="details">{"".join(out)}</table>' if out else ""


def _html(report: dict, rows: list[dict], charts: list[tuple[str, str]]) -> str:
    shelf = report.get("shelf")
    title = "Offline evaluation" + (f": {shelf}" if shelf else "")
    cols = _columns(r["metrics"] for r in rows)
    headline = [c for c in cols if _metric_sort_key(c)[0] == 0]
    table_rows = [(r["label"], r["kind"], r["metrics"]) for r in rows]
    parts = [f"<h1>{html.escape(title)}</h1>", _summary(rows)]
    if headline:
        parts += ["<h2>Headline metrics</h2>", _table(table_rows, headline)]
    for name, alt in charts:
        parts.append(f'<figure><img src="{html.escape(name)}" alt="{html.escape(alt)}">'
                     f"<figcaption>{html.escape(alt)}</figcaption></figure>")
    if cols:
        parts += ["<h2>All metrics</h2>", _table(table_rows, cols)]
    split_rows = [(f"{r['label']} / {part}", r["kind"], r["split"][part])
                  for r in rows if isinstance(r["split"], dict)
                  for part in sorted(r["split"]) if isinstance(r["split"][part], dict)]
    if split_rows:
        split_cols = _columns(m for _, _, m in split_rows)
        parts += ["<h2>Repeat vs explore positives</h2>",
                  "<p>Relevance restricted to one kind of positive; the ranking is unchanged and the other "
                  "kind counts as non-relevant (see <code>models.evaluation.metrics.split_repeat_explore</code>).</p>",
                  _table(split_rows, split_cols, "row / part")]
    details = _details(report)
    if details:
        parts += ["<h2>Run details</h2>", details]
    parts.append('<p class="note">Definitions: <code>models/evaluation/metrics.py</code> (Microsoft Recommenders '
                 "formulae, binary relevance; queries without positives excluded; ties by item_id). "
                 f'Raw numbers: <a href="{JSON_NAME}">{JSON_NAME}</a>.</p>')
    style = ("body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;"
             "font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}"
             "thead th{background:#f3f3f3}tbody th{text-align:left}tr.model{background:#fff3f0}"
             ".scroll{overflow-x:auto}.details td{text-align:left}pre{margin:0;font-size:12px}"
             "figure{display:inline-block;margin:1em 1em 1em 0}img{max-width:100%}"
             ".summary{font-size:15px}.note{color:#666;font-size:12px}")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{style}</style></head><body>\n" + "\n".join(p for p in parts if p) + "\n</body></html>\n")
