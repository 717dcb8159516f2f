import pytest

from plurieval.models.testing import ARCHS, tiny_model


@pytest.fixture(scope="module", params=ARCHS)
def any_lm(request):
    """One tiny random model per architecture family (module-scoped: building costs ~0.1 s)."""
    return tiny_model(request.param, seed=0)


@pytest.fixture(scope="module")
def llama():
    return tiny_model("llama", seed=0)


