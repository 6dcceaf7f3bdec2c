"""Write the monthly pack: `pack.html` (self-contained), `pack.pdf`, `pack.md` and `data/`.

Renderers only render: every number comes from `monthly.MonthlyPack`. The HTML carries its
styles and its charts (SVG as data URIs), so it opens offline and fetches nothing; the PDF is
the same HTML laid out by WeasyPrint; `data/` holds a CSV per table and chart and
`variance.json`, and is the same bytes for the same lake and rules.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from cloudtally.charts import render_svg
from cloudtally.charts.bars import breakdown
from cloudtally.charts.render import Spec
from cloudtally.charts.trend import monthly_trend
from cloudtally.charts.waterfall import waterfall
from cloudtally.errors import ExportError
from cloudtally.output import write_csv
from cloudtally.report.monthly import MonthlyPack

MARKER = ".cloudtally-pack"


@dataclass
class Extras:
    """What other parts of the product add to the pack when they hold data (budgets,
    forecasts, commitments): headline cards, columns of the breakdown tables, sections."""

    headline: list[dict[str, str]] = field(default_factory=list)
    columns: dict[str, list[str]] = field(default_factory=dict)
    cells: dict[tuple[str, str | None, str], str] = field(default_factory=dict)
    sections: list[dict[str, str]] = field(default_factory=list)
    budget_line: dict[str, list[tuple[str, Decimal]]] = field(default_factory=dict)
    forecast_points: dict[str, list[tuple[str, Decimal, Decimal | None, Decimal | None]]] = field(
        default_factory=dict
    )
    data: dict[str, str] = field(default_factory=dict)  # more files of `data/`: name -> CSV


def money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:,.2f}"


def signed(value: Decimal | None) -> str:
    return "" if value is None else f"{value:+,.2f}"


def pct(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def none_label(word: str) -> str:
    """How a missing owner reads: a line without a team is unallocated; without a product or
    an environment it has none."""
    return "(unallocated)" if word == "team" else "(none)"


def _data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    # Through the one CSV writer: exact decimals, formula-like text neutralised (--csv-raw).
    buffer = io.StringIO()
    write_csv(buffer, columns, rows)
    return buffer.getvalue()


def chart_specs(pack: MonthlyPack, extras: Extras) -> dict[str, Any]:
    """The Vega-Lite specs of the pack's charts (the dashboard draws the same ones)."""
    trend = [
        monthly_trend(
            points,
            title=f"{pack.metric} per month, {currency}",
            currency=currency,
            budget=extras.budget_line.get(currency, []),
            forecast=extras.forecast_points.get(currency, []),
        )
        for currency, points in sorted(pack.trend.items())
    ]
    bridges = [
        waterfall(
            (pack.previous, b.previous_total),
            [(n, a) for n, a in b.components if a != 0],
            (pack.period, b.total),
            title=f"From {pack.previous} to {pack.period}, {b.currency}",
            currency=b.currency,
        )
        for b in pack.bridges
    ]
    breakdowns: dict[str, Spec | None] = {}
    for word, rows in pack.breakdowns.items():
        currencies = {r.currency for r in rows}
        if len(currencies) != 1 or not rows:
            breakdowns[word] = None
            continue
        top = [(r.group if r.group is not None else none_label(word), r.cost) for r in rows][:15]
        breakdowns[word] = breakdown(
            top, title=f"{pack.metric} by {word}, {pack.period}", currency=currencies.pop()
        )
    return {"trend": trend, "bridge": bridges, "breakdown": breakdowns}


def data_files(pack: MonthlyPack) -> dict[str, str]:
    """The `data/` folder: a CSV per table and chart, and variance.json."""
    files = {
        "headline.csv": _csv(
            ["currency", "billed", "effective", "previous_billed", "previous_effective", "change"],
            [
                (
                    h.currency,
                    h.billed,
                    h.effective,
                    h.previous_billed,
                    h.previous_effective,
                    h.change,
                )
                for h in pack.headlines
            ],
        ),
        "trend.csv": _csv(
            ["currency", "period", pack.metric],
            [(c, p, v) for c, points in sorted(pack.trend.items()) for p, v in points],
        ),
        "variance.csv": _csv(
            ["currency", "component", "amount"],
            [
                (b.currency, name, amount)
                for b in pack.bridges
                for name, amount in [
                    (f"{pack.previous} total", b.previous_total),
                    *b.components,
                    (f"{pack.period} total", b.total),
                ]
            ],
        ),
        "drivers.csv": _csv(
            [
                "dimension",
                "group",
                "currency",
                "previous",
                "current",
                "change",
                "owner",
                "sentence",
            ],
            [
                (d.dimension, d.group, d.currency, d.before, d.after, d.change, d.owner, d.sentence)
                for d in pack.drivers
            ],
        ),
        "anomalies.csv": _csv(
            ["id", "date", "series", "kind", "impact", "status", "owner"],
            [tuple(a.values()) for a in pack.anomalies],
        ),
    }
    for word, rows in pack.breakdowns.items():
        files[f"by_{word}.csv"] = _csv(
            [word, "currency", pack.period, "share", pack.previous, "change"],
            [(r.group, r.currency, r.cost, r.share, r.previous, r.change) for r in rows],
        )
    if pack.coverage:
        files["tag_coverage.csv"] = _csv(
            list(pack.coverage[0]), [tuple(r.values()) for r in pack.coverage]
        )
    variance = [b.as_json(pack.period, pack.previous) for b in pack.bridges]
    files["variance.json"] = (
        json.dumps(variance[0] if len(variance) == 1 else variance, indent=2) + "\n"
    )
    return files


def render_html(pack: MonthlyPack, extras: Extras, specs: dict[str, Any]) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("cloudtally.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    charts = {
        "trend": [_data_uri(render_svg(s)) for s in specs["trend"]],
        "bridge": [_data_uri(render_svg(s)) for s in specs["bridge"]],
        "breakdown": {
            w: _data_uri(render_svg(s)) if s is not None else None
            for w, s in specs["breakdown"].items()
        },
    }

    def cell(key: str, value: Any) -> str:
        if isinstance(value, float):
            return pct(value)
        if isinstance(value, Decimal):
            return money(value)
        return "" if value is None else str(value)

    def join(pairs: Sequence[tuple[str, Decimal]]) -> str:
        return ", ".join(f"{k} ({money(v)})" for k, v in pairs) or "none"

    return env.get_template("pack.html.j2").render(
        pack=pack, extras=extras, charts=charts, money=money, signed=signed, pct=pct,
        cell=cell, join=join, none_label=none_label,
    )  # fmt: skip


def render_markdown(pack: MonthlyPack, extras: Extras) -> str:
    lines = [f"# Cloud cost report — {pack.period}", ""]
    lines.append(f"{pack.metric} (amortized) unless marked billed; compared with {pack.previous}.")
    lines += [""] + [f"> {n}" for n in pack.notes]
    lines += ["", "## Headline", ""]
    for h in pack.headlines:
        change = f" ({pct(h.change_pct)})" if h.change_pct is not None else ""
        lines.append(
            f"- Effective cost {money(h.effective)} {h.currency}, {signed(h.change)} vs "
            f"{pack.previous}{change}; billed {money(h.billed)} {h.currency}."
        )
    lines += [f"- {e['label']}: {e['value']} ({e['detail']})" for e in extras.headline]
    lines += ["", "## Trend", ""]
    lines += [f"![trend {c}](charts/trend-{c}.svg)" for c in sorted(pack.trend)]
    lines += ["", "## Variance bridge", ""]
    for b in pack.bridges:
        lines += [f"![bridge {b.currency}](charts/bridge-{b.currency}.svg)", ""]
        lines += [f"| from {pack.previous} to {pack.period} | {b.currency} |", "|---|---:|"]
        lines.append(f"| {pack.previous} total | {money(b.previous_total)} |")
        lines += [f"| {n} | {signed(a)} |" for n, a in b.components]
        lines += [f"| **{pack.period} total** | **{money(b.total)}** |", ""]
    lines += ["## Top drivers", ""]
    lines += [f"- {d.sentence}" for d in pack.drivers] or ["- No service changed."]
    for word, rows in pack.breakdowns.items():
        lines += [
            "",
            f"## By {word}",
            "",
            f"| {word} | currency | {pack.period} | share | change |",
            "|---|---|---:|---:|---:|",
        ]
        lines += [
            f"| {r.group if r.group is not None else none_label(word)} | {r.currency} | "
            f"{money(r.cost)} | {pct(r.share)} | {signed(r.change)} |"
            for r in rows
        ]
    if pack.unallocated:
        lines += ["", "## Unallocated spend", ""]
        lines += [
            f"- {money(u['cost'])} {u['currency']} ({pct(u['share'])}) has no owning team."
            for u in pack.unallocated
        ]
    lines += ["", "## Anomalies of the month", ""]
    lines += [
        f"- {a['date']} {a['series']} ({a['kind']}): impact {money(a['impact'])}, {a['status']}"
        + (f", owner {a['owner']}" if a["owner"] else "")
        for a in pack.anomalies
    ] or [f"- No anomaly was recorded for {pack.period}."]
    for section in extras.sections:
        lines += ["", f"## {section['title']}", "", section.get("markdown", "")]
    footer = pack.footer
    lines += [
        "",
        "---",
        f"Lake generation {footer['lake_generation']}; ingests {', '.join(footer['ingest_ids'])}; "
        f"rules folder {footer['rules_hash'] or 'none'}. Reproduce: `{footer['command']}`. "
        "The numbers behind every table and chart are in `data/`.",
        "",
    ]
    return "\n".join(lines)


def _write_pdf(html: str, target: Path, base: Path) -> None:
    try:
        from weasyprint import HTML
    except OSError as exc:  # WeasyPrint loads Pango from the system
        raise ExportError(
            f"pack.pdf needs the Pango library ({str(exc).splitlines()[0]}): on Debian or Ubuntu "
            "`apt-get install libpango-1.0-0 libpangoft2-1.0-0`, or pass --no-pdf."
        ) from None
    HTML(string=html, base_url=str(base)).write_pdf(target)


def write_pack(
    pack: MonthlyPack, out: Path, extras: Extras | None = None, *, pdf: bool = True
) -> list[Path]:
    """Write the pack into `out` (replaced as a whole, atomically, if it holds a pack)."""
    extras = extras or Extras()
    out = Path(out)
    if out.exists() and not (out / MARKER).exists() and any(out.iterdir()):
        raise ExportError(
            f"{out} exists and is not a pack cloudtally wrote: give an empty or new folder."
        )
    staging = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "data").mkdir(parents=True)
    (staging / "charts").mkdir()
    specs = chart_specs(pack, extras)
    for name, text in {**data_files(pack), **extras.data}.items():
        (staging / "data" / name).write_text(text, encoding="utf-8")
    for currency, spec in zip(sorted(pack.trend), specs["trend"], strict=True):
        (staging / "charts" / f"trend-{currency}.svg").write_text(
            render_svg(spec), encoding="utf-8"
        )
        (staging / "data" / f"chart-trend-{currency}.vl.json").write_text(
            json.dumps(spec, indent=1), encoding="utf-8"
        )
    for bridge, spec in zip(pack.bridges, specs["bridge"], strict=True):
        (staging / "charts" / f"bridge-{bridge.currency}.svg").write_text(
            render_svg(spec), encoding="utf-8"
        )
        (staging / "data" / f"chart-bridge-{bridge.currency}.vl.json").write_text(
            json.dumps(spec, indent=1), encoding="utf-8"
        )
    html = render_html(pack, extras, specs)
    (staging / "pack.html").write_text(html, encoding="utf-8")
    (staging / "pack.md").write_text(render_markdown(pack, extras), encoding="utf-8")
    if pdf:
        _write_pdf(html, staging / "pack.pdf", staging)
    (staging / MARKER).write_text(f"{pack.period}\n", encoding="utf-8")
    if out.exists():
        retired = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, retired)
        os.replace(staging, out)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(staging, out)
    return sorted(p for p in out.rglob("*") if p.is_file() and p.name != MARKER)
