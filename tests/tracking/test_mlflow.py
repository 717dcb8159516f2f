"""MLflow tracking against a real ``mlflow server`` subprocess, an unreachable server, and
``plurieval sync`` afterwards; plus the journal helpers."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import run_cli


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    mlflow_bin = shutil.which("mlflow") or str(Path(sys.executable).parent / "mlflow")
    if not Path(mlflow_bin).exists():
        pytest.skip("the mlflow command is not installed")
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    log = open(root / "server.log", "w")
    proc = subprocess.Popen(
        [mlflow_bin, "server", "--backend-store-uri", f"sqlite:///{root}/mlflow.db",
         "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
    )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120  # ~20 s when the machine is idle; it is shared
    while True:
        try:
            with urllib.request.urlopen(uri + "/health", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            pytest.fail("mlflow server did not become healthy:\n" + (root / "server.log").read_text()[-3000:])
        time.sleep(0.5)
    yield uri
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _run_dir(output: Path) -> Path:
    (run_dir,) = [p for p in output.iterdir() if (p / "manifest.json").exists()]
    return run_dir


def _runs_for(client, plurieval_run_id):
    exp = client.get_experiment_by_name("plurieval-tiny-echo")
    return client.search_runs([exp.experiment_id], filter_string=f"tags.`plurieval.run_id` = '{plurieval_run_id}'")


def test_run_logs_params_metrics_nested_runs_inputs_and_artifacts(mlflow_server, cli_env, tmp_path):
    from mlflow.tracking import MlflowClient

    out = tmp_path / "runs"
    proc = run_cli(cli_env, "run", "tiny-echo", "--model", "tiny-test", "--set", "n=6", "--set", "alpha=4",
                   "--set", "sweep=[0,2]", "--set", f"tracking.uri={mlflow_server}", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr
    run_dir = _run_dir(out)
    state = json.loads((run_dir / "tracking/state.json").read_text())
    assert state["status"] == "synced" and state["nested_runs"] == 2
    summary = json.loads((run_dir / "summary.json").read_text())
    manifest = json.loads((run_dir / "manifest.json").read_text())

    client = MlflowClient(tracking_uri=mlflow_server)
    runs = _runs_for(client, run_dir.name)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 2
    parent = parents[0]
    assert parent.info.run_id == state["mlflow_run_id"] and parent.info.status == "FINISHED"
    # params: the flattened config
    assert parent.data.params["benchmark.params.alpha"] == "4"
    assert parent.data.params["benchmark.params.sweep"] == "[0, 2]"
    assert parent.data.params["model.name"] == "tiny-test"
    # metrics: aggregates and labelled ones
    assert parent.data.metrics["byte-diversity"] == pytest.approx(summary["metrics"]["byte-diversity"])
    assert parent.data.metrics["byte-diversity/a"] == pytest.approx(summary["per_group"]["a"]["byte-diversity"])
    # tags: versions and hashes
    tags = parent.data.tags
    assert tags["plurieval.model.weights_hash"] == manifest["model"]["weights_hash"]
    assert tags["plurieval.config_hash"] == manifest["config_hash"]
    assert tags["plurieval.intervention.steer.hash"] == manifest["interventions"][0]["hash"]
    assert tags["plurieval.plugin.tinybench"] == "plurieval-tinybench==0.1.0"
    # nested runs: one per sweep point, params from the label, per-layer metric as a step
    by_layer = {c.data.params["layer"]: c for c in children}
    assert set(by_layer) == {"0", "2"}
    assert all(c.data.tags["mlflow.parentRunId"] == parent.info.run_id for c in children)
    history = client.get_metric_history(by_layer["2"].info.run_id, "resid_norm")
    assert [(m.step, round(m.value, 6)) for m in history] == [(2, round(summary["metrics"]["resid_norm/layer2"], 6))]
    # inputs: the dataset with its content hash as digest
    inputs = client.get_run(parent.info.run_id).inputs.dataset_inputs
    assert [i.dataset.name for i in inputs] == ["tiny-echo-prompts:test"]
    assert manifest["datasets"][0]["content_hash"].split(":")[1].startswith(inputs[0].dataset.digest)
    # artifacts: manifest, results, summary, intervention safetensors
    names = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"manifest.json", "results.jsonl", "summary.json", "artifacts"} <= names
    assert "tracking" not in names
    deep = {a.path for a in client.list_artifacts(parent.info.run_id, "artifacts/intervention")}
    assert "artifacts/intervention/tensors.safetensors" in deep
    local = client.download_artifacts(parent.info.run_id, "manifest.json", str(tmp_path / "dl"))
    assert json.loads(Path(local).read_text()) == manifest


def test_unreachable_server_run_completes_then_sync_uploads(mlflow_server, cli_env, tmp_path):
    from mlflow.tracking import MlflowClient

    out = tmp_path / "runs"
    dead = f"http://127.0.0.1:{_free_port()}"
    env = {**cli_env, "MLFLOW_TRACKING_URI": dead}  # the server named by the environment is down
    proc = run_cli(env, "run", "tiny-echo", "--model", "tiny-test", "--set", "n=4", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "unreachable" in proc.stderr and "plurieval sync" in proc.stderr
    run_dir = _run_dir(out)
    assert (run_dir / "summary.json").exists() and len((run_dir / "results.jsonl").read_text().splitlines()) == 4
    state = json.loads((run_dir / "tracking/state.json").read_text())
    assert state["status"] == "pending" and state["uri"] == dead
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "complete"

    still_down = run_cli(cli_env, "sync", str(out))
    assert still_down.returncode == 1 and "still pending" in still_down.stderr

    synced = run_cli(cli_env, "sync", str(out), "--uri", mlflow_server)
    assert synced.returncode == 0, synced.stderr
    assert synced.stdout.startswith("synced")
    runs = _runs_for(MlflowClient(tracking_uri=mlflow_server), run_dir.name)
    assert len(runs) == 1
    summary = json.loads((run_dir / "summary.json").read_text())
    assert runs[0].data.metrics["byte-diversity"] == pytest.approx(summary["metrics"]["byte-diversity"])
    assert json.loads((run_dir / "tracking/state.json").read_text())["status"] == "synced"
    nothing = run_cli(cli_env, "sync", str(out))
    assert nothing.returncode == 0 and "nothing to sync" in nothing.stdout
    # Uploading the same run directory again replaces its MLflow run instead of adding a second.
    first_id = runs[0].info.run_id
    again = run_cli(cli_env, "sync", str(run_dir), "--uri", mlflow_server, "--force")
    assert again.returncode == 0, again.stderr
    runs = _runs_for(MlflowClient(tracking_uri=mlflow_server), run_dir.name)
    assert len(runs) == 1 and runs[0].info.run_id != first_id
    assert MlflowClient(tracking_uri=mlflow_server).get_run(first_id).info.lifecycle_stage == "deleted"


def test_default_store_is_sqlite_under_the_output_dir(tmp_path, monkeypatch):
    from plurieval.config import build_run_config
    from plurieval_mlflow.journal import local_artifact_root, resolve_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = build_run_config({"benchmark": "x", "output_dir": str(tmp_path / "out")})
    uri = resolve_uri(cfg)
    assert uri == f"sqlite:///{tmp_path}/out/mlflow.db"
    assert local_artifact_root(uri) == (tmp_path / "out" / "mlartifacts").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://example.invalid:5000")
    assert resolve_uri(cfg) == "http://example.invalid:5000"
    cfg2 = build_run_config({"benchmark": "x", "tracking": {"uri": "http://127.0.0.1:1"}})
    assert resolve_uri(cfg2) == "http://127.0.0.1:1"  # the run config wins over the environment


def test_journal_helpers():
    from plurieval_mlflow.journal import flatten, metric_name, parse_scope_label

    assert metric_name("language_control", {"language": "de"}) == "language_control/de"
    assert metric_name("kl div", {"lang": "zh:Hans"}) == "kl div/zh_Hans"
    assert flatten({"method": {"name": "m", "params": {"alpha": 4, "langs": ["en", "de"]}}, "seed": 0}) == {
        "method.name": "m", "method.params.alpha": "4", "method.params.langs": '["en", "de"]', "seed": "0"}
    assert parse_scope_label("layer=3, alpha=4") == {"layer": "3", "alpha": "4"}
    assert parse_scope_label("baseline") == {}


def test_every_tag_and_param_key_is_one_mlflow_accepts(tmp_path):
    """A real PolyRefuse run once failed its upload: its dataset split "train+val+test" went into
    a tag key, and MLflow refuses '+'. Keys are made safe; MLflow's own validators judge them."""
    from mlflow.utils.validation import _validate_param_name, _validate_tag_name

    from plurieval_mlflow.journal import safe_key
    from plurieval_mlflow.upload import _params, _tags

    manifest = {"run_id": "r1", "benchmark": {"name": "polyrefuse", "spec_version": "1"},
                "datasets": [{"id": "polyrefuse", "split": "train+val+test", "content_hash": "sha256:ab"},
                             {"id": "mgsm:de", "split": "test", "content_hash": "sha256:cd"}],
                "interventions": [{"name": "direction_en", "hash": "sha256:ef"}],
                "config": {"benchmark": {"name": "polyrefuse", "params": {"languages": ["en", "de"]}}}}
    tags, params = _tags(manifest, tmp_path), _params(manifest)
    assert "plurieval.dataset.polyrefuse.train+val+test.hash" in tags
    for key in tags:
        _validate_tag_name(safe_key(key))
    for key in params:
        _validate_param_name(safe_key(key))
    assert safe_key("plurieval.dataset.polyrefuse.train+val+test.hash") == "plurieval.dataset.polyrefuse.train_val_test.hash"
    assert safe_key("method.params/alpha x") == "method.params/alpha x"


def test_tracking_import_stays_lazy():
    code = "import plurieval_mlflow.plugin, sys; print('mlflow' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


class _BasicAuthProxy:
    """An HTTP proxy that demands basic auth (user ``ada``, password ``s3cr@t-pw``) and forwards
    to the real MLflow server: what a tracking server behind a login looks like."""

    USER, PASSWORD = "ada", "s3cr@t-pw"

    def __init__(self, upstream: str):
        import base64
        import http.server
        import threading

        expected = "Basic " + base64.b64encode(f"{self.USER}:{self.PASSWORD}".encode()).decode()
        self.authorized = 0

        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self):
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="mlflow"')
                    self.end_headers()
                    return
                proxy.authorized += 1
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "authorization",
                                                                                       "content-length")}
                req = urllib.request.Request(upstream + self.path, data=body, headers=headers, method=self.command)
                try:
                    with urllib.request.urlopen(req, timeout=60) as resp:
                        status, payload, ctype = resp.status, resp.read(), resp.headers.get("Content-Type")
                except urllib.error.HTTPError as err:
                    status, payload, ctype = err.code, err.read(), err.headers.get("Content-Type")
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_tracking_uri_with_credentials_uploads_and_the_password_is_never_printed_or_stored(mlflow_server, cli_env,
                                                                                         tmp_path):
    """The probe: ``http://user:pw@host`` never uploaded (the reachability check failed on the
    URL) and the password was printed and written into tracking/state.json."""
    import urllib.parse

    from mlflow.tracking import MlflowClient

    proxy = _BasicAuthProxy(mlflow_server)
    try:
        password = urllib.parse.quote(proxy.PASSWORD, safe="")  # '@' in a password is percent-escaped in a URI
        uri = f"http://{proxy.USER}:{password}@127.0.0.1:{proxy.port}"
        out = tmp_path / "runs"
        proc = run_cli(cli_env, "run", "tiny-echo", "--model", "tiny-test", "--set", "n=3",
                       "--set", f"tracking.uri={uri}", "--output", str(out))
        assert proc.returncode == 0, proc.stderr
        assert "unreachable" not in proc.stderr and "refused" not in proc.stderr
        run_dir = _run_dir(out)
        state = json.loads((run_dir / "tracking/state.json").read_text())
        assert state["status"] == "synced" and proxy.authorized > 0
        assert state["uri"] == f"http://127.0.0.1:{proxy.port}" and state["username"] == "ada"
        run = MlflowClient(tracking_uri=mlflow_server).get_run(state["mlflow_run_id"])
        assert run.data.tags["plurieval.run_id"] == run_dir.name
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert manifest["config"]["tracking"]["uri"] == f"http://ada:***@127.0.0.1:{proxy.port}"
        written = "".join(p.read_text(errors="replace") for p in run_dir.rglob("*") if p.is_file())
        for text in (proc.stdout, proc.stderr, written):
            assert proxy.PASSWORD not in text and password not in text

        # A wrong password: refused with the reason, the secret nowhere in the message.
        from plurieval_mlflow.upload import TrackingUnavailable, check_reachable

        bad = f"http://{proxy.USER}:wrong-{password}@127.0.0.1:{proxy.port}"
        with pytest.raises(TrackingUnavailable) as exc:
            check_reachable(bad)
        assert "refused the credentials" in str(exc.value) and "wrong-" not in str(exc.value)
        assert "ada:***@" in str(exc.value)
    finally:
        proxy.close()


def test_redaction_of_uris():
    from plurieval.redact import redact_uri, split_credentials

    assert redact_uri("http://u:p@h:5000/x") == "http://u:***@h:5000/x"
    assert redact_uri("see https://tok@h and http://a:b@c/") == "see https://tok@h and http://a:***@c/"
    assert redact_uri("sqlite:////tmp/mlflow.db") == "sqlite:////tmp/mlflow.db"
    assert split_credentials("http://u:p%40ss@h:1/p") == ("http://h:1/p", "u", "p@ss")
    assert split_credentials("http://h") == ("http://h", None, None)
