"""Planner test helpers (``planner_fakes``, ``planner_smollm``) live beside the tests; make them importable."""

import sys
from pathlib import Path

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
