"""The core imports no front end: no CLI framework, no web framework."""

from __future__ import annotations

import subprocess
import sys


def test_core_imports_no_front_end() -> None:
    code = (
        "import sys, facesearch, facesearch.engine, facesearch.gallery, facesearch.index, facesearch.evaluation,"
        " facesearch.scoring.calibration, facesearch.reports.model_card;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'typer', 'click', 'rich', 'fastapi', 'starlette', 'flask', 'facesearch.cli'} or m == 'facesearch.cli');"
        "print(','.join(bad))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert found == ""


def test_importing_loads_no_model() -> None:
    code = "import sys, facesearch; facesearch.Settings(); print('dlib' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "False"
