"""Packaging: ``pip install facesearch`` is lean, and nothing it imports is forgotten.

- Every third-party module imported anywhere in ``src/`` (read with ``ast``, lazy imports included)
  comes from a distribution declared in pyproject.toml: the core's dependencies, or the extra of the
  part that imports it (the service: ``server``; the evaluation report's figures: ``eval``).
- ``facesearch.extras`` (which names the extra in its errors) and pyproject.toml's extras agree.
- The library and the CLI work without any extra, and each part that needs one says which.
- constraints.txt pins every distribution of the dependency tree.
"""

from __future__ import annotations

import ast
import functools
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import facesearch
from facesearch.extras import EXTRAS

ROOT = Path(__file__).resolve().parents[1]
SRC = Path(facesearch.__file__).resolve().parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

# The parts of src/ that may import an extra's distributions (paths relative to src/facesearch/).
PARTS = {
    "service/": "server",
    "cli/serve.py": "server",
    "reports/evaluation.py": "eval",
    "index/milvus.py": "milvus",
    "pipeline/ray_pool.py": "ray",  # imports Ray only when a run goes to a cluster
}


def _names(lines: list[str]) -> set[str]:
    """The distributions LINES name, an extra of facesearch itself (``facesearch[samples]``) expanded."""
    found = set()
    for req in map(Requirement, lines):
        if canonicalize_name(req.name) == "facesearch":
            for extra in req.extras:
                found |= _names(PROJECT["optional-dependencies"][extra])
        else:
            found.add(canonicalize_name(req.name))
    return found


CORE = _names(PROJECT["dependencies"])
OPTIONAL = {extra: _names(lines) for extra, lines in PROJECT["optional-dependencies"].items()}
BENCH = ROOT / "bench"
# bench/'s peers, installed by hand as its commands say (pip install --no-deps face_recognition)
PEERS = {"face_recognition"}


def _core_tree() -> set[str]:
    """Every distribution a plain ``pip install facesearch`` installs, read from installed metadata."""
    found: set[str] = set()
    todo = [Requirement(line) for line in PROJECT["dependencies"]]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in found or (req.marker is not None and not req.marker.evaluate({"extra": ""})):
            continue
        found.add(name)
        todo.extend(Requirement(line) for line in metadata.requires(req.name) or [])
    return found


def _blocked() -> list[str]:
    """The modules of every extra that a plain install would lack (typer brings pydantic, for one)."""
    core = _core_tree()
    return sorted(
        {name for names in EXTRAS.values() for name in names if not _distributions(name) & core} | {"multipart"}
    )


def _third_party_imports(path: Path) -> set[str]:
    """The top-level names of the modules ``path`` imports that are neither stdlib nor facesearch."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name != "facesearch"}


@functools.cache
def _owners() -> dict[str, frozenset[str]]:
    """Top-level module name -> the installed distributions whose files hold it. Read from each
    distribution's RECORD, since top_level.txt can be wrong (dlib-bin's names only _dlib_pybind11)."""
    owners: dict[str, set[str]] = {}
    for dist in metadata.distributions():
        owner = canonicalize_name(dist.metadata["Name"])
        tops = {file.parts[0] if len(file.parts) > 1 else file.parts[0].split(".")[0] for file in dist.files or []}
        for name in tops:
            if not name.endswith((".dist-info", ".data")) and name not in ("..", "__pycache__"):
                owners.setdefault(name, set()).add(owner)
    return {name: frozenset(dists) for name, dists in owners.items()}


def _distributions(module: str) -> set[str]:
    """The installed distributions that provide the top-level module ``module``."""
    return set(_owners().get(module, ()))


def _allowed(relative: str) -> tuple[str, set[str]]:
    extra = next((e for prefix, e in PARTS.items() if relative.startswith(prefix)), None)
    return (extra or "core"), CORE | (OPTIONAL[extra] if extra else set())


def test_every_third_party_import_of_src_is_declared() -> None:
    undeclared = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        part, allowed = _allowed(relative)
        for module in sorted(_third_party_imports(path)):
            providers = _distributions(module)
            assert providers, f"{relative} imports {module}, which no installed distribution provides"
            if not providers & allowed:
                undeclared.append(f"{relative}: {module} (from {', '.join(sorted(providers))}; not in {part})")
    assert undeclared == [], "declare these in pyproject.toml:\n" + "\n".join(undeclared)


def test_every_third_party_import_of_bench_is_declared_in_an_extra() -> None:
    """bench/ runs with facesearch[eval] (and the extras of what it measures: server, postgres, ray)."""
    allowed = CORE | OPTIONAL["eval"] | OPTIONAL["server"] | OPTIONAL["postgres"] | OPTIONAL["ray"]
    local = {path.stem for path in BENCH.glob("*.py")} | {"helpers"}  # its own modules, and tests/helpers.py
    undeclared = []
    for path in sorted(BENCH.glob("*.py")):
        for module in sorted(_third_party_imports(path) - local - PEERS):
            if not _distributions(module) & allowed:
                undeclared.append(f"bench/{path.name}: {module}")
    assert undeclared == [], "add these to the eval extra:\n" + "\n".join(undeclared)


def test_the_library_installs_without_the_front_ends_extras() -> None:
    heavy = {
        "fastapi",
        "uvicorn",
        "starlette",
        "pydantic",
        "python-multipart",
        "psycopg",
        "matplotlib",
        "pymilvus",
        "ray",
    }
    assert CORE & heavy == set()


@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_extras_module_names_match_pyproject(extra: str) -> None:
    """facesearch.extras.EXTRAS[extra], which require() checks, names only modules of that extra's
    distributions, and one of each that src/ imports."""
    provided = {module: _distributions(module) for module in EXTRAS[extra]}
    assert all(provided.values()), f"no installed distribution provides {provided}"
    from_modules = set().union(*provided.values())
    assert from_modules <= OPTIONAL[extra]
    imported = {d for path in SRC.rglob("*.py") for m in _third_party_imports(path) for d in _distributions(m)}
    assert (OPTIONAL[extra] & imported) - CORE <= from_modules


def test_the_core_and_the_cli_work_without_any_extra(tmp_path: Path, master_key_file: Path) -> None:
    """With every extra's modules made unimportable: a gallery is made and opened, the CLI's help is
    shown, and serve, the service package, a PostgreSQL gallery and the evaluation report's figures
    each refuse with the extra to install."""
    script = f"""
import sys
for name in {_blocked()!r}:
    sys.modules[name] = None   # import raises ModuleNotFoundError; importlib.util.find_spec answers None
from pathlib import Path
import facesearch
from facesearch.errors import MissingExtraError

facesearch.init({str(tmp_path / "home")!r}, actor="admin-1").close()
facesearch.open({str(tmp_path / "home")!r}, actor="admin-1").close()
refusals = []
try:
    import facesearch.service
except MissingExtraError as exc:
    refusals.append(exc.message)
from facesearch.reports.evaluation import write_report
try:
    write_report(None, Path({str(tmp_path / "report")!r}))
except MissingExtraError as exc:
    refusals.append(exc.message)
from facesearch.gallery.store import GalleryStore
try:
    GalleryStore.open_url("postgresql://nobody@127.0.0.1:1/none")
except MissingExtraError as exc:
    refusals.append(exc.message)
print("\\n".join(refusals))
sys.argv = ["facesearch", "--help"]
from facesearch.cli import main
try:
    main()
except SystemExit as exit:
    assert exit.code in (0, None), exit.code
sys.argv = ["facesearch", "--home", {str(tmp_path / "home")!r}, "serve"]
main()
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 6, out  # a configuration problem: the serve command's refusal
    assert "pip install 'facesearch[server]'" in out
    assert "facesearch serve needs the 'server' extra" in out
    assert "service (the REST API and web UI) needs the 'server' extra" in out
    assert "evaluation report's figures needs the 'eval' extra" in out
    assert "PostgreSQL needs the 'postgres' extra" in out and "pip install 'facesearch[postgres]'" in out
    assert "identify" in out and "serve" in out  # the help listed the commands
    assert not (tmp_path / "report").exists()  # refused before anything was written


def test_constraints_pin_every_declared_distribution() -> None:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)", line).groups()  # type: ignore[union-attr]
            pins[canonicalize_name(name)] = version
    declared = CORE.union(*OPTIONAL.values()) - {"facesearch"}
    assert declared - pins.keys() == set(), "run scripts/constraints.py"
    assert "facesearch" not in pins
