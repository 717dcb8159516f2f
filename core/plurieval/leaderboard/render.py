"""Rendering boards: Markdown, a self-contained HTML page, and matplotlib plots.

The HTML page works offline: CSS and the sorting script are inline and the plot is embedded as
a data URI, so the single file can be opened from disk, attached to an e-mail or served by any
static host (no CDN). Entries are untrusted input: every string is HTML-escaped and only
http(s) links become anchors.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from plurieval.leaderboard.build import Board, Ranked
    from plurieval.leaderboard.compare import Comparison


def fmt(value: float | None, digits: int = 4) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def fmt_ci(metric: Any) -> str:
    if metric.ci_low is None or metric.ci_high is None:
        return fmt(metric.value)
    return f"{fmt(metric.value)} [{fmt(metric.ci_low)}, {fmt(metric.ci_high)}]"


def _safe_url(url: str | None) -> str | None:
    return url if url and url.split(":", 1)[0].lower() in ("http", "https") else None


def _links(r: Ranked) -> list[tuple[str, str | None]]:
    links = r.entry.links
    return [(label, url) for label, url in (("paper", links.paper), ("MLflow", links.mlflow_run), ("code", links.code))
            if url]


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _stat(stat: Any, digits: int = 2) -> str:
    if stat.value is None:
        return "–"
    if stat.ci_low is None or stat.ci_high is None:
        return f"{stat.value:.{digits}f}"
    return f"{stat.value:.{digits}f} [{stat.ci_low:.{digits}f}, {stat.ci_high:.{digits}f}]"


def _kappa_name(weights: str) -> str:
    return "quadratic-weighted κ" if weights == "quadratic" else ("linear-weighted κ" if weights == "linear" else "κ")


def judge_note(board: Board, metric: str) -> str:
    """``judge NAME, held-out κ V [LO, HI]`` for each judge behind ``metric`` ('' if none)."""
    return "; ".join(f"judge {j.name}, held-out κ {_stat(j.agreement.kappa)}" for j in board.judges.get(metric, []))


def judges_intro(board: Board) -> str:
    split = {j.agreement.split for js in board.judges.values() for j in js}
    part = "held-out part" if split == {"heldout"} else f"{', '.join(sorted(split))} part"
    return (f"How far to trust the judged columns: each judge's agreement with outputs people labelled by reading "
            f"them, on the {part} of plurieval's labelled judge validation set (docs/judges.md), with "
            f"{board.spec.bootstrap.confidence:.0%} bootstrap intervals. κ is Cohen's (quadratic-weighted on a 0/1/2 "
            f"scale); exact agreement is the share of outputs where judge and label agree; bias is the judge's mean "
            f"minus the labels' mean on the metric's scale. Measured by "
            f"`{_judge_source(board)}`.")


def _judge_source(board: Board) -> str:
    from plurieval.leaderboard.judges import load_agreement

    agreement = load_agreement(board.spec, board.directory)
    return agreement.written_by if agreement else ""


def _judge_rows(board: Board) -> list[list[str]]:
    rows = []
    for metric, judges in board.judges.items():
        for j in judges:
            a = j.agreement
            means = ("–" if a.mean_labels is None or a.mean_judge is None
                     else f"{a.mean_labels:.1f} → {a.mean_judge:.1f} {a.unit}")
            rows.append([metric, j.name, a.description, str(a.n), f"{_stat(a.kappa)} ({_kappa_name(a.weights)})",
                         _stat(a.exact_agreement), means, _stat(a.bias, 1)])
    return rows


JUDGE_COLUMNS = ["Metric", "Judge", "What it is", "n", "κ [CI]", "Exact agreement", "Mean: labels → judge", "Bias [CI]"]


def aggregation_text(board: Board) -> str:
    spec = board.spec
    agg = ("each metric's own aggregate over all examples" if spec.aggregation.kind == "metric"
           else f"macro mean over `{spec.aggregation.group_by}` groups of each metric's aggregate within the group")
    direction = "higher is better" if board.higher_is_better else "lower is better"
    return (f"Benchmark `{spec.benchmark}` spec version **{spec.spec_version}**. Ranked by "
            f"`{spec.ranking_metric}` ({direction}); scores are {agg}. Intervals: {spec.bootstrap.confidence:.0%} "
            f"percentile bootstrap over examples ({spec.bootstrap.resamples} resamples, seed {spec.bootstrap.seed}), "
            f"recomputed from the per-example results of every entry. Entries in one tie group are not "
            f"significantly different from the group's leader (paired bootstrap of the difference on the same "
            f"examples; overlapping intervals when the examples differ) and share its rank.")


# --- plots ----------------------------------------------------------------------------------------

def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_board(board: Board, path: Path) -> Path:
    """Ranking metric of every entry with its interval; tie groups share a colour."""
    plt = _pyplot()
    metric = board.spec.ranking_metric
    items = [r for r in board.ranked if r.entry.metrics[metric].value is not None]
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.45 * max(1, len(items))))
    colours = plt.get_cmap("tab10")
    for y, r in enumerate(items):
        m = r.entry.metrics[metric]
        lo = m.value - m.ci_low if m.ci_low is not None else 0.0
        hi = m.ci_high - m.value if m.ci_high is not None else 0.0
        ax.errorbar([m.value], [y], xerr=[[lo], [hi]], fmt="o", capsize=4, color=colours(((r.group or 1) - 1) % 10))
    ax.set_yticks(range(len(items)), [f"{r.rank}. {r.entry.label}" for r in items])
    ax.invert_yaxis()
    ax.set_xlabel(f"{metric} ({'higher' if board.higher_is_better else 'lower'} is better; "
                  f"{board.spec.bootstrap.confidence:.0%} bootstrap CI)")
    ax.set_title(board.title)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_comparison(comparison: Comparison, path: Path) -> Path:
    """One panel per benchmark (scales differ), one row per method, CIs as error bars."""
    plt = _pyplot()
    benches = comparison.benchmarks
    labels = comparison.labels
    fig, axes = plt.subplots(1, len(benches), figsize=(3.6 * len(benches) + 1.5, 1.2 + 0.45 * len(labels)),
                             sharey=True, squeeze=False)
    for ax, bench in zip(axes[0], benches, strict=True):
        for y, label in enumerate(labels):
            cell = comparison.cells.get((label, bench))
            if cell is None or cell.value is None:
                continue
            lo = cell.value - cell.ci_low if cell.ci_low is not None else 0.0
            hi = cell.ci_high - cell.value if cell.ci_high is not None else 0.0
            ax.errorbar([cell.value], [y], xerr=[[lo], [hi]], fmt="o", capsize=4, color=f"C{y % 10}")
        ax.set_title(f"{bench}\n{comparison.metric_of[bench]}", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(range(len(labels)), labels)
    axes[0][0].invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --- Markdown ------------------------------------------------------------------------------------

def board_path(board: Board) -> str:
    """The board's folder as a submitter types it: from the ``leaderboards`` folder down (a
    section such as ``leaderboards/faithfulness/self-explanation`` is not named after its
    benchmark's folder alone)."""
    parts = board.directory.resolve().parts
    if "leaderboards" in parts:
        start = len(parts) - 1 - parts[::-1].index("leaderboards")
        return "/".join(parts[start:])
    return f"leaderboards/{board.directory.name}"


def board_markdown(board: Board, plot_name: str | None = "scores.png") -> str:
    spec = board.spec
    header = ["Rank", "Method", "Model", "Submitter",
              *[f"{m} ({judge_note(board, m)})" if board.judges.get(m) else m for m in spec.metric_names],
              "Tie group", "Links"]
    lines = [f"# {board.title}", "", "<!-- generated by `plurieval leaderboard build`; do not edit -->", ""]
    if spec.description:
        lines += [spec.description.strip(), ""]
    lines += [aggregation_text(board), ""]
    lines += ["| " + " | ".join(_md_escape(h) for h in header) + " |", "|" + "---|" * len(header)]
    for r in board.ranked:
        e = r.entry
        links = ", ".join(f"[{label}]({url})" if _safe_url(url) else f"{label}: `{url}`" for label, url in _links(r))
        cells = [str(r.rank or "–"), e.method.name or "(none)", e.model.id, e.submitter.name,
                 *[fmt_ci(e.metrics[m]) for m in spec.metric_names], str(r.group or "–"), links]
        lines.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
    if not board.ranked:
        lines.append("| " + " | ".join(["–"] * len(header)) + " |")
    if board.judges:
        lines += ["", "## Judges", "", judges_intro(board), "",
                  "| " + " | ".join(JUDGE_COLUMNS) + " |", "|" + "---|" * len(JUDGE_COLUMNS)]
        lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in _judge_rows(board)]
    if plot_name and board.ranked:
        lines += ["", f"![{spec.ranking_metric} with {spec.bootstrap.confidence:.0%} CIs]({plot_name})"]
    reproduce = board.directory / "reproduce.md"
    if reproduce.is_file():  # how the committed entries were made (kept beside board.yaml)
        lines += ["", reproduce.read_text(encoding="utf-8").strip()]
    lines += ["", f"Submit: `plurieval leaderboard submit RUN_DIR --board {board_path(board)} "
              "--submitter NAME`, then open a pull request; CI runs "
              "`plurieval leaderboard validate` on the new entry.", ""]
    return "\n".join(lines)


def comparison_markdown(comparison: Comparison) -> str:
    header = ["Method · model", *[f"{b} ({comparison.metric_of[b]})" for b in comparison.benchmarks]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label in comparison.labels:
        cells = [label]
        for bench in comparison.benchmarks:
            cell = comparison.cells.get((label, bench))
            model = comparison.models.get((label, bench))
            cells.append(fmt_ci(cell) + f" (#{comparison.ranks[(label, bench)]})" + (f" · {model}" if model else "")
                         if cell else "–")
        lines.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


# --- HTML ----------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.6rem}p.spec{color:#444;max-width:60rem;line-height:1.45}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{padding:.4rem .6rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
th{background:#f3f3f3;cursor:pointer;user-select:none;white-space:nowrap}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
tr.g-odd td{background:#fafafa}.ci{color:#666;font-size:.85em}
th .ci{white-space:normal;font-weight:normal}#judges th{cursor:default}h2{font-size:1.2rem;margin-top:2rem}
img.plot{max-width:100%;margin-top:1.5rem}footer{margin-top:2rem;color:#666;font-size:.85rem}
"""

# Sorting: numbers compare by data-sort (missing values always last), text by locale.
_JS = """
(function(){
  var table=document.getElementById('board');
  var heads=table.tHead.rows[0].cells;
  function key(td,num){var v=td.getAttribute('data-sort');if(v===null)v=td.textContent.trim();
    if(!num)return v.toLowerCase();var x=parseFloat(v);return isNaN(x)?null:x;}
  function sortBy(i){
    var th=heads[i],num=th.getAttribute('data-type')==='num';
    var dir=th.getAttribute('aria-sort')==='ascending'?'descending':'ascending';
    for(var j=0;j<heads.length;j++)heads[j].removeAttribute('aria-sort');
    th.setAttribute('aria-sort',dir);
    var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
    rows.sort(function(a,b){var x=key(a.cells[i],num),y=key(b.cells[i],num);
      if(x===y)return 0;if(x===null)return 1;if(y===null)return -1;
      var c=num?x-y:(x<y?-1:1);return dir==='ascending'?c:-c;});
    rows.forEach(function(r){body.appendChild(r);});
  }
  for(var i=0;i<heads.length;i++)(function(i){heads[i].addEventListener('click',function(){sortBy(i);});})(i);
})();
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _data_uri(png: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()


def _num_cell(value: float | None, text: str) -> str:
    sort = "" if value is None else f' data-sort="{value!r}"'
    return f'<td class="num"{sort}>{text}</td>'


def board_html(board: Board, plot: Path | None = None) -> str:
    spec = board.spec
    cols = [("Rank", "num"), ("Method", "text"), ("Model", "text"), ("Submitter", "text"),
            *[(m, "num") for m in spec.metric_names], ("Tie group", "num"), ("Links", "text")]
    head = "".join(f'<th data-type="{t}" scope="col">{_e(name)}'
                   + (f"<div class=ci>{_e(judge_note(board, name))}</div>" if board.judges.get(name) else "")
                   + "</th>" for name, t in cols)
    body = []
    for r in board.ranked:
        e = r.entry
        cells = [_num_cell(r.rank, _e(r.rank or "–")),
                 f"<td>{_e(e.method.name or '(none)')}<div class=ci>{_e(e.method.distribution or '')} "
                 f"{_e(e.method.version or '')}</div></td>",
                 f"<td>{_e(e.model.id)}<div class=ci>{_e(e.model.revision or '')}</div></td>",
                 f"<td>{_e(e.submitter.name)}</td>"]
        for m in spec.metric_names:
            mv = e.metrics[m]
            ci = "" if mv.ci_low is None or mv.ci_high is None else f" <span class=ci>[{fmt(mv.ci_low)}, {fmt(mv.ci_high)}]</span>"
            cells.append(_num_cell(mv.value, _e(fmt(mv.value)) + ci))
        tie = f" <span class=ci>(tied: {_e(r.tie_test)})</span>" if r.tied else ""
        cells.append(_num_cell(r.group, _e(r.group or "–") + tie))
        links = []
        for label, url in _links(r):
            safe = _safe_url(url)
            links.append(f'<a href="{_e(safe)}" rel="nofollow noopener">{_e(label)}</a>' if safe
                         else f"<span title=\"{_e(url)}\">{_e(label)}</span>")
        cells.append(f"<td>{' · '.join(links)}</td>")
        cls = "g-odd" if (r.group or 0) % 2 else "g-even"
        body.append(f'<tr class="{cls}">' + "".join(cells) + "</tr>")
    img = (f'<img class="plot" alt="{_e(spec.ranking_metric)} with confidence intervals" src="{_data_uri(plot)}">'
           if plot is not None and plot.is_file() else "")
    desc = f"<p>{_e(spec.description.strip())}</p>" if spec.description.strip() else ""
    judges = ""
    if board.judges:
        jhead = "".join(f'<th scope="col">{_e(c)}</th>' for c in JUDGE_COLUMNS)
        jrows = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in _judge_rows(board))
        judges = (f'<h2>Judges</h2>\n<p class="spec">{_e(judges_intro(board)).replace("`", "")}</p>\n'
                  f'<table id="judges"><thead><tr>{jhead}</tr></thead><tbody>{jrows}</tbody></table>')
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(board.title)}</title><style>{_CSS}</style></head>
<body>
<h1>{_e(board.title)}</h1>
{desc}
<p class="spec">{_e(aggregation_text(board)).replace('`', '').replace('**', '')}</p>
<table id="board"><thead><tr>{head}</tr></thead>
<tbody>
{chr(10).join(body)}
</tbody></table>
{judges}
{img}
<footer>Generated by <code>plurieval leaderboard build</code>. Click a column header to sort.
{len(board.ranked)} entr{'y' if len(board.ranked) == 1 else 'ies'}.</footer>
<script>{_JS}</script>
</body></html>
"""


def write_board(board: Board) -> dict[str, Path]:
    out = board.directory
    plot = plot_board(board, out / "scores.png") if board.ranked else None
    readme = out / "README.md"
    readme.write_text(board_markdown(board, "scores.png" if plot else None), encoding="utf-8")
    page = out / "index.html"
    page.write_text(board_html(board, plot), encoding="utf-8")
    return {"readme": readme, "html": page, **({"plot": plot} if plot else {})}


def comparison_html(comparison: Comparison, plot: Path | None, *, index_link: bool = False) -> str:
    head = "".join(f'<th data-type="{"text" if i == 0 else "num"}" scope="col">{_e(h)}</th>' for i, h in enumerate(
        ["Method · model", *[f"{b} ({comparison.metric_of[b]})" for b in comparison.benchmarks]]))
    body = []
    for label in comparison.labels:
        cells = [f"<td>{_e(label)}</td>"]
        for bench in comparison.benchmarks:
            cell = comparison.cells.get((label, bench))
            if cell is None:
                cells.append(_num_cell(None, "–"))
                continue
            model = comparison.models.get((label, bench))
            note = f"<div class=ci>#{_e(comparison.ranks[(label, bench)])}{' · ' + _e(model) if model else ''}</div>"
            cells.append(_num_cell(cell.value, _e(fmt_ci(cell)) + note))
        body.append("<tr>" + "".join(cells) + "</tr>")
    img = f'<img class="plot" alt="comparison" src="{_data_uri(plot)}">' if plot else ""
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>plurieval comparison</title>'
            f"<style>{_CSS}</style></head><body><h1>Comparison across benchmarks</h1>"
            '<p class="spec">Rows: methods (best entry per board; the model is named where it differs between '
            'boards). Cells: each board\'s ranking metric with its 95% bootstrap interval and the rank on that board. '
            'Scales differ between benchmarks.' + (' <a href="index.html">All boards</a>.' if index_link else "")
            + "</p>"
            f'<table id="board"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>{img}'
            f"<script>{_JS}</script></body></html>\n")



# --- the index of every board -------------------------------------------------------------------

def index_html(boards: list[Board], comparison: Comparison | None, root: Path) -> str:
    """``leaderboards/index.html``: every board (with its leader) linked, and the comparison
    across benchmarks (inline table; the full page is ``compare.html``)."""
    rows = []
    for board in boards:
        spec = board.spec
        leader = next((r for r in board.ranked if r.rank == 1), None)
        value = leader.entry.metrics[spec.ranking_metric] if leader else None
        href = board.directory.resolve().relative_to(root.resolve()).as_posix() + "/index.html"
        rows.append("<tr>"
                    f'<td><a href="{_e(href)}">{_e(board.title)}</a></td>'
                    f"<td>{_e(spec.benchmark)}</td><td>{_e(spec.spec_version)}</td>"
                    + _num_cell(len(board.ranked), str(len(board.ranked)))
                    + f"<td>{_e(spec.ranking_metric)}</td>"
                    + (f"<td>{_e(leader.entry.label)}</td>" + _num_cell(value.value, _e(fmt_ci(value)))
                       if leader and value is not None else "<td>–</td><td>–</td>")
                    + "</tr>")
    compare = ""
    if comparison is not None:
        page = comparison_html(comparison, None)
        table = page[page.index('<table id="board">'):page.index("</table>") + len("</table>")]
        table = table.replace('id="board"', 'id="comparison"', 1)
        both = len(comparison.methods_on_every_board())
        compare = (f'<h2 id="compare">Methods across benchmarks</h2><p class="spec">Each board\'s ranking metric, '
                   f'best entry of a method per board, 95% bootstrap intervals; {both} method(s) appear on every '
                   f'board. <a href="compare.html">Full comparison page with plot</a>.</p>{table}')
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>plurieval leaderboards</title><style>{_CSS}</style></head>
<body>
<h1>plurieval leaderboards</h1>
<p class="spec">Every entry is validated by recomputing its numbers and intervals from its per-example results.
Submit with <code>plurieval leaderboard submit RUN_DIR</code>.</p>
<table id="boards"><thead><tr><th scope="col">Board</th><th scope="col">Benchmark</th><th scope="col">Spec</th>
<th scope="col">Entries</th><th scope="col">Ranked by</th><th scope="col">Leader</th><th scope="col">Score</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
{compare}
<footer>Generated by <code>plurieval leaderboard build</code>.</footer>
</body></html>
"""


def write_index(root: Path, boards: list[Board], comparison: Comparison | None) -> dict[str, Path]:
    """Write ``index.html`` (and, with a comparison, ``compare.html`` + ``compare.png``) in ``root``."""
    out: dict[str, Path] = {}
    if comparison is not None:
        png = plot_comparison(comparison, root / "compare.png")
        page = root / "compare.html"
        page.write_text(comparison_html(comparison, png, index_link=True), encoding="utf-8")
        out.update(compare=page, plot=png)
    index = root / "index.html"
    index.write_text(index_html(boards, comparison, root), encoding="utf-8")
    out["index"] = index
    return out
