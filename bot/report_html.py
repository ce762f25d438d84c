"""`babeldesk report --html`: the report as one self-contained page (styles and SVG charts
inline, nothing fetched), so it can be mailed, attached to a ticket and opened offline.

The charts are drawn by matplotlib on the server, as SVG put into the page: they need no
script, so they show where scripts are blocked (mail clients, ticket viewers)."""

from __future__ import annotations

import re
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
code { background: #f3f3f3; padding: 0 .25em; border-radius: 3px; }
.muted { color: #777; } ul.examples { margin: .2em 0; padding-left: 1.2em; }
svg text { font-family: system-ui, sans-serif; }
"""


def _e(value) -> str:
    return escape("" if value is None else str(value))


def _seconds(value) -> str:
    return "–" if value is None else f"{value:.2f} s"


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "–"


def _svg(figure) -> str:
    """A matplotlib figure as an inline <svg> element: text kept as text (the page's font),
    no XML prologue, comments or namespace URLs (an HTML page's parser gives inline SVG its
    namespace), the same ids on every run."""
    import io

    with _style():
        out = io.StringIO()
        figure.savefig(out, format="svg", bbox_inches="tight", transparent=True,
                       metadata={"Creator": None, "Date": None, "Format": None,
                                 "Type": None})
    svg = out.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    svg = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", svg)
    return svg.strip()


def _style():
    import matplotlib

    return matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "babeldesk",
                                  "font.size": 9, "axes.spines.top": False,
                                  "axes.spines.right": False, "axes.edgecolor": "#999"})


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    with _style():
        figure = Figure(figsize=(width, height), dpi=96)
        figure.add_subplot()
    return figure


def stacked_days(days: dict[str, dict[str, int]]) -> str:
    """Answers per day, one bar a day stacked by outcome (matplotlib, as inline SVG)."""
    if not days:
        return '<p class="muted">No answers in this period.</p>'
    figure = _figure(10.5, 2.8)
    axes = figure.axes[0]
    labels = [day[5:] for day in days]  # MM-DD
    below = [0] * len(days)
    for outcome in OUTCOMES:
        counts = [d.get(outcome, 0) for d in days.values()]
        if any(counts):
            bars = axes.bar(labels, counts, bottom=below, color=COLOURS[outcome],
                            label=LABELS[outcome], width=0.8)
            for bar, day, count in zip(bars, days, counts):
                bar.set_gid(f"bar-{outcome}-{day}")  # an id per bar: its day and outcome
            below = [b + c for b, c in zip(below, counts)]
    every = max(1, len(labels) // 12)  # a date under every few bars
    axes.set_xticks(range(len(labels))[::every], labels[::every])
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.grid(axis="y", color="#e5e5e5")
    axes.set_axisbelow(True)
    axes.legend(loc="upper left", bbox_to_anchor=(1, 1), frameon=False)
    return _svg(figure)


def horizontal_bars(counts: dict[str, int], label: str,
                    colour: str = COLOURS["declined"]) -> str:
    """One bar per key, longest first (matplotlib, as inline SVG)."""
    if not counts:
        return '<p class="muted">None.</p>'
    ordered = sorted(counts.items(), key=lambda kv: -kv[1])
    figure = _figure(6.5, 0.3 * len(ordered) + 0.3)
    axes = figure.axes[0]
    keys = [k for k, _ in ordered][::-1]
    values = [v for _, v in ordered][::-1]
    bars = axes.barh(keys, values, color=colour, height=0.7)
    for bar, key in zip(bars, keys):
        bar.set_gid(f"bar-{label.split()[0]}-{key}")
    axes.bar_label(bars, padding=3)
    axes.xaxis.set_visible(False)
    axes.spines["bottom"].set_visible(False)
    return _svg(figure)


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
