"""Fuzzed user input: run configs (dicts and files), ``--set`` values, score JSONL files, dataset
files and registry.yaml. Each target may answer with one ``PluriError`` (the clear error the
CLI prints) or succeed; any other exception is a traceback a user would see, and fails."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pytest
from fuzzstats import count
from hypothesis import given
from hypothesis import strategies as st

from plurieval.errors import PluriError

SCALARS = (st.none() | st.booleans() | st.integers(min_value=-10**6, max_value=10**6)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12))
JSONISH = st.recursive(SCALARS, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids,
                                                                                            max_size=3), max_leaves=12)
YAMLISH_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_.-=,:[]{}'\"!&*|>%@`#\\ \t\n" + "äé中[/x]"


def only_clear_errors(target: str, fn, *args, last: bool = True, **kwargs):
    """Run ``fn``; a ``PluriError`` is a clear answer, anything else fails the test. Counts one
    input for ``target`` when it errs or when ``last`` (the final stage of the example) succeeds."""
    try:
        result = fn(*args, **kwargs)
    except PluriError as err:
        assert str(err).strip(), f"{target}: an error without a message"
        count(target, errors=1)
        return None
    if last:
        count(target, accepted=1)
    return result


@pytest.fixture(scope="module")
def host():
    from plurieval.host import PluginHost

    return PluginHost()


@pytest.fixture(scope="module")
def component_names(host):
    return {kind: [s.name for s in host.registry.all(kind)] for kind in ("benchmark", "method", "model", "dataset",
                                                                          "metric")}


def _ref(names):
    name = st.sampled_from(names) | st.text(max_size=10)
    return name | st.fixed_dictionaries({"name": name}, optional={"params": st.dictionaries(
        st.sampled_from(["alpha", "alphas", "layers", "languages", "limit", "seed", "split", "mode", "k", "base"])
        | st.text(max_size=6), JSONISH, max_size=3)})


@given(data=st.data())
def test_fuzzed_run_configs(host, component_names, data):
    from plurieval.config import RunConfig, build_run_config, non_finite_paths, validate_components

    fields = st.sampled_from([*RunConfig.model_fields, "methods", "bogus"])
    value = st.one_of(JSONISH, _ref(component_names["benchmark"] + component_names["method"]))
    raw = data.draw(st.dictionaries(fields, value, max_size=6))
    raw.setdefault("benchmark", data.draw(_ref(component_names["benchmark"])))
    config = only_clear_errors("run config", build_run_config, raw, last=False)
    if config is None:
        return
    resolved = only_clear_errors("run config", validate_components, config, host)
    for _spec, cfg in (resolved or {}).values():
        assert not non_finite_paths(cfg.model_dump()), cfg  # NaN/inf never get through


@given(text=st.text(alphabet=YAMLISH_CHARS, max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
       suffix=st.sampled_from([".yaml", ".json", ".yml"]), raw=st.booleans())
def test_fuzzed_config_files(text, suffix, raw):
    from plurieval.config import build_run_config, load_config_file

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"run{suffix}"
        path.write_bytes(text.encode("latin-1", "replace") if raw else text.encode("utf-8"))
        data = only_clear_errors("config file", load_config_file, path, last=False)
        if data is not None:
            data.setdefault("benchmark", "clasbench")
            only_clear_errors("config file", build_run_config, data)


@given(items=st.lists(st.tuples(st.sampled_from(["alpha", "method.alpha", "method.alphas", "languages", "limit",
                                                  "model", "model.base", "benchmark.params.x", "tracking.uri", "seed",
                                                  "a.b.c.d", "", ".", "method", "dataset.params"]),
                                st.text(alphabet=YAMLISH_CHARS, max_size=40)), max_size=4))
def test_fuzzed_set_values(host, items):
    from plurieval.config import apply_overrides, build_run_config, validate_components

    assignments = [f"{k}={v}" for k, v in items] + (["="] if len(items) == 3 else [])

    def go():
        data = apply_overrides({"benchmark": "clasbench", "method": "diffmean"}, assignments)
        return validate_components(build_run_config(data), host)

    only_clear_errors("--set values", go)


ROW_VALUES = st.one_of(
    st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), max_size=4),
    st.lists(st.integers(min_value=-3, max_value=5), max_size=4),
    JSONISH,
)
CHEAP_METRICS = ["js_distance", "kl_divergence", "total_variation", "cross_entropy", "rank_spearman", "rank_kendall",
                 "rank_exact_match", "accuracy_at_k", "entropy_calibration_error", "js_divergence"]


@given(metric=st.sampled_from(CHEAP_METRICS),
       lines=st.lists(st.one_of(
           st.fixed_dictionaries({"prediction": ROW_VALUES, "reference": ROW_VALUES}).map(json.dumps),
           st.fixed_dictionaries({"prediction": st.lists(st.floats(0, 1), min_size=3, max_size=3),
                                  "reference": st.lists(st.floats(0, 1), min_size=3, max_size=3)}).map(json.dumps),
           st.text(max_size=30)), max_size=5),
       junk=st.binary(max_size=20))
def test_fuzzed_score_files(host, metric, lines, junk):
    from plurieval.scoring import json_safe, score_file

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "preds.jsonl"
        path.write_bytes("\n".join(lines).encode("utf-8") + (junk if len(lines) == 4 else b""))
        result = only_clear_errors("score JSONL", score_file, host, metric, path, [])
    if result is not None:  # what `plurieval score` prints must be valid JSON
        json.dumps(json_safe(result), allow_nan=False)
        assert result["score"] is None or isinstance(result["score"], str) or math.isfinite(result["score"])


LINES = st.lists(st.one_of(
    st.fixed_dictionaries({"id": st.text(max_size=4), "text": st.text(max_size=8), "options": JSONISH,
                           "counts": JSONISH, "premise": SCALARS, "hypothesis": SCALARS, "label": JSONISH,
                           "explanation": SCALARS, "gold_label": SCALARS, "explanation_category": JSONISH,
                           "pairID": SCALARS, "chaos probs": JSONISH}).map(json.dumps),
    JSONISH.map(json.dumps), st.text(max_size=20)), max_size=4)


@given(loader=st.sampled_from(["item-counts", "chaosnli", "litex", "clasbench", "polyrefuse"]), lines=LINES,
       junk=st.binary(max_size=16))
def test_fuzzed_dataset_files(host, loader, lines, junk):
    """Every registered loader on a file of fuzzed rows: a DataError naming the file, or examples."""
    body = "\n".join(lines).encode("utf-8") + (junk if len(lines) % 2 else b"")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if loader == "item-counts":
            (root / "items.jsonl").write_bytes(body)
            load = lambda: host.create("dataset", "item-counts", {"path": str(root / "items.jsonl")}).load()  # noqa: E731
        elif loader == "chaosnli":
            (root / "hlv" / "mjd-chaosnli").mkdir(parents=True)
            (root / "hlv" / "mjd-chaosnli" / "test.json").write_bytes(body)
            load = lambda: host.create("dataset", "chaosnli", {"data_dir": str(root)}).load("test")  # noqa: E731
        elif loader == "litex":
            (root / "litex" / "esnli").mkdir(parents=True)
            (root / "litex" / "SOURCE.md").write_text("fuzz")
            (root / "litex" / "esnli" / "annotations_esnli.jsonl").write_bytes(body)
            load = lambda: host.create("dataset", "litex", {"data_dir": str(root), "sources": ["esnli"]}).load()  # noqa: E731
        elif loader == "clasbench":
            for lang, part in (("en", body), ("de", body[::-1])):
                (root / f"{lang}.txt").write_bytes(part)
            load = lambda: host.create("dataset", "clasbench-sample", {"source": str(root)}).load("test")  # noqa: E731
        else:
            (root / "harmful_test_translated_de.json").write_bytes(body if len(lines) % 3 else
                                                                    json.dumps(lines).encode())
            load = lambda: host.create("dataset", "polyrefuse", {"source": str(root), "languages": ["de"],  # noqa: E731
                                                                 "kind": "harmful"}).load("test")
        examples = only_clear_errors(f"dataset loader: {loader}", load)
    assert examples is None or len(examples) > 0  # an empty file is an error, never zero examples


@given(text=st.text(alphabet=YAMLISH_CHARS, max_size=300)
       | st.recursive(SCALARS, lambda k: st.lists(k, max_size=3) | st.dictionaries(
           st.sampled_from(["methods", "metrics", "name", "kind", "version", "x"]), k, max_size=3),
           max_leaves=15).map(lambda v: json.dumps(v)))
def test_fuzzed_registry_yaml(host, text):
    from plurieval.catalogue import catalogue_diff

    expected = _rendered(host)
    problems = only_clear_errors("registry.yaml", catalogue_diff, text, expected)
    assert problems is None or all(isinstance(p, str) for p in problems)


_RENDERED: dict[int, str] = {}


def _rendered(host) -> str:
    from plurieval.catalogue import render_catalogue

    return _RENDERED.setdefault(id(host), render_catalogue(host))
