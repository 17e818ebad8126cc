"""Start-up (issue 18): importing facesearch, and running ``facesearch --help``, load no heavy
library; each is loaded by the first call that needs it. How long start-up takes is measured by
bench/startup.py, not here: these tests check the cause (what is imported), which a busy machine
cannot make flaky."""

from __future__ import annotations

import subprocess
import sys

import pytest

import facesearch

# Libraries that take from tens of milliseconds to seconds to import, none needed to start.
HEAVY = (
    "numpy",
    "sqlalchemy",
    "alembic",
    "onnxruntime",
    "cv2",
    "dlib",
    "PIL",
    "faiss",
    "scipy",
    "skimage",
    "sklearn",
    "fastapi",
    "starlette",
    "uvicorn",
    "pydantic",
    "jinja2",
    "cryptography",
    "argon2",
    "psycopg",
    "markdown_it",
    "av",
)


def _loaded_after(code: str) -> list[str]:
    """The heavy libraries (top-level names) in sys.modules after a fresh interpreter runs CODE."""
    probe = f"{code}\nimport sys\nprint(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [name for name in run.stdout.strip().split(",") if name]


def _help(*command: str) -> str:
    """Python that prints ``facesearch [COMMAND] --help`` to nowhere, as the console script would."""
    argv = ["facesearch", *command, "--help"]
    return (
        f"import sys, contextlib, io\nsys.argv = {argv!r}\nfrom facesearch.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n    main()\n"
    )


def test_importing_facesearch_loads_no_heavy_library() -> None:
    assert _loaded_after("import facesearch") == []


def test_the_cli_help_loads_no_heavy_library() -> None:
    assert _loaded_after(_help()) == []


def test_a_command_s_help_loads_no_heavy_library_of_ours() -> None:
    """Typer itself converts a command's parameters with pydantic (typer._coercion): not ours to defer."""
    assert [name for name in _loaded_after(_help("identify")) if name != "pydantic"] == []


def test_the_cli_help_imports_no_engine_nor_result_types() -> None:
    code = _help() + (
        "print(sorted(m for m in sys.modules if m.startswith('facesearch.') and not m.startswith('facesearch.cli')))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    core = eval(run.stdout)  # noqa: S307  (a list of module names printed by the child)
    assert set(core) <= {
        "facesearch.config",
        "facesearch.errors",
        "facesearch.extras",  # serve's check for the [server] extra: importlib.util only
        "facesearch.governance",
        "facesearch.governance.policy",
        "facesearch.storage",
        "facesearch.storage.home",
        "facesearch.terms",
    }


@pytest.mark.parametrize("name", facesearch.__all__)
def test_every_public_name_resolves_on_first_use(name: str) -> None:
    value = getattr(facesearch, name)
    assert value is not None and name in dir(facesearch)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'enrol'"):
        facesearch.enrol  # noqa: B018  (the attribute access is the test)


def test_the_array_aliases_still_resolve() -> None:
    from facesearch.types import RGBArray, Vector

    assert "uint8" in str(RGBArray) and "float32" in str(Vector)
