"""The command-line front end: parses, calls the core, renders. No rules live here.

Exit status: 0 success; 1 audit chain broken; 2 usage error; 3 bad input (photo, value or
dataset); 4 refused by policy (missing source, basis, purpose, case, reason; a role without the permission;
a token that is not valid); 5 gallery problem
(not initialised, unknown subject); 6 bad configuration.
"""

from __future__ import annotations

from facesearch.cli import (
    accounts,
    casework,
    clustering,
    deletion,
    evaluation,
    gallery,
    governance,
    reporting,
    serve,
)
from facesearch.cli.common import app

__all__ = [
    "accounts",
    "app",
    "casework",
    "clustering",
    "deletion",
    "evaluation",
    "gallery",
    "governance",
    "main",
    "reporting",
    "serve",
]


def main() -> None:
    app()
