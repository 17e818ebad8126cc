"""The command-line front end: parses, calls the core, renders. No rules live here.

Every command that acts on a gallery acts as the user of your own token (see
:mod:`facesearch.cli.credentials`); ``init`` bootstraps a new gallery and ``serve`` acts for no one.

Exit status: 0 success; 1 audit chain broken; 2 usage error (``--actor`` anywhere but ``init``); 3
bad input (photo, value or dataset); 4 refused by policy (missing source, basis, purpose, case,
reason; a role without the permission; no token, or one that is not valid, or an activation code
that cannot be spent); 5 gallery problem (not initialised, unknown subject); 6 bad configuration
(a credentials file others may read); 7 the gallery's storage is full (free space and run the
command again: the gallery stays consistent and enroll-dir resumes).
"""

from __future__ import annotations

# Importing a module registers its commands; --help lists them by task (common.HELP_PANELS), and
# each module imports the core only inside its commands, so that --help starts at once.
from facesearch.cli import (
    accounts,
    basics,
    casework,
    clustering,
    evaluation,
    gallery,
    governance,
    models,
    serve,
    start,
    transparency,
)
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
    "models",
    "serve",
    "start",
    "transparency",
]


def main() -> None:
    app()
