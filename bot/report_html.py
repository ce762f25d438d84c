"""`babeldesk report --html`: the report as one self-contained page (styles and SVG charts
inline, nothing fetched), so it can be mailed, attached to a ticket and opened offline."""

from __future__ import annotations

import time
from html import escape

from .report import OUTCOMES

#: each outcome's colour in the charts and the legend
COLOURS = {"answered": "#2e7d32", "declined": "#f9a825", "handed_off": "#1565c0",
           "refused": "#8e24aa", "error": "#c62828", "other": "#9e9e9e"}
LABELS = {"answered": "answered", "declined": "declined", "handed_off": "handed off",
          "refused": "refused", "error": "errors", "other": "other"}

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       margin: 2em auto; max-width: 1100px; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
.period { color: #666; margin-top: .2em; }
.headline { display: flex; flex-wrap: wrap; gap: 1em; margin: 1.5em 0; }
.figure { border: 1px solid #ddd; border-radius: 6px; padding: .6em 1em; min-width: 8em; }
.figure b { display: block; font-size: 1.8em; } .figure span { color: #666; }
table { border-collapse: collapse; width: 100%; margin: .5em 0; }
th, td { border-bottom: 1px solid #eee; padding: .3em .5em; text-align: left;
         vertical-align: top; }
th { background: #f6f6f6; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.legend span { display: inline-block; margin-right: 1em; }
.legend i { display: inline-block; width: .9em; height: .9em; margin-right: .3em;
            vertical-align: -.1em; }
code { background: #f3f3f3; padding: 0 .25em; border-radius: 3px; }
.muted { color: #777; } ul.examples { margin: .2em 0; padding-left: 1.2em; }
svg text { font: 11px system-ui, sans-serif; fill: #444; }
"""


def _e(value) -> str:
    return escape("" if value is None else str(value))


def _seconds(value) -> str:
    return "–" if value is None else f"{value:.2f} s"


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "–"


def stacked_days(days: dict[str, dict[str, int]], width: int = 1000, height: int = 240) -> str:
    """Answers per day, one bar a day stacked by outcome."""
    if not days:
        return '<p class="muted">No answers in this period.</p>'
    left, bottom, top = 40, 40, 10
    plot_w, plot_h = width - left - 10, height - bottom - top
    peak = max(sum(d.values()) for d in days.values()) or 1
    slot = plot_w / len(days)
    bar = max(1.0, slot * 0.8)
    parts = [f'<svg role="img" aria-label="answers per day by outcome" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}">']
    for fraction in (0, 0.5, 1):
        y = top + plot_h * (1 - fraction)
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" '
                     'stroke="#e5e5e5"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
                     f'{round(peak * fraction)}</text>')
    every = max(1, len(days) // 10)  # a date under every tenth bar or so
    for n, (day, counts) in enumerate(days.items()):
        x = left + n * slot + (slot - bar) / 2
        y = top + plot_h
        for outcome in OUTCOMES:
            count = counts.get(outcome, 0)
            if not count:
                continue
            h = plot_h * count / peak
            y -= h
            parts.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                         f'height="{h:.1f}" fill="{COLOURS[outcome]}"><title>{_e(day)}: '
                         f'{count} {LABELS[outcome]}</title></rect>')
        if n % every == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 16}" '
                         f'text-anchor="middle">{_e(day[5:])}</text>')
    parts.append("</svg>")
    legend = "".join(f'<span><i style="background:{COLOURS[o]}"></i>{LABELS[o]}</span>'
                     for o in OUTCOMES)
    return "".join(parts) + f'<div class="legend">{legend}</div>'


def horizontal_bars(counts: dict[str, int], label: str, colour: str = COLOURS["declined"],
                    width: int = 600) -> str:
    """One bar per key, longest first."""
    if not counts:
        return '<p class="muted">None.</p>'
    row, left = 22, 60
    height = row * len(counts) + 10
    peak = max(counts.values()) or 1
    parts = [f'<svg role="img" aria-label="{_e(label)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}">']
    for n, (key, count) in enumerate(sorted(counts.items(), key=lambda kv: -kv[1])):
        y = 5 + n * row
        w = (width - left - 50) * count / peak
        parts.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{_e(key)}</text>')
        parts.append(f'<rect class="bar" x="{left}" y="{y}" width="{w:.1f}" height="{row - 6}" '
                     f'fill="{colour}"><title>{_e(key)}: {count}</title></rect>')
        parts.append(f'<text x="{left + w + 5:.1f}" y="{y + 14}">{count}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] = frozenset(),
           css: str = "") -> str:
    if not rows:
        return '<p class="muted">None.</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>"
                         for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _sources(sources: list[dict]) -> str:
    labels = [f"{s.get('path', '')} › {s['heading']}" if s.get("heading") else s.get("path", "")
              for s in sources]
    return "<br>".join(map(_e, labels)) or '<span class="muted">none</span>'


def render_html(report: dict) -> str:
    t = report["totals"]
    since = (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(report["since"]))
             if report["since"] else "the start of the stored history")
    generated = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(report["generated"]))
    groups = report["unanswered"]
    figures = [
        (t["messages"], "messages"),
        (_percent(t["answered"], t["messages"]), "answered"),
        (_percent(t["declined"], t["messages"]), "declined: the knowledge had no answer"),
        (t["handed_off"], "handed to a person"),
        (len(groups), "topics to write about"),
        (f"👍 {t['thumbs_up']} · 👎 {t['thumbs_down']}", "feedback"),
        (_seconds(t["first_token_median"]), "to the first words (median)"),
    ]
    headline = "".join(f'<div class="figure"><b>{_e(value)}</b><span>{_e(label)}</span></div>'
                       for value, label in figures)
    table_rows = [[_e(r["platform"]), _e(r["channel"]), _e(r["language"] or "?"),
                   *(_e(r[k]) for k in ("messages", "answered", "declined", "handed_off",
                                        "refused", "errors", "thumbs_up", "thumbs_down")),
                   _seconds(r["first_token_median"]), _seconds(r["first_token_p95"])]
                  for r in report["table"]]
    group_rows = []
    for g in groups:
        examples = "".join(f"<li>[{_e(ex['language'])}] {_e(ex['text'])}"
                           + (f' <span class="muted">({_e(ex["author"])})</span>'
                              if "author" in ex else "") + "</li>" for ex in g["examples"])
        near = g["nearest"]
        nearest = (f"{_e(near['path'])}" + (f" › {_e(near['heading'])}" if near["heading"]
                                              else "") + f" <span class=\"muted\">"
                   f"({near['relevance']:.2f})</span>") if near else \
            '<span class="muted">nothing</span>'
        languages = ", ".join(f"{_e(lang)} {n}" for lang, n in g["languages"].items())
        group_rows.append([f"<code>{_e(g['id'])}</code>", str(g["count"]), languages,
                           f"<b>{_e(g['question'])}</b><ul class=\"examples\">{examples}</ul>",
                           nearest])
    down_rows = [[_e(item["language"]), _e(item["question"]), _e(item["answer"]),
                  _sources(item["sources"]), str(item["thumbs_down"])]
                 for item in report["thumbs_down"]]
    slow_rows = [[_seconds(item["first_token"]), _seconds(item["seconds"]),
                  _e(item["platform"]), _e(item["language"]), _e(item["question"]),
                  _e(item["outcome"])] for item in report["slow"]]
    privacy = ("Platform user ids are shown (--show-users)." if report["show_users"] else
               "No platform user ids are shown; e-mail addresses and phone numbers are masked.")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>babeldesk report</title><style>{STYLE}</style></head>
<body>
<h1>What customers asked babeldesk</h1>
<p class="period">Since {_e(since)} · generated {_e(generated)} · {_e(privacy)}</p>
<div class="headline">{headline}</div>

<h2>Answers per day</h2>
{stacked_days(report["days"])}

<h2>Declined questions by language</h2>
<p class="muted">Questions the knowledge had no answer for, by the language they were asked in.</p>
{horizontal_bars(report["declines_by_language"], "declined questions by language")}

<h2>Questions nothing answered</h2>
<p class="muted">Grouped by meaning across languages, the largest first.
<code>babeldesk report --draft ID</code> writes a draft article for a group; the nearest
knowledge section is what came closest, with its relevance.</p>
{_table(["group", "asked", "languages", "questions", "nearest knowledge"], group_rows,
        {1}, "groups")}

<h2>Answers with a 👎</h2>
{_table(["language", "question", "answer", "sources", "👎"], down_rows, {4}, "thumbs-down")}

<h2>Slowest answers</h2>
{_table(["first words", "whole answer", "platform", "language", "question", "outcome"],
        slow_rows, {0, 1}, "slow")}

<h2>By platform, channel and language</h2>
{_table(["platform", "channel", "language", "messages", "answered", "declined", "handed off",
         "refused", "errors", "👍", "👎", "first words (median)", "(p95)"], table_rows,
        set(range(3, 13)), "channels")}
</body></html>
"""
