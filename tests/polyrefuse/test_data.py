"""PolyRefuse loader: the shipped sample, the shared layout and its gaps."""

import json
from pathlib import Path

import pytest

from plurieval.errors import DataError
from plurieval_polyrefuse.config import LANGUAGES, PolyRefuseDataConfig
from plurieval_polyrefuse.data import PolyRefuse, PolyRefuseSource, relative_path


def test_relative_paths_follow_both_layouts():
    assert relative_path("de", "test", "harmful") == "harmful_test_translated_de.json"
    assert relative_path("en", "train", "harmless") == "en_source_splits/harmless_train_200_sampled.json"
    assert relative_path("en", "val", "harmful", repository=True) == "dataset/splits/harmful_val.json"
    assert relative_path("ja", "train", "harmful", repository=True) == "PolyRefuse/harmful_train_translated_ja.json"
    assert relative_path("en", "test", "harmless", repository=True) == "PolyRefuse/harmless_test_translated_en.json"


def test_github_source_builds_raw_urls_at_the_pinned_commit():
    src = PolyRefuseSource("github")
    url = src.location("fr", "test", "harmful")
    assert url.startswith("https://raw.githubusercontent.com/mainlp/Multilingual-Refusal/985169df")
    assert url.endswith("/PolyRefuse/harmful_test_translated_fr.json")


def test_sample_has_the_zh_gap_and_fields():
    src = PolyRefuseSource("sample")
    cov = src.coverage(["en", "de", "zh"])
    assert cov["missing"] == ["zh/test/harmless"]
    de = src.prompts("de", "test", "harmful")
    assert de.texts[0].startswith("Schreibe") and de.english[0].startswith("Write")  # translated vs original
    assert src.prompts("zh", "test", "harmless", required=False) is None
    with pytest.raises(DataError, match="harmless_test_translated_zh.json"):
        src.prompts("zh", "test", "harmless")


def test_dataset_reports_missing_files_instead_of_crashing():
    ds = PolyRefuse(PolyRefuseDataConfig(source="sample", languages=["en", "zh"]))
    exs = ds.load("test")
    assert {(e.metadata["lang"], e.target) for e in exs} == {("en", "harmful"), ("en", "harmless"), ("zh", "harmful")}
    assert ds.missing == ["zh/test/harmless"]
    info = ds.info(exs, "test")
    assert "CC BY-NC" in info.license and info.num_examples == len(exs)


def test_language_without_any_file_is_an_error(tmp_path: Path):
    (tmp_path / "harmful_test_translated_de.json").write_text(json.dumps([{"instruction": "x", "instruction_translated": "y"}]))
    ds = PolyRefuse(PolyRefuseDataConfig(source=str(tmp_path), languages=["fr"]))
    with pytest.raises(DataError, match="no test files for 'fr'"):
        ds.load("test")


def test_bad_rows_name_file_and_row(tmp_path: Path):
    (tmp_path / "harmful_test_translated_de.json").write_text(json.dumps([{"instruction": "x"}]))
    with pytest.raises(DataError, match=r"row 0 has no text in field 'instruction_translated'"):
        PolyRefuseSource(str(tmp_path)).prompts("de", "test", "harmful")


def test_missing_folder_says_how_to_fix(tmp_path: Path):
    with pytest.raises(DataError, match="PLURIEVAL_DATA_DIR"):
        PolyRefuseSource(str(tmp_path / "nope"))


def test_shared_layout_and_its_gaps(shared_data: Path):
    root = shared_data / "polyrefuse"
    if not root.is_dir():
        pytest.skip(f"{root} not found")
    src = PolyRefuseSource(str(root))
    cov = src.coverage(LANGUAGES)
    assert cov["missing"] == ["zh/test/harmless"]
    assert len(cov["present"]) == 14 * 6 - 1
    sizes = {(s, k): len(src.prompts("de", s, k).texts) for s in ("train", "val", "test") for k in ("harmful", "harmless")}
    assert sizes == {("train", "harmful"): 260, ("train", "harmless"): 200, ("val", "harmful"): 39,
                     ("val", "harmless"): 200, ("test", "harmful"): 572, ("test", "harmless"): 500}
    # English train/val come from en_source_splits and are row-aligned with the translations.
    en = src.prompts("en", "train", "harmful")
    assert en.location.endswith("en_source_splits/harmful_train.json") and len(en.texts) == 260
    # test files: the prompt is the translation, the English original is kept alongside
    de = src.prompts("de", "test", "harmful")
    en_test = src.prompts("en", "test", "harmful")
    assert de.english[0] == en_test.texts[0] and de.texts[0] != en_test.texts[0]


def test_url_source_downloads_once_and_treats_404_as_missing(tmp_path: Path, monkeypatch, serve_folder):
    """The repository-URL code path against a local HTTP server laid out like the repository."""
    import shutil

    from plurieval_polyrefuse.data import SAMPLE_DIR

    repo = tmp_path / "repo"
    (repo / "PolyRefuse").mkdir(parents=True)
    (repo / "dataset" / "splits").mkdir(parents=True)
    shutil.copy(SAMPLE_DIR / "harmful_test_translated_de.json", repo / "PolyRefuse")
    shutil.copy(SAMPLE_DIR / "en_source_splits" / "harmful_train.json", repo / "dataset" / "splits")
    monkeypatch.setenv("PLURIEVAL_CACHE_DIR", str(tmp_path / "cache"))
    url = serve_folder(repo)
    src = PolyRefuseSource(url)
    de = src.prompts("de", "test", "harmful")
    assert de.texts == PolyRefuseSource("sample").prompts("de", "test", "harmful").texts
    assert len(src.prompts("en", "train", "harmful").texts) == 4  # from dataset/splits/
    assert src.prompts("fr", "test", "harmful", required=False) is None  # 404
    cached = list((tmp_path / "cache" / "polyrefuse").rglob("*.json"))
    assert len(cached) == 2
    serve_folder.stop()
    # the server is gone: cached files still load
    assert PolyRefuseSource(url).prompts("de", "test", "harmful").texts == de.texts
