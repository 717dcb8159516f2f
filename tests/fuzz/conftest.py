"""Fuzzing with hypothesis: bad input of every kind is one clear error, never a traceback, a
partial write or an accepted forgery.

Profiles (``HYPOTHESIS_PROFILE``): ``ci`` (default: 60 inputs a target, derandomised so CI is
reproducible; well within the test budget) and ``deep`` (2,000 inputs a target, random, for
the figures in docs/reliability.md). ``PLURIEVAL_FUZZ_REPORT=FILE`` writes the counts of
inputs tried, faults injected and records lost per target when the session ends.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

HERE = Path(__file__).resolve().parent
# The toy benchmark and its board helpers (appended, not prepended: another folder's modules must
# not shadow what a test imports from its own folder).
if str(HERE.parent / "leaderboard") not in sys.path:
    sys.path.append(str(HERE.parent / "leaderboard"))

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                     HealthCheck.function_scoped_fixture])
settings.register_profile("ci", max_examples=60, derandomize=True, **_common)
settings.register_profile("deep", max_examples=2000, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("PLURIEVAL_FUZZ_REPORT")
    if path:
        from fuzzstats import STATS

        Path(path).write_text(json.dumps(STATS, indent=2, sort_keys=True) + "\n")
