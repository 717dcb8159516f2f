"""Every bad input gets one clear error naming the input and a non-zero exit: no traceback, no
Rich markup swallowing or choking on what the user typed, nothing silently accepted."""

from __future__ import annotations

import json
import sys

import pytest

from plurieval import cli
from plurieval.config import apply_overrides, build_run_config, validate_components
from plurieval.errors import ConfigError, DataError, PluriError


def _main(monkeypatch, capsys, *args):
    """``plurieval ARGS`` in this process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["plurieval", *args])
    code = 0
    try:
        cli.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def _one_error(code, err):
    assert code != 0
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return err


@pytest.mark.parametrize("name", ["[/x]", "bench[tag]", "[bold]nan[/bold]"])
def test_markup_in_user_input_is_printed_literally(monkeypatch, capsys, name):
    code, _, err = _main(monkeypatch, capsys, "run", name, "--no-cache")
    err = _one_error(code, err)
    assert repr(name) in err  # the name as typed, brackets and all


def test_nan_and_inf_parameters_are_refused_by_field_path(monkeypatch, capsys):
    code, _, err = _main(monkeypatch, capsys, "run", "clasbench", "--method", "diffmean",
                         "--set", "method.alphas=[.nan]", "--set", "method.alpha=.inf", "--no-cache")
    err = _one_error(code, err)
    assert "method.params.alphas.0" in err and "method.params.alpha" in err and "finite" in err


def test_nan_given_as_text_to_a_float_field_is_refused_too():
    from plurieval.host import get_host

    data = apply_overrides({"benchmark": "clasbench", "method": "diffmean"}, ["method.alpha=nan"])
    with pytest.raises(ConfigError) as exc:
        validate_components(build_run_config(data), get_host())
    assert exc.value.problems[0][0] == "method.params.alpha"


@pytest.mark.parametrize("case", ["directory", "not-utf8", "deep-json", "deep-yaml", "not-a-mapping"])
def test_bad_config_files_are_one_clear_error(monkeypatch, capsys, tmp_path, case):
    path = tmp_path / ("run.json" if case == "deep-json" else "run.yaml")
    if case == "directory":
        path.mkdir()
    elif case == "not-utf8":
        path.write_bytes(b"benchmark: clasbench\nmodel: caf\xe9\n")
    elif case == "deep-json":
        path.write_text("[" * 100_000 + "]" * 100_000)
    elif case == "deep-yaml":
        path.write_text("benchmark: {name: x, params: {a: " + "[" * 400 + "]" * 400 + "}}\n")
    else:
        path.write_text("- just\n- a list\n")
    code, _, err = _main(monkeypatch, capsys, "run", "clasbench", "--config", str(path))
    err = _one_error(code, err)
    assert str(path) in err
    expected = {"directory": "is a directory", "not-utf8": "not UTF-8 text (line 2", "deep-json": "nested",
                "deep-yaml": "nested", "not-a-mapping": "mapping"}[case]
    assert expected in err


def test_deeply_nested_set_value_is_refused():
    with pytest.raises(PluriError, match="nested"):
        build_run_config(apply_overrides({"benchmark": "x"}, ["method.p=" + "[" * 400 + "]" * 400]))
    with pytest.raises(ConfigError, match="nested more than"):
        build_run_config(apply_overrides({"benchmark": "x"}, ["method.p=" + "[" * 40 + "]" * 40]))


@pytest.mark.parametrize("case", ["empty", "blank-lines", "directory", "not-utf8", "deep", "not-objects"])
def test_bad_score_files_are_one_clear_error(monkeypatch, capsys, tmp_path, case):
    path = tmp_path / "preds.jsonl"
    if case == "empty":
        path.write_text("")
    elif case == "blank-lines":
        path.write_text("\n\n  \n")
    elif case == "directory":
        path.mkdir()
    elif case == "not-utf8":
        path.write_bytes(b'{"prediction": [0.5, 0.5], "reference": [1, 0]}\n{"prediction": "\xff"}\n')
    elif case == "deep":
        path.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    else:
        path.write_text("[0.5, 0.5]\n")
    code, out, err = _main(monkeypatch, capsys, "score", "js_distance", str(path))
    err = _one_error(code, err)
    assert out == ""  # no `score: null` on stdout
    expected = {"empty": "no rows", "blank-lines": "no rows", "directory": "is a directory",
                "not-utf8": "line 2", "deep": "nested too deeply", "not-objects": "JSON object"}[case]
    assert expected in err and str(path) in err


def test_a_good_score_file_still_scores(monkeypatch, capsys, tmp_path):
    path = tmp_path / "preds.jsonl"
    path.write_text(json.dumps({"prediction": [1.0, 0.0], "reference": [1.0, 0.0]}) + "\n")
    code, out, err = _main(monkeypatch, capsys, "score", "js_distance", str(path))
    assert code == 0, err
    assert json.loads(out)["score"] == 0.0


@pytest.mark.parametrize("text", ["methods: [\n  - name: x\n", "methods: 3\n", "- a\n- b\n", "methods:\n  - 7\n",
                                  "methods: [" * 3000])
def test_malformed_registry_yaml_is_one_clear_error(monkeypatch, capsys, tmp_path, text):
    path = tmp_path / "registry.yaml"
    path.write_text(text)
    code, _, err = _main(monkeypatch, capsys, "registry", "--path", str(path))
    err = _one_error(code, err)
    assert str(path) in err and "plurieval registry --write" in err


def test_registry_path_that_is_a_directory(monkeypatch, capsys, tmp_path):
    code, _, err = _main(monkeypatch, capsys, "registry", "--path", str(tmp_path))
    assert "is a directory" in _one_error(code, err)


def test_empty_data_files_are_an_error_not_zero_examples(tmp_path):
    from plurieval.host import get_host

    path = tmp_path / "items.jsonl"
    path.write_text("")
    dataset = get_host().create("dataset", "item-counts", {"path": str(path)})
    with pytest.raises(DataError, match="no rows"):
        dataset.load()
    path.write_bytes(b'{"id": "a", "text": "caf\xe9", "options": ["x", "y"], "counts": [1, 2]}\n')
    with pytest.raises(DataError, match="not UTF-8"):
        dataset.load()


def test_leaderboard_errors_with_markup_are_printed_literally(monkeypatch, capsys, tmp_path):
    entry = tmp_path / "[red]x.json"
    entry.write_text('{"benchmark": "[/bold]"}')
    code, _, err = _main(monkeypatch, capsys, "leaderboard", "validate", str(entry))
    assert code == 1 and "Traceback" not in err
    assert "[red]x.json" in err and "'[/bold]'" in err


def test_leaderboard_commands_on_directories_and_undecodable_files(monkeypatch, capsys, tmp_path):
    code, _, err = _main(monkeypatch, capsys, "leaderboard", "validate", str(tmp_path))
    assert code == 1 and "is a directory" in err and "Traceback" not in err
    for name in ("manifest.json", "summary.json"):
        (tmp_path / name).write_bytes(b'{"status": "compl\xe9te"}')
    code, _, err = _main(monkeypatch, capsys, "leaderboard", "submit", str(tmp_path), "--submitter", "x")
    assert "not valid JSON" in _one_error(code, err)
