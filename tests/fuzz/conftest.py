"""Hypothesis profiles for the parser fuzzers and a per-parser input counter.

``HYPOTHESIS_PROFILE`` selects the profile: ``ci`` (the default, ~200 inputs per parser) or
``long`` (``benchmarks/fuzz_long.py``: >= 1,000,000 inputs across the parsers). When
``MULTUS_FUZZ_COUNTS`` names a file, the number of inputs each parser saw is written there.
"""

from __future__ import annotations

import collections
import json
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

_SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("ci", max_examples=200, deadline=None, suppress_health_check=_SLOW)
settings.register_profile("long", max_examples=int(os.environ.get("MULTUS_FUZZ_EXAMPLES", "70000")),
                          deadline=None, suppress_health_check=_SLOW, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

COUNTS: collections.Counter[str] = collections.Counter()


@pytest.fixture(scope="session", autouse=True)
def _fuzz_counts() -> Iterator[None]:
    yield
    path = os.environ.get("MULTUS_FUZZ_COUNTS")
    if path:
        with open(path, "w") as f:
            json.dump(dict(COUNTS), f, indent=1, sort_keys=True)
