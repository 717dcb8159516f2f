"""Fixtures for the HLV tests: a host with a tiny random model registered as ``tiny``."""

import pytest

from plurieval.hookspecs import hookimpl
from plurieval.host import PluginHost
from plurieval.specs import ModelSpec


def _tiny(config):
    from plurieval.models.testing import tiny_model

    return tiny_model("llama", seed=0)


class TinyModelPlugin:
    @hookimpl
    def register_models(self, register):
        register(ModelSpec(name="tiny", factory=_tiny, description="tiny random llama for tests"))


@pytest.fixture(scope="session")
def host():
    h = PluginHost()
    h.add_plugin(TinyModelPlugin(), name="tests-tiny-model")
    assert not h.errors, h.errors
    return h


@pytest.fixture(scope="session")
def tiny_lm():
    from plurieval.models.testing import tiny_model

    return tiny_model("llama", seed=0)
