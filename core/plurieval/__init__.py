"""plurieval: compare steering and explanation methods for language models on shared benchmarks.

Importing this package is cheap on purpose (no torch, no transformers, no mlflow): the CLI's
listing commands must stay well under a second. Heavy modules are imported where they are used.
"""

import os as _os

# On small CPU machines the default OpenMP spin-wait policy makes every small matmul ~80x slower.
# It only takes effect if set before torch is imported, so it is set here, at the very top,
# unless the user chose a value of their own.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from plurieval.errors import (  # noqa: E402
    ConfigError,
    PluginLoadError,
    PluriError,
    UnknownComponentError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "PluginLoadError",
    "PluriError",
    "UnknownComponentError",
    "__version__",
]
