"""The documentation site (docs/) says only what the code does.

- Every ``facesearch ...`` command line in docs/, in a code block or inline, names a command that
  exists, with options that command takes.
- Every ``/api/...`` path in docs/ (with its method, where one is given) is in the app's OpenAPI.
- Every curl example (each marked ``<!-- docs-run: ROLE -->``) runs as written against a real
  ``facesearch serve`` on 127.0.0.1, with a real token of that role.

The strict build itself (broken links and anchors) is scripts/docs.sh, run by scripts/test.sh.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

import facesearch
from facesearch.cli import app

from helpers import token_for

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
RUN_MARK = re.compile(r"<!-- docs-run: (\w+) -->\n```bash\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`(facesearch [^`]+)`")
# "GET /api/x", "`GET`/`POST /api/x`", a bare "/api/x" or a curl URL's path
API_PATH = re.compile(r"((?:(?:GET|POST|PUT|DELETE)`?/?`?\s?)*)(/api/[A-Za-z0-9_{}/.:-]*[A-Za-z0-9_}])")
# The photos the getting-started example names: the quickstart's astronaut and her mirrored probe.
EXAMPLE_PHOTOS = {
    "ada1.jpg": "astronaut",
    "ada2.jpg": "probe",
    "probe.jpg": "probe",
    "a.jpg": "astronaut",
    "b.jpg": "probe",
}
DOCS_URL = "http://127.0.0.1:8000"


def _command_lines() -> Iterator[tuple[str, str]]:
    """(page, line) for every line of a bash block and every inline span that runs ``facesearch``."""
    for page in PAGES:
        text = page.read_text()
        for language, body in FENCE.findall(text):
            if language in ("bash", "sh", ""):
                for line in body.replace("\\\n", " ").splitlines():
                    if re.search(r"(^|\s)facesearch\s", line):
                        yield page.name, line
        prose = FENCE.sub("", text)
        for span in INLINE.findall(prose):
            yield page.name, span


def _options(command: Any) -> set[str]:
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}


def _check(words: list[str], root: Any) -> list[str]:
    """Problems with one command line's words (starting after ``facesearch``)."""
    problems = []
    global_options = _options(root) | {"--help"}
    i = 0
    while i < len(words) and words[i].startswith("--"):  # global options, each with a value
        if words[i].split("=")[0] not in global_options:
            problems.append(f"no global option {words[i]}")
        i += 1 if "=" in words[i] or words[i] == "--help" else 2
    if i >= len(words):
        return problems
    name = words[i]
    if name.isupper() or name.startswith(("$", ".")):  # a placeholder: COMMAND, "$@", ...
        return problems
    if name not in root.commands:
        return [*problems, f"no command {name!r}"]
    command = root.commands[name]
    rest = words[i + 1 :]
    if hasattr(command, "commands"):  # a group: its subcommand comes next
        if not rest or rest[0].startswith("-"):
            return problems
        for sub in rest[0].split("|"):  # "index status|rebuild": each alternative
            if sub not in command.commands:
                problems.append(f"no command '{name} {sub}'")
        if rest[0].split("|")[0] not in command.commands:
            return problems
        command = command.commands[rest[0].split("|")[0]]
        rest = rest[1:]
    known = _options(command) | {"--help"}
    for word in rest:
        option = word.strip("[]").split("=")[0]
        if option.startswith("--") and option not in known:
            problems.append(f"'{name}' takes no option {option}")
    return problems


def _segments(line: str) -> Iterator[list[str]]:
    """The words of each command on the line: after ``facesearch``, and after each `` | `` that offers
    another command (``confirm ID | reject ID --reason TEXT``)."""
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        words = line.split()
    if "facesearch" not in words:
        return
    words = words[words.index("facesearch") + 1 :]
    segment: list[str] = []
    for word in words:
        if word == "|":
            yield segment
            segment = []
        elif word in ("&&", ";", ">", "2>&1"):
            break
        else:
            segment.append(word)
    yield segment


def test_every_command_line_in_the_docs_exists() -> None:
    root = typer.main.get_command(app)  # what `facesearch --help` lists (Typer's own click)
    assert "init" in root.commands  # type: ignore[attr-defined]
    problems, checked = [], 0
    for page, line in _command_lines():
        for words in _segments(line):
            checked += 1
            problems += [f"{page}: {line.strip()}: {p}" for p in _check(words, root)]
    assert checked > 80  # the CLI page lists every command
    assert problems == [], "\n".join(problems)


def _openapi_paths(home: Path) -> dict[str, set[str]]:
    pytest.importorskip("fastapi", reason="the service's extra (facesearch[server]) is not installed")
    from facesearch.service import create_app

    spec = create_app(home).openapi()  # the description needs no gallery: none is opened
    return {path: {m.upper() for m in ops} for path, ops in spec["paths"].items()}


def _matches(path: str, template: str) -> bool:
    if "{" in path:  # a documented template: its parameters may be named otherwise
        path = re.sub(r"\{[^}]+\}", "{}", path)
        return path == re.sub(r"\{[^}]+\}", "{}", template)
    return re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path) is not None


def test_every_api_path_in_the_docs_is_served(tmp_path: Path) -> None:
    served = _openapi_paths(tmp_path)
    problems, checked = [], 0
    for page in PAGES:
        text = page.read_text()
        for match in API_PATH.finditer(text):
            methods, path = set(re.findall(r"GET|POST|PUT|DELETE", match.group(1))), match.group(2)
            if path == "/api/docs":
                continue
            checked += 1
            templates = [t for t in served if _matches(path, t)]
            if not templates:
                problems.append(f"{page.name}: {path} is not served")
            elif methods - set().union(*(served[t] for t in templates)):
                problems.append(f"{page.name}: {' '.join(sorted(methods))} {path} is not served")
    assert checked > 40  # the REST API page lists every route
    assert problems == [], "\n".join(problems)


def test_every_curl_example_is_marked_to_run() -> None:
    for page in PAGES:
        text = page.read_text()
        marked = {body for _, body in RUN_MARK.findall(text)}
        for language, body in FENCE.findall(text):
            if "curl " in body:
                assert language == "bash" and body in marked, f"{page.name}: an unmarked curl example:\n{body}"


# --- the curl examples, against a real `facesearch serve` ------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path, photos: dict[str, Path]) -> Iterator[tuple[str, dict[str, str], Path]]:
    """`facesearch serve` on a fresh gallery: its URL, a token or code for each marked role, and a
    folder holding the examples' photos (ada1.jpg: the astronaut; probe.jpg: the quickstart's probe)."""
    pytest.importorskip("uvicorn", reason="the service's extra (facesearch[server]) is not installed")
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    home = tmp_path / "home"
    with facesearch.init(home, actor="admin") as engine:
        for name, role in [("hr-clerk", "enroller"), ("analyst-7", "operator"), ("auditor-1", "auditor")]:
            engine.accounts.add_user(name, role)
        engine.accounts.add_user("newcomer", "operator")
        engine.accounts.add_user("rotator", "operator")
        secrets = {
            "admin": token_for(engine, "admin"),
            "enroller": token_for(engine, "hr-clerk"),
            "operator": token_for(engine, "analyst-7"),
            "auditor": token_for(engine, "auditor-1"),
            "rotate": token_for(engine, "rotator"),
            "activate": engine.accounts.invite("newcomer").code,
        }
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(photos["astronaut"], work / "ada1.jpg")
    shutil.copy(photos["probe"], work / "probe.jpg")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "facesearch", "--home", str(home), "serve", "--port", str(port)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/openapi.json", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log = server.stderr.read() if server.stderr else ""
                    raise RuntimeError(f"facesearch serve did not start: {log}") from None
                time.sleep(0.3)
        yield url, secrets, work
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.model
@pytest.mark.slow
def test_the_curl_examples_run_against_a_live_server(served: tuple[str, dict[str, str], Path]) -> None:
    url, secrets, work = served
    examples = RUN_MARK.findall((DOCS / "api.md").read_text())
    assert {role for role, _ in examples} == set(secrets)
    outputs = {}
    for i, (role, body) in enumerate(examples):
        script = body.replace(DOCS_URL, url)
        env = dict(os.environ)
        if role == "activate":
            script = script.replace("fsa_...", secrets[role])
        else:
            env["TOKEN"] = secrets[role]
        # Every curl fails the example on an HTTP error, showing the problem body.
        prelude = 'curl() { command curl --fail-with-body -sS "$@"; echo; }\n'
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", prelude + script],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"example {i} ({role}) failed:\n{script}\n{done.stdout}\n{done.stderr}"
        outputs[(i, role)] = done.stdout
    text = "\n".join(outputs.values())
    assert '"token"' in text  # activation and rotation answered with a token
    search = next(out for (i, role), out in outputs.items() if role == "operator" and "/api/identify" in examples[i][1])
    assert "Ada Lovelace" in search and "1:N" in search  # the enrolled photo is a candidate, under a 1:N threshold


def test_every_python_example_in_the_docs_compiles() -> None:
    for page in PAGES:
        for language, body in FENCE.findall(page.read_text()):
            if language == "python":
                compile(body, f"{page.name} example", "exec")


@pytest.mark.model
@pytest.mark.slow
def test_the_python_example_of_getting_started_runs(tmp_path: Path, photos: dict[str, Path]) -> None:
    """Getting started's first Python example, as written, in a folder holding the photos it names:
    a gallery made, staffed and given a purpose, Ada enrolled, searched, verified and nominated."""
    page = (DOCS / "getting-started.md").read_text()
    blocks = [body for language, body in FENCE.findall(page) if language == "python"]
    for name, photo in EXAMPLE_PHOTOS.items():
        shutil.copy(photos[photo], tmp_path / name)
    done = subprocess.run([sys.executable, "-c", blocks[0]], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Ada Lovelace" in done.stdout  # the first candidate printed
