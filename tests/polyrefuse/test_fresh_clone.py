"""The documented command ``plurieval run polyrefuse --model default-refusal ...`` on a fresh clone:
no ``PLURIEVAL_DATA_DIR``, so the recipe tunes on the shipped sample, which has no Russian
(a default tune language). It used to fail; tests overrode the tuning languages, so nothing
noticed. Here the shipped path runs with the recipe's own default languages, on a tiny base
model (the only override: building the real model takes ~13 min)."""

from __future__ import annotations

import json

import pytest

from plurieval.config import apply_overrides, build_run_config
from plurieval.errors import PluriError
from plurieval.host import get_host
from plurieval.models.testing import tiny_model
from plurieval.runner import execute
from plurieval_polyrefuse.config import TUNE_LANGUAGES, RefusalModelConfig
from plurieval_polyrefuse.recipe import tune_languages


@pytest.fixture
def fresh_clone(monkeypatch, tmp_path):
    monkeypatch.delenv("PLURIEVAL_DATA_DIR", raising=False)
    monkeypatch.setenv("PLURIEVAL_CACHE_DIR", str(tmp_path / "cache"))


def test_default_tune_languages_fall_back_to_what_the_sample_has(fresh_clone, capsys):
    assert "ru" in TUNE_LANGUAGES
    used = tune_languages(RefusalModelConfig())
    assert used == [lang for lang in TUNE_LANGUAGES if lang != "ru"]
    said = capsys.readouterr().err
    assert "no train prompts for ru" in said and "PLURIEVAL_DATA_DIR" in said


def test_languages_asked_for_explicitly_must_exist(fresh_clone):
    with pytest.raises(PluriError, match="no train prompts for tune language.*ru.*PLURIEVAL_DATA_DIR"):
        tune_languages(RefusalModelConfig(tune_languages=["en", "ru"]))


def test_run_polyrefuse_with_default_refusal_from_a_fresh_clone(fresh_clone, tmp_path, capsys):
    base = tmp_path / "tiny-base"
    lm = tiny_model("llama", seed=5)
    lm.hf.save_pretrained(base)
    lm.tokenizer.save_pretrained(base)
    data = {"benchmark": "polyrefuse", "model": "default-refusal", "method": "refusal_direction", "limit": 1, "output_dir": str(tmp_path / "runs"),
            "tracking": {"enabled": False}}
    # The docs' command (`--set languages=en,de,ja`), with a tiny base and a short recipe.
    apply_overrides(data, ["languages=en,de,ja", f"model.base={base}", "model.steps=2", "model.batch_size=2",
                           "model.harmful_per_language=2", "model.harmless_per_language=2",
                           "model.harmless_answers=generic", "model.train_layers_from=0",
                           "fit_prompts=4", "max_new_tokens=2", "selection.prompts=2", "method.positions=1"])
    outcome = execute(build_run_config(data), get_host())
    assert set(outcome.summary["transfer"]) == {"en", "de", "ja"}
    (build,) = (tmp_path / "cache" / "models").glob("default-refusal-*/recipe.json")
    recipe = json.loads(build.read_text())
    assert recipe["tune_languages"] == sorted(lang for lang in TUNE_LANGUAGES if lang != "ru")
    assert "tuning on en, de, fr, es, zh only" in capsys.readouterr().err
