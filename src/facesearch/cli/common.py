"""What every command shares: the Typer app, global options, consoles, error translation."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from facesearch import lifecycle as core
from facesearch.config import Settings
from facesearch.engine import Engine
from facesearch.errors import ConfigError, FacesearchError, GalleryError, InputError, PolicyError, StorageFullError
from facesearch.storage.home import default_home
from facesearch.types import LawfulBasis

app = typer.Typer(
    help="Accountable, self-hosted face search. Every search needs a purpose and a case; every "
    "enrolled photo needs a source and a lawful basis; everything is audited.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
audit_app = typer.Typer(help="Read and check the hash-chained audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
index_app = typer.Typer(help="Show and repair the vector index.", no_args_is_help=True)
app.add_typer(index_app, name="index")

# Names, purposes, cases and every other value print as the text they are: no Rich markup (a subject
# named "Al_Gore[i][/i]" would print as "Al_Gore") and no emoji codes. Styles are given as Text.
out = Console(markup=False, emoji=False)
err = Console(stderr=True, soft_wrap=True, markup=False, emoji=False)

EXIT_CODES: list[tuple[type[FacesearchError], int]] = [
    (InputError, 3),
    (PolicyError, 4),
    (StorageFullError, 7),
    (GalleryError, 5),
    (ConfigError, 6),
]
SUBJECT_HELP = "Subject name, or id:ID for the subject whose id is ID (as 'subjects' lists it)."
BASIS_HELP = "Lawful basis: " + ", ".join(b.value for b in LawfulBasis) + "."


class Options:
    home: Path
    actor: str | None
    overrides: dict[str, Any]


opts = Options()


@contextmanager
def handled() -> Iterator[None]:
    """Translate core errors into a one-line message and an exit status; no stack traces."""
    try:
        yield
    except FacesearchError as exc:
        err.print(Text.assemble(("error", "bold red"), f" ({exc.code}): {exc.message}"))
        code = next((c for cls, c in EXIT_CODES if isinstance(exc, cls)), 1)
        raise typer.Exit(code) from None


def current_settings() -> Settings:
    return Settings.load(opts.home).replace(**opts.overrides)


def open_engine() -> Engine:
    return core.open_engine(opts.home, actor=opts.actor, settings=current_settings())


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


@app.callback()
def _global(
    home: Annotated[
        Path | None,
        typer.Option(help="Gallery home folder [env FACESEARCH_HOME; default: the user's data folder]."),
    ] = None,
    actor: Annotated[str | None, typer.Option(help="Who is acting, for the audit log [default: OS user].")] = None,
    detector: Annotated[str | None, typer.Option(help="Face detector: hog (default) or cnn.")] = None,
    upsample: Annotated[int | None, typer.Option(help="Upsampling before detection (0-3).")] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="FACESEARCH_DB",
            help="The gallery's database: a postgresql:// URL [env FACESEARCH_DB; setting database_url; "
            "default: HOME/gallery.sqlite3].",
        ),
    ] = None,
) -> None:
    opts.home = home or default_home()
    opts.actor = actor
    overrides = {"detector": detector, "upsample": upsample, "database_url": db}
    opts.overrides = {k: v for k, v in overrides.items() if v is not None}
