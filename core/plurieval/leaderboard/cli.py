"""``plurieval leaderboard submit|validate|build|compare|schema``.

Import-light on purpose (the main CLI imports this module for every command, ``plurieval list``
included): the leaderboard modules are imported inside the commands.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Annotated

import typer

from plurieval.ui import console, err_console, error, safe, warning

leaderboard_app = typer.Typer(
    name="leaderboard",
    help="Validated leaderboard submissions: submit a run, validate entries, build boards, compare methods.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)

DEFAULT_SCHEMA_PATH = Path("leaderboards") / "entry.schema.json"


def _host():
    from plurieval.host import get_host

    return get_host()


def _fail(message: str, code: int = 2) -> None:
    error(message)
    raise typer.Exit(code)


@leaderboard_app.command()
def submit(
    run_dir: Annotated[Path, typer.Argument(help="a finished run directory (manifest.json, summary.json, results.jsonl)")],
    output: Annotated[Path | None, typer.Option(help="entry file to write (default: BOARD/entries/NAME.json)")] = None,
    submitter: Annotated[str | None, typer.Option(help="your name (default: $PLURIEVAL_SUBMITTER, else the login name)")] = None,
    board: Annotated[Path | None, typer.Option(help="board folder (default: leaderboards/BENCHMARK if it exists)")] = None,
    inline: Annotated[bool, typer.Option("--inline", help="put the per-example results inside the entry")] = False,
    paper: Annotated[str | None, typer.Option(help="link to the paper")] = None,
    mlflow_run: Annotated[str | None, typer.Option(help="link to the MLflow run (default: what tracking recorded)")] = None,
    code: Annotated[str | None, typer.Option(help="link to the code")] = None,
) -> None:
    """Build a leaderboard entry from a finished run. The entry's metrics and confidence
    intervals are recomputed from results.jsonl under the board's spec."""
    from plurieval.errors import PluriError
    from plurieval.leaderboard.submit import build_entry
    from plurieval.leaderboard.validate import validate_entry

    name = submitter or os.environ.get("PLURIEVAL_SUBMITTER") or getpass.getuser()
    try:
        path = build_entry(run_dir, _host(), submitter=name, board_dir=board, output=output, inline=inline,
                           paper=paper, mlflow_run=mlflow_run, code=code)
    except PluriError as err:
        _fail(str(err))
    console.print(safe(f"wrote {path}"), soft_wrap=True, highlight=False)
    report = validate_entry(path, _host(), board_dir=board)
    if report.board is None:
        console.print("no board for this benchmark yet: create leaderboards/<benchmark>/board.yaml to validate it")
    elif not report.ok:
        _fail("the new entry does not validate:\n" + "\n".join(f"  - {p}" for p in report.problems), code=1)
    else:
        console.print("the entry validates")


@leaderboard_app.command()
def validate(
    entries: Annotated[list[Path], typer.Argument(help="entry JSON files")],
    board: Annotated[Path | None, typer.Option(help="board folder (default: from the entry's location or benchmark)")] = None,
    boards_root: Annotated[Path | None, typer.Option(help="folder of boards (default: leaderboards)")] = None,
) -> None:
    """Check entries: schema, benchmark and spec version, required metrics, every summary number
    recomputed from the per-example results, hashes, sizes and file names. Exits 1 on any problem."""
    from plurieval.leaderboard.validate import validate_entry

    host = _host()
    bad = 0
    for path in entries:
        report = validate_entry(path, host, board_dir=board, boards_root=boards_root)
        if report.ok:
            console.print(f"[green]ok[/] {safe(path)}", soft_wrap=True, highlight=False)
            continue
        bad += 1
        err_console.print(f"[bold red]invalid[/] {safe(path)}", highlight=False, soft_wrap=True)
        for problem in report.problems:
            err_console.print(f"  - {problem}", highlight=False, markup=False, soft_wrap=True)
    if bad:
        raise typer.Exit(1)


@leaderboard_app.command()
def build(
    boards: Annotated[list[Path] | None, typer.Argument(help="board folders (default: every leaderboards/*/board.yaml)")] = None,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="leave invalid entries out instead of failing")] = False,
) -> None:
    """Validate every entry and write README.md, index.html and scores.png into each board."""
    from plurieval.errors import PluriError
    from plurieval.leaderboard.build import build_board, find_boards

    targets = boards or find_boards()
    if not targets:
        _fail("no boards found (give a board folder, or run from a folder with leaderboards/*/board.yaml)")
    host = _host()
    built = []
    for target in targets:
        try:
            result = build_board(target, host, skip_invalid=skip_invalid)
        except PluriError as err:
            _fail(str(err), code=1)
        built.append(result)
        for report in result.invalid:
            warning(f"{report.path.name}: {'; '.join(report.problems)}", label="skipped")
        console.print(safe(f"built {target}: {len(result.ranked)} entries → README.md, index.html"), highlight=False)
    if not boards:  # every board: also the index page linking them and the comparison across them
        from plurieval.leaderboard.build import write_boards_index

        written = write_boards_index(Path("leaderboards"), built)
        console.print(safe(f"built {', '.join(str(p) for p in written.values() if p.suffix == '.html')}"),
                      highlight=False)


@leaderboard_app.command()
def compare(
    boards: Annotated[list[Path] | None, typer.Argument(help="board folders (default: every leaderboards/*/board.yaml)")] = None,
    methods: Annotated[str | None, typer.Option(help="comma-separated method names to show (default: all)")] = None,
    metric: Annotated[str | None, typer.Option(help="metric to show where a board has it (default: ranking metric)")] = None,
    plot: Annotated[Path | None, typer.Option(help="write a PNG plot here")] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="write a self-contained HTML page here")] = None,
) -> None:
    """Put methods side by side across benchmarks: a Markdown table (stdout), optionally a plot and a page."""
    from plurieval.errors import PluriError
    from plurieval.leaderboard.build import find_boards
    from plurieval.leaderboard.compare import compare_boards
    from plurieval.leaderboard.render import comparison_html, comparison_markdown, plot_comparison

    wanted = [m.strip() for m in methods.split(",") if m.strip()] if methods else None
    try:
        result = compare_boards(list(boards or find_boards()), _host(), methods=wanted, metric=metric)
    except PluriError as err:
        _fail(str(err), code=1)
    print(comparison_markdown(result), end="")
    png = plot_comparison(result, plot) if plot else None
    if html_out:
        if png is None:
            png = plot_comparison(result, html_out.with_suffix(".png"))
        html_out.write_text(comparison_html(result, png), encoding="utf-8")
        err_console.print(safe(f"wrote {html_out}"), highlight=False)


@leaderboard_app.command()
def pin(
    board: Annotated[Path, typer.Argument(help="board folder (holding board.yaml with a data: section)")],
    digests: Annotated[bool, typer.Option("--digests", help="write data.reference_digests beside board.yaml")] = False,
) -> None:
    """Read a board's data with its registered loader and print what `data:` must pin (id,
    revision, content hash, size), saying where board.yaml disagrees. With --digests, also write
    the per-row reference digests that let entries be checked where the data is not available."""
    from plurieval.errors import PluriError
    from plurieval.leaderboard.pins import compute_pins, write_digests
    from plurieval.leaderboard.schema import load_board

    try:
        spec = load_board(board)
        found = compute_pins(spec, _host())
        written = write_digests(spec, board, _host()) if digests else None
    except PluriError as err:
        _fail(str(err), code=1)
    assert spec.data is not None
    print(f"# data read here by {spec.data.dataset!r} (from {found['source']}); "
          f"{found['expected_rows']} expected rows, {found['rows_per_example']} per example")
    differ = 0
    for key in ("id", "revision", "split", "content_hash", "num_examples"):
        pinned = getattr(spec.data, key)
        mark = "" if pinned == found[key] else f"   # board.yaml says {pinned!r}"
        differ += bool(mark)
        print(f"{key}: {found[key] if found[key] is not None else 'null'}{mark}")
    if written:
        err_console.print(safe(f"wrote {written}"), highlight=False)
    if differ:
        raise typer.Exit(1)


@leaderboard_app.command()
def schema(
    write: Annotated[bool, typer.Option("--write", help="rewrite the schema file")] = False,
    path: Annotated[Path, typer.Option(help="schema file")] = DEFAULT_SCHEMA_PATH,
) -> None:
    """Print (or --write) the JSON Schema of a leaderboard entry."""
    from plurieval.leaderboard.schema import render_entry_schema

    text = render_entry_schema()
    if write:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        console.print(safe(f"wrote {path}"), highlight=False)
    else:
        print(text, end="")
