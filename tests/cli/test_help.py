"""--help as a new user reads it (issue 18): nothing in brackets swallowed, every command under a
task heading in the order of the work, defaults shown, and the options the core refuses to go
without marked [required]."""

from __future__ import annotations

import re

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from facesearch.cli import app
from facesearch.cli.common import HELP_PANELS

runner = CliRunner()


def _help(*args: str) -> str:
    result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "100"}, terminal_width=100)
    assert result.exit_code == 0, result.output
    return re.sub(r"\s+", " ", result.output)  # words as read, whatever the wrapping


def _commands() -> list[str]:
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    return list(group.commands)


def test_bracketed_text_is_shown_not_swallowed() -> None:
    text = _help()
    assert "Gallery home folder [default: the user's data folder" in text
    assert "[env var: FACESEARCH_HOME]" in text and "[env var: FACESEARCH_CREDENTIALS]" in text
    assert "[default: OS user]" in text and "[default: setting recognizer, sface]" in text
    assert "Gallery home folder ." not in text


def test_every_command_is_listed_once_under_a_task_in_workflow_order() -> None:
    listed = [name for names in HELP_PANELS.values() for name in names]
    assert sorted(listed) == sorted(_commands()), "a command is missing from HELP_PANELS, or listed twice"
    text = _help()
    headings = [text.index(f"{title}:") for title in HELP_PANELS]
    assert headings == sorted(headings)
    assert "Other commands" not in text
    # the first search's way: set up, enroll, search, confirm
    order = [text.index(f" {name} ") for name in ("init", "users", "activate", "enroll", "identify", "nominate")]
    assert order == sorted(order)


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (("enroll",), "--source"),
        (("enroll",), "--basis"),
        (("enroll",), "--subject"),
        (("enroll-dir",), "--source"),
        (("identify",), "--purpose"),
        (("identify",), "--case"),
        (("verify",), "--purpose"),
        (("cluster",), "--case"),
        (("erase",), "--reason"),
        (("reject",), "--reason"),
        (("hold",), "--reference"),
        (("users", "add"), "--role"),
        (("retention", "set"), "--days"),
    ],
)
def test_options_the_core_needs_are_marked_required(command: tuple[str, ...], option: str) -> None:
    text = _help(*command)
    after = text[text.index(f"{option} ") :]
    assert "[required]" in after[: after.index(" --", 2) if " --" in after[2:] else None]


def test_defaults_are_shown() -> None:
    assert "[default: setting top_k]" in _help("identify")
    assert "[default: 8000]" in _help("serve")
    assert "dbscan [default: chinese-" in _help("cluster") and "[default: 0]" not in _help("cluster")
    assert "[default: kept for the retention period]" in _help("enroll")


def test_every_command_has_help() -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    for name, command in group.commands.items():
        assert (command.help or "").strip(), f"{name} has no help"
