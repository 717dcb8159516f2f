"""Test-session setup shared by every test folder.

Environment first: OMP_WAIT_POLICY must be set before torch is imported anywhere (see
../shared/offline-assets.md), and the shared data folder beside the repository is the default
data dir for loaders (tests that need it skip cleanly when it is absent).
"""

import os
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("PLURIEVAL_NO_PROGRESS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# MLflow upload costs 5-10 s a run; the tracking tests switch it back on for themselves.
os.environ.setdefault("PLURIEVAL_NO_TRACKING", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO.parent / "shared" / "data").resolve()
if SHARED_DATA.is_dir():
    os.environ.setdefault("PLURIEVAL_DATA_DIR", str(SHARED_DATA))

import pytest  # noqa: E402

from plurieval.hookspecs import hookimpl  # noqa: E402  (pluggy only; torch stays unimported)


@pytest.fixture
def shared_data() -> Path:
    """The shared data folder (../shared/data); skips the test when it is not there."""
    path = Path(os.environ.get("PLURIEVAL_DATA_DIR", SHARED_DATA))
    if not path.is_dir():
        pytest.skip(f"shared data folder {path} not found (set PLURIEVAL_DATA_DIR)")
    return path


@pytest.fixture
def serve_folder():
    """``serve_folder(path) -> "http://127.0.0.1:PORT"``: a local HTTP server over a folder, for
    the URL code paths of the loaders (the network is never used). Stopped after the test;
    ``serve_folder.stop()`` stops it earlier (to show that cached downloads still load)."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    servers = []

    def start(path: Path) -> str:
        handler = functools.partial(SimpleHTTPRequestHandler, directory=str(path))
        handler.log_message = lambda *a, **k: None
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    def stop() -> None:
        while servers:
            server = servers.pop()
            server.shutdown()
            server.server_close()

    start.stop = stop
    yield start
    stop()


# --- a host with every installed plugin plus a tiny random model named "tiny" -----------------
# (HLV and LiTEx run their benchmarks on it; folders with a narrower host define their own.)

def _tiny_llama(config):
    from plurieval.models.testing import tiny_model

    return tiny_model("llama", seed=0)


class TinyModelPlugin:
    @hookimpl
    def register_models(self, register):
        from plurieval.specs import ModelSpec

        register(ModelSpec(name="tiny", factory=_tiny_llama, description="tiny random llama for tests"))


@pytest.fixture(scope="session")
def host():
    from plurieval.host import PluginHost

    h = PluginHost()
    h.add_plugin(TinyModelPlugin(), name="tests-tiny-model")
    assert not h.errors, h.errors
    return h


@pytest.fixture(scope="session")
def tiny_lm():
    from plurieval.models.testing import tiny_model

    return tiny_model("llama", seed=0)
