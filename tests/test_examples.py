"""Every example in README.md, docs/*.md and the package docstring runs (issue 18: the package
docstring's example failed on a fresh gallery).

- Python blocks (```python in the Markdown, and the indented example of ``facesearch.__doc__``)
  run as written, a page's blocks one after another in one namespace (a later block continues the
  example of the one before, as a reader runs them), in a fresh folder holding the photos and
  folders they name, made here from the
  tests' sample photos (tests/conftest.py): ada*.jpg, a.jpg and the probe show Eileen Collins (the
  README's "Ada"), refuser.jpg and b.jpg Grace Hopper, seized-drive/ both, labelled-photos/ is a
  two-person labelled dataset. One substitution, named in SUBSTITUTIONS: calibrating to a
  false-match rate of 1e-4 needs 30,000 impostor pairs, which two sample faces cannot give, so
  Getting started's calibration runs at a rate its 36 pairs support (the same call otherwise).
- Shell blocks (```bash) are not run (they start servers, need datasets and people): every
  ``facesearch ...`` command in them (alternatives after `` | `` included, and commands run through
  a shell function that calls facesearch) must name a command that exists, and every ``--option``
  it shows must be one of that command's or a global one. The CLI's behaviour is tested in tests/cli.
"""

from __future__ import annotations

import re
import shlex
import textwrap
from pathlib import Path

import pytest
import typer
from PIL import Image, ImageEnhance
from typer.core import TyperGroup

import facesearch
from facesearch.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# (document, text in its example, what runs instead), each explained in the module docstring
SUBSTITUTIONS = [
    (
        "getting-started.md",
        'engine.calibrate("labelled-photos/", target_fmr=1e-4)',
        'engine.calibrate("labelled-photos/", target_fmr=0.1)',
    )
]


def _blocks(path: Path, language: str) -> list[str]:
    """The fenced blocks of LANGUAGE (a regular expression: "bash|sh|shell|console") in a Markdown file."""
    text = path.read_text(encoding="utf-8")
    return re.findall(rf"^ *```(?:{language})[^\n]*\n(.*?)^ *```", text, flags=re.M | re.S)


def _docstring_example() -> str:
    """The indented example at the head of the package docstring."""
    doc = facesearch.__doc__ or ""
    lines = doc.split("\n\n")[1]
    return textwrap.dedent(lines)


def _python_examples() -> list[tuple[str, list[str]]]:
    """(document, its Python blocks in order): the blocks of one page run in one namespace."""
    found = [("facesearch.__doc__", [_docstring_example()])]
    for path in DOCUMENTS:
        blocks = []
        for code in _blocks(path, "python|py"):
            for document, text, instead in SUBSTITUTIONS:
                if document == path.name:
                    code = code.replace(text, instead)
            blocks.append(textwrap.dedent(code))
        if blocks:
            found.append((f"{path.relative_to(ROOT)}#python", blocks))
    return found


def _variant(photo: Path, out: Path, *, size: int, flip: bool = False, light: float = 1.0) -> None:
    image = Image.open(photo).convert("RGB")
    if flip:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    image = ImageEnhance.Brightness(image.resize((size, size * image.height // image.width))).enhance(light)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out, quality=92)


@pytest.fixture
def workspace(tmp_path: Path, photos: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding every file the examples name, as the current directory."""
    eileen, grace = photos["astronaut"], photos["hopper"]
    for name, photo in {"ada.jpg": eileen, "ada1.jpg": eileen, "a.jpg": eileen, "b.jpg": grace}.items():
        (tmp_path / name).write_bytes(photo.read_bytes())
    (tmp_path / "probe.jpg").write_bytes(photos["probe"].read_bytes())
    _variant(eileen, tmp_path / "ada2.jpg", size=460, light=1.1)
    _variant(grace, tmp_path / "refuser.jpg", size=480, flip=True)
    for person, photo in (("eileen", eileen), ("grace", grace)):
        for n in range(2):
            _variant(photo, tmp_path / "seized-drive" / f"{person}{n}.jpg", size=420 + 40 * n, flip=n == 1)
        for n in range(6):
            out = tmp_path / "labelled-photos" / person / f"{n}.jpg"
            _variant(photo, out, size=360 + 30 * n, flip=n % 2 == 1, light=0.9 + 0.05 * n)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.model
@pytest.mark.parametrize(("name", "blocks"), _python_examples(), ids=[n for n, _ in _python_examples()])
def test_python_example_runs(name: str, blocks: list[str], workspace: Path) -> None:
    namespace: dict[str, object] = {"__name__": "__example__"}
    try:
        for number, code in enumerate(blocks, 1):
            exec(compile(code, f"{name}{number}", "exec"), namespace)  # noqa: S102  (the documentation's own code)
    finally:
        for value in namespace.values():
            if isinstance(value, facesearch.Engine):
                value.close()


# --- shell examples: the commands and options they show exist ---------------------------------------


def _cli_tree() -> tuple[TyperGroup, set[str]]:
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    return group, {opt for param in group.params for opt in getattr(param, "opts", [])}


def _command_lines(block: str) -> list[list[str]]:
    """Each facesearch invocation of a shell block, as its words (after 'facesearch')."""
    block = re.sub(r"\\\n", " ", block)
    wrappers = set(re.findall(r"(\w+)\(\) \{[^}]*\bfacesearch \"\$@\"", block))
    found = []
    for line in block.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip().removeprefix("$ ")
        words = shlex.split(line.replace("[", " ").replace("]", " "))
        if not words or words[0] not in {"facesearch", *wrappers} or "()" in line:
            continue
        command: list[str] = []
        for word in words[1:]:
            if word == "|":
                found.append(command)
                command = []
            else:
                command.append(word)
        found.append(command)
    return found


def _shell_commands() -> list[tuple[str, list[str]]]:
    return [
        (f"{path.relative_to(ROOT)}: facesearch {' '.join(words)}", words)
        for path in DOCUMENTS
        for block in _blocks(path, "bash|sh|shell|console")
        for words in _command_lines(block)
    ]


GLOBAL_WITH_VALUE = {"--home", "--actor", "--credentials", "--recognizer", "--detector", "--upsample", "--db"}


def _problem(words: list[str]) -> str | None:
    """What is wrong with a shown command line (its words after 'facesearch'), if anything."""
    group, global_options = _cli_tree()
    at = 0
    while at < len(words) and words[at] in GLOBAL_WITH_VALUE:
        at += 2
    command: typer.core.TyperCommand | TyperGroup = group
    while isinstance(command, TyperGroup) and at < len(words) and not words[at].startswith("-"):
        names = words[at].split("|")  # "index status|rebuild": alternatives at one level
        if not all(n in command.commands for n in names):
            return f"no command {words[at]!r}"
        command = command.commands[names[0]]  # type: ignore[assignment]
        at += 1
    if isinstance(command, TyperGroup):
        return f"{command.name} needs a subcommand"
    options = {opt for param in command.params for opt in [*getattr(param, "opts", []), *param.secondary_opts]}
    for word in words[at:]:
        option = word.split("=")[0].rstrip(",)")
        if option.startswith("--") and option not in options | global_options:
            return f"{command.name} has no {option}"
    return None


@pytest.mark.parametrize(("line", "words"), _shell_commands(), ids=[line for line, _ in _shell_commands()])
def test_shell_example_names_real_commands_and_options(line: str, words: list[str]) -> None:
    assert _problem(words) is None, line


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("facesearch enrol a.jpg", "no command 'enrol'"),
        ("facesearch identify p.jpg --purpose x --token T", "identify has no --token"),
        ("facesearch users", "users needs a subcommand"),
        ("facesearch index status|rebuilt", "no command 'status|rebuilt'"),
        ("facesearch queue | confirm ID [--notes TEXT]", "confirm has no --notes"),
    ],
)
def test_the_shell_check_catches_a_wrong_command(line: str, problem: str) -> None:
    problems = [_problem(words) for words in _command_lines(line)]
    assert problem in problems
