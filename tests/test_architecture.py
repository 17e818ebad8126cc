"""The layer rules: the core imports no front end, no module imports a layer above its own, and
no package's modules import each other in a circle (import-linter's contracts in pyproject.toml)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import facesearch

ROOT = Path(__file__).resolve().parents[1]
SRC = Path(facesearch.__file__).resolve().parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


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


def _lint_imports(src_parent: Path) -> subprocess.CompletedProcess[str]:
    """import-linter's contracts of pyproject.toml, checked on the package found in SRC_PARENT."""
    env = {**os.environ, "PYTHONPATH": str(src_parent)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        capture_output=True,
        text=True,
        env=env,
        cwd=src_parent,
    )


@pytest.fixture(scope="module")
def linter() -> Path:
    if not LINT_IMPORTS.exists():
        pytest.fail(f"import-linter is not installed beside {sys.executable} (pip install -e '.[dev]')")
    return LINT_IMPORTS


def test_the_layer_contracts_hold(linter: Path) -> None:
    run = _lint_imports(SRC.parent)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


@pytest.mark.parametrize(
    ("module", "wrong_import", "contract"),
    [
        # a core service reaching up into the CLI
        ("governance/purposes.py", "from facesearch.cli import common", "the core imports no front end"),
        # the pipeline reaching up into the rules that wrap it
        ("pipeline/decode.py", "from facesearch.governance import policy", "front ends -> facade"),
        # a service importing the facade that composes it: the circle this layout broke
        ("governance/casework.py", "from facesearch.engine import Engine", "front ends -> facade"),
        # two modules of one package importing each other
        ("governance/audit.py", "from facesearch.governance import casework", "no import cycles"),
    ],
)
def test_a_wrong_import_breaks_a_contract(
    linter: Path, tmp_path: Path, module: str, wrong_import: str, contract: str
) -> None:
    copy = tmp_path / "facesearch"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(target.read_text() + f"\n{wrong_import}  # noqa\n")
    run = _lint_imports(tmp_path)
    assert run.returncode != 0, run.stdout
    broken = run.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, run.stdout


def test_every_error_class_lives_in_errors_py() -> None:
    """One error tree: front ends translate errors.py's classes, so none may hide elsewhere in the core
    (a front end's own control flow, such as the web UI's redirect to sign in, is its business)."""
    import ast

    strays = []
    for path in SRC.rglob("*.py"):
        if path == SRC / "errors.py" or path.relative_to(SRC).parts[0] in {"cli", "service"}:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(b) for b in node.bases]
                if node.name.endswith("Error") or any(b.endswith(("Error", "Exception")) for b in bases):
                    strays.append(f"{path.relative_to(SRC)}: {node.name}({', '.join(bases)})")
    assert strays == []
