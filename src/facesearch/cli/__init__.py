"""The command-line front end: parses, calls the core, renders. No rules live here.

Exit status: 0 success; 1 audit chain broken; 2 usage error; 3 bad input (photo, value or
dataset); 4 refused by policy (missing source, basis, purpose, case, reason; a role without the permission;
a token that is not valid); 5 gallery problem
(not initialised, unknown subject); 6 bad configuration; 7 the gallery's storage is full (free space
and run the command again: the gallery stays consistent and enroll-dir resumes).
"""

from __future__ import annotations

# The order of these imports is the order of the commands in --help.
# isort: off
from facesearch.cli import (
    accounts,
    casework,
    clustering,
    gallery,
    evaluation,
    basics,
    governance,
    transparency,
    serve,
)

# isort: on
from facesearch.cli.common import app

__all__ = [
    "accounts",
    "app",
    "basics",
    "casework",
    "clustering",
    "evaluation",
    "gallery",
    "governance",
    "main",
    "serve",
    "transparency",
]


def main() -> None:
    app()
