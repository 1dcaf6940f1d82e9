"""Write the skew / drift outputs of one date (DESIGN.md "Outputs": ``drift/dt=.../``).

* ``anomalies.json``: ``{"date", "baseline_date", "generated_at", "thresholds" (the drift config
  used), "sources" (where each side's statistics came from), "n_records", "n_alerts",
  "records": [...]}``; each record has exactly :data:`transforms.monitoring.drift.RECORD_FIELDS`. Strict JSON
  (no NaN / Infinity: a missing number is ``null``).
* ``report.html``: one self-contained HTML5 file (inline CSS, charts embedded as base64 ``data:``
  PNG URIs), readable from disk or a bucket download without a server: a summary, the alerts,
  a table of every feature distance sorted by distance (not compared ones last, with their
  reason), the dataset-level anomalies, and for every alerted record a bar chart of ``p`` against
  ``q`` per bin / value.
* ``charts/<shelf>__<feature>__<comparison>[__<metric>].png``: the same charts as files (for
  links from an alert message or a notebook).

Charts are drawn with matplotlib's object API on an Agg canvas (no pyplot, no global backend
switch, safe in workers and threads).
"""
from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
import re
from collections import Counter
from typing import Mapping

from transforms.io import storage
from transforms.monitoring.drift import (COMPARED, DATASET, EXAMPLE_COUNT_CHANGE, METRIC, common_support, describe,
                              feature_threshold)
from transforms.features.feature_spec import ALL_FEATURES

ANOMALIES = "anomalies.json"
REPORT = "report.html"
CHARTS = "charts"

SIDE_LABELS = {"skew": ("training (p)", "serving (q)"), "drift": ("baseline day (p)", "day D (q)")}


def chart_name(r: Mapping) -> str:
    """``<shelf>__<feature>__<comparison>.png`` (``__<metric>`` appended for dataset anomalies)."""
    parts = [r["shelf"] or "none", r["feature"], r["comparison"]] + ([] if r["metric"] == METRIC else [r["metric"]])
    return "__".join(re.sub(r"[^A-Za-z0-9_.-]", "_", p) for p in parts) + ".png"


def write_report(out_dir: str, records: list[dict], header: Mapping,
                 stats: Mapping[tuple, tuple] | None = None) -> dict[str, str]:
    """Write ``anomalies.json``, ``report.html`` and ``charts/*.png`` into ``out_dir`` (local or gs://).

    Args:
      out_dir: the folder (e.g. ``OUTPUT/_staging/RUN/drift/dt=D``).
      records: :func:`transforms.monitoring.drift.compare_stats` records (any shelves and comparisons).
      header: at least ``date`` and ``baseline_date``; ``thresholds`` (the drift config) and
        ``sources`` are recommended; every key goes to ``anomalies.json``.
      stats: ``(shelf, comparison) -> (p_stats, q_stats)``, the finalized statistics compared,
        for the charts of alerted features (without them an alert gets no chart).

    Returns ``{"anomalies": path, "report": path, "charts": [paths]}``.
    """
    stats = stats or {}
    doc = {**header, "generated_at": header.get("generated_at") or _now(), "n_records": len(records),
           "n_alerts": sum(bool(r["alert"]) for r in records), "records": records}
    anomalies = storage.join(out_dir, ANOMALIES)
    storage.write_bytes(anomalies, json.dumps(doc, indent=2, allow_nan=False).encode("utf-8"))
    charts: dict[int, tuple[str, bytes]] = {}
    for i, r in enumerate(records):
        if r["alert"]:
            png = chart_png(r, stats.get((r["shelf"], r["comparison"])), doc)
            if png is not None:
                charts[i] = (chart_name(r), png)
    chart_paths = []
    for name, png in charts.values():
        path = storage.join(out_dir, CHARTS, name)
        storage.write_bytes(path, png)
        chart_paths.append(path)
    report = storage.join(out_dir, REPORT)
    storage.write_bytes(report, render_html(doc, records, charts).encode("utf-8"))
    return {"anomalies": anomalies, "report": report, "charts": chart_paths}


# --------------------------------------------------------------------------------------- charts

def chart_png(r: Mapping, pair: tuple | None, header: Mapping | None = None) -> bytes | None:
    """PNG bytes of a bar chart of ``p`` against ``q`` for one record, or None when the data for
    it is not available. L-infinity records: every bin / value of the common support, the argmax
    marked; missing-rate records: the missing share on each side; count changes: rows per side."""
    p_lab, q_lab = _side_labels(r["comparison"], header or {})
    if r["metric"] == METRIC:
        if not pair:
            return None
        support = common_support(pair[0], pair[1], r["feature"])
        if isinstance(support, str):
            return None
        labels, p, q = support
        ylabel = "share of non-missing rows"
    elif r["metric"] == EXAMPLE_COUNT_CHANGE:
        labels, p, q, ylabel = ["rows"], [r["n_p"] or 0], [r["n_q"] or 0], "rows (candidates)"
    else:
        labels, p, q, ylabel = ["missing", "present"], [r["p"], 1 - r["p"]], [r["q"], 1 - r["q"]], "share of rows"
    title = (f"{r['comparison']} {r['shelf']}.{r['feature']}: {r['metric']} = {r['value']:.3g} "
             f"(threshold {r['threshold']:.3g})")
    return bar_chart(labels, p, q, title, ylabel, (p_lab, q_lab),
                     highlight=r.get("argmax") if r["metric"] == METRIC else None)


def bar_chart(labels: list[str], p: list[float], q: list[float], title: str, ylabel: str,
              legend: tuple[str, str] = ("p", "q"), highlight: str | None = None) -> bytes:
    """Grouped bars of ``p`` and ``q`` per label as PNG bytes (Agg canvas, 100 dpi)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(labels)
    fig = Figure(figsize=(max(6.0, 0.55 * n + 2.5), 4.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    x = list(range(n))
    w = 0.4
    ax.bar([i - w / 2 for i in x], p, w, label=legend[0], color="#4C72B0")
    ax.bar([i + w / 2 for i in x], q, w, label=legend[1], color="#DD8452")
    if highlight is not None and highlight in labels:
        i = labels.index(highlight)
        ax.axvspan(i - 0.5, i + 0.5, color="#C44E52", alpha=0.12, lw=0)
        ax.annotate("max |p - q|", (i, max(p[i], q[i])), xytext=(0, 6), textcoords="offset points",
                    ha="center", fontsize=8, color="#C44E52")
    if n <= 2:
        ax.set_xlim(-1.2, n + 0.2)  # keep one or two groups from filling the whole width
    ax.set_xticks(x)
    ax.set_xticklabels([_short(s) for s in labels], rotation=35 if n > 3 else 0, ha="right" if n > 3 else "center",
                       fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    ax.margins(y=0.12)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


# ----------------------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1300px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3;position:sticky;top:0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.alert td{background:#fde8e8}tr.skip td{color:#777;background:#fafafa}
.badge{display:inline-block;padding:1px 6px;border-radius:8px;font-size:12px}
.fired{background:#c0392b;color:#fff}.ok{background:#2e7d32;color:#fff}.nc{background:#999;color:#fff}
figure{margin:16px 0}figcaption{font-size:13px;color:#444}img{max-width:100%;border:1px solid #eee}
code{background:#f5f5f5;padding:0 3px}
"""


def render_html(doc: Mapping, records: list[dict], charts: Mapping[int, tuple[str, bytes]] | None = None) -> str:
    """The report as one HTML5 string (all text escaped; charts as ``data:image/png;base64`` URIs)."""
    charts = charts or {}
    e = html.escape
    linf = [(i, r) for i, r in enumerate(records) if r["metric"] == METRIC]
    other = [(i, r) for i, r in enumerate(records) if r["metric"] != METRIC]
    fired = [(i, r) for i, r in enumerate(records) if r["alert"]]
    cfg = doc.get("thresholds") or {}
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>home-recs skew and drift {e(str(doc.get('date')))}</title>", f"<style>{_CSS}</style>",
           "</head>", "<body>",
           f"<h1>Skew and drift, {e(str(doc.get('date')))}</h1>",
           "<p>"
           f"<b>skew</b>: training statistics (p) against the serving statistics of {e(str(doc.get('date')))} (q). "
           f"<b>drift</b>: serving statistics of {e(str(doc.get('baseline_date')))} (p) against "
           f"{e(str(doc.get('date')))} (q). Distance: Chebyshev / L-infinity <code>max_i |p_i - q_i|</code> over "
           "the training bins (numeric) or the top-k values plus <code>__other__</code> (categorical); "
           "an alert fires when it exceeds the threshold (the configured one, raised to the two-sample "
           "sampling-noise bound for small samples; see <code>transforms/monitoring/drift.py</code>).</p>",
           f"<p>Generated {e(str(doc.get('generated_at')))}. {e(comparison_summary(records))} "
           + _verdict_badge(records, fired) + "</p>"]
    sources = doc.get("sources") or {}
    if sources:
        out += ["<h2>Inputs</h2>", "<table><thead><tr><th>side</th><th>source</th></tr></thead><tbody>"]
        out += [f"<tr><td>{e(str(k))}</td><td>{e(json.dumps(v) if not isinstance(v, str) else v)}</td></tr>"
                for k, v in sorted(sources.items())]
        out.append("</tbody></table>")

    out.append("<h2>Alerts</h2>")
    if fired:
        out.append("<ul>")
        for i, r in fired:
            link = f' (<a href="#chart-{i}">chart</a>)' if i in charts else ""
            out.append(f"<li>{e(_line(r))}{link}</li>")
        out.append("</ul>")
    else:
        out.append("<p>None.</p>")

    out.append("<h2>Feature distances (L-infinity), sorted by distance</h2>")
    out.append(_table(sorted(linf, key=_by_distance), charts, cfg, with_argmax=True))
    if other:
        out.append("<h2>Dataset-level anomalies</h2>")
        out.append("<p><code>example_count_change</code> = (rows q - rows p) / rows p, alert when its absolute "
                   "value exceeds the threshold; <code>missing_rate_increase</code> = missing rate q - missing "
                   "rate p (p and q columns: the two rates).</p>")
        out.append(_table(sorted(other, key=_by_distance), charts, cfg, with_argmax=False))

    if charts:
        out.append("<h2>Charts of alerted features</h2>")
        for i, (name, png) in charts.items():
            r = records[i]
            uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
            out.append(f'<figure id="chart-{i}"><img src="{uri}" alt="{e(_line(r))}">'
                       f"<figcaption>{e(_line(r))} &mdash; also <code>charts/{e(name)}</code></figcaption></figure>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def _table(rows, charts, cfg, with_argmax: bool) -> str:
    e = html.escape
    cols = ["shelf", "feature", "comparison", "metric", "value", "threshold"] + (
        ["argmax"] if with_argmax else []) + ["p", "q", "n_p", "n_q", "status"]
    out = ["<table><thead><tr>" + "".join(f"<th>{c}</th>" for c in cols) + "</tr></thead><tbody>"]
    for i, r in rows:
        cls = "alert" if r["alert"] else ("skip" if r["status"] != COMPARED else "")
        cells = []
        for c in cols:
            v = r.get(c)
            if c == "status":
                if r["status"] != COMPARED:
                    txt = f'<span class="badge nc">not compared</span> {e(str(r.get("reason")))}'
                elif r["alert"]:
                    link = f' <a href="#chart-{i}">chart</a>' if i in charts else ""
                    txt = f'<span class="badge fired">alert</span>{link}'
                else:
                    txt = "ok"
                cells.append(f"<td>{txt}</td>")
            elif c == "threshold" and v is not None and r["metric"] == METRIC and r["feature"] != DATASET:
                conf = _configured(cfg, r)
                note = " (noise floor)" if conf is not None and v > conf + 1e-12 else ""
                cells.append(f'<td class="num">{_fmt(v)}{note}</td>')
            elif isinstance(v, float) or (isinstance(v, int) and not isinstance(v, bool)):
                cells.append(f'<td class="num">{_fmt(v) if isinstance(v, float) else f"{v:,}"}</td>')
            else:
                cells.append(f"<td>{'' if v is None else e(str(v))}</td>")
        attr = f' class="{cls}"' if cls else ""
        out.append(f"<tr{attr}>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _configured(cfg, r):
    """The configured threshold of a record's feature (to mark thresholds raised by the noise floor)."""
    feat = ALL_FEATURES.get(r["feature"])
    try:
        return feature_threshold(cfg, r["shelf"], r["feature"], feat.kind if feat else None)
    except (KeyError, TypeError, ValueError):
        return None


def comparison_summary(records: list[dict]) -> str:
    """``"12 of 85 feature distances compared; not compared: no_training_stats 40, missing_feature 33"``
    (the L-infinity records; reasons counted, most frequent first)."""
    linf = [r for r in records if r["metric"] == METRIC]
    done = sum(r["status"] == COMPARED for r in linf)
    reasons = Counter(str(r.get("reason")) for r in linf if r["status"] != COMPARED)
    text = f"{done} of {len(linf)} feature distances compared"
    if reasons:
        text += "; not compared: " + ", ".join(f"{k} {n}" for k, n in reasons.most_common())
    return text


def _verdict_badge(records: list[dict], fired: list) -> str:
    """Alerts, else "nothing compared" when no distance was computed (not a green light), else no alert."""
    if fired:
        return f'<span class="badge fired">{len(fired)} alert(s)</span>'
    if not any(r["status"] == COMPARED for r in records if r["metric"] == METRIC):
        return '<span class="badge nc">nothing compared</span>'
    return '<span class="badge ok">no alert</span>'


def _by_distance(ir):
    _, r = ir
    compared = r["status"] == COMPARED
    return (not compared, -(abs(r["value"]) if compared and r["value"] is not None else 0.0),
            r["shelf"], r["feature"], r["comparison"])


def _side_labels(comparison: str, header: Mapping) -> tuple[str, str]:
    p, q = SIDE_LABELS.get(comparison, ("p", "q"))
    if comparison == "drift" and header.get("baseline_date"):
        p = f"{header['baseline_date']} (p)"
    if header.get("date"):
        q = f"{header['date']} (q)"
    return p, q


def _line(r: Mapping) -> str:
    return describe(r)


_NUMBER = re.compile(r"-?\d+\.\d+(?:e[-+]?\d+)?|-?\d+e[-+]?\d+")


def _short(s: str, n: int = 30) -> str:
    """A tick label: numbers in an interval label to 4 significant digits, then cut at ``n`` chars."""
    s = _NUMBER.sub(lambda m: f"{float(m.group()):.4g}", s)
    return s if len(s) <= n else s[: n - 1] + "…"


def _fmt(x) -> str:
    if x is None:
        return ""
    return f"{x:.4g}"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


__all__ = ["ANOMALIES", "REPORT", "CHARTS", "chart_name", "write_report", "chart_png", "bar_chart", "render_html"]
