"""A real run reports its stages: the model load and the benchmark's loops (not a terminal here)."""

from conftest import tiny_config

from plurieval.runner import execute


def test_a_run_logs_its_model_load_as_a_stage(tmp_path, host, monkeypatch, capsys):
    monkeypatch.delenv("PLURIEVAL_NO_PROGRESS", raising=False)
    monkeypatch.setenv("PLURIEVAL_PROGRESS_EVERY", "0")
    outcome = execute(tiny_config(tmp_path / "runs", n=4), host)
    err = capsys.readouterr().err
    assert "plurieval: load: " in err
    assert "plurieval: generating: 1/1 (" in err  # the benchmark's own loop, one batch of 4
    assert outcome.summary["num_results"] == 4
