"""The registry loads the built-in backends on first use, not as a side effect of ``import mixers``."""

from __future__ import annotations

import subprocess
import sys

from tests.mixers.conftest import REPO

PROBE = """
import sys
import mixers
before = sorted(m for m in ("mixers.aioli", "mixers.auto", "mixers.mfbo", "mixers.mixing_law", "mixers.ot",
                            "mixers.regmix") if m in sys.modules)
names = sorted(mixers.available())
print(before, names)
"""


def test_backends_load_through_the_registry() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] ['aioli', 'auto', 'mfbo', 'mixing_law', 'ot', 'regmix']"
