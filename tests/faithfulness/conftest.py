import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from planted import eval_items, planted_model  # noqa: E402


@pytest.fixture(scope="session")
def planted():
    """The planted tiny model (its answer depends on one key word only) and its evaluation items."""
    return planted_model(), eval_items(12)
