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
from facesearch.cli import credentials
from facesearch.config import Settings
from facesearch.engine import Engine
from facesearch.errors import (
    AuthenticationError,
    ConfigError,
    FacesearchError,
    GalleryError,
    InputError,
    PolicyError,
    StorageFullError,
)
from facesearch.governance.credentials import IssuedToken
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


CLI_ACTOR = "facesearch-cli"  # who the audit log names for what the CLI does before it knows who you are


class Options:
    home: Path
    actor: str | None
    credentials: Path
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


def open_gallery() -> Engine:
    """The gallery, opened for no one: for what needs no person (serving it, redeeming a code)."""
    return core.open_engine(opts.home, actor=CLI_ACTOR, settings=current_settings())


def open_engine() -> Engine:
    """The gallery, acting for the user of your token (see :mod:`facesearch.cli.credentials`),
    checked by the core as the API checks a bearer token; a token that is not valid is refused and
    audited. Without a token, AuthenticationError saying how to get one."""
    engine = open_gallery()
    try:
        return engine.signed_in(user_token(engine.gallery_id))
    except BaseException:
        engine.close()
        raise


def user_token(gallery_id: str) -> str:
    """Your token for the gallery: $FACESEARCH_TOKEN, else the one filed for it in your credentials file."""
    token = credentials.env_token() or credentials.token_for(opts.credentials, gallery_id)
    if token is None:
        raise AuthenticationError(
            f"this command acts as you, and no token of yours for the gallery in {opts.home} was found "
            f"(${credentials.TOKEN_ENV}, or {opts.credentials}): get an activation code from an admin and run "
            "'facesearch activate CODE'",
            reason="no-token",
        )
    return token


def keep_token(gallery_id: str, issued: IssuedToken, who: str) -> None:
    """File a token only its owner may see in their credentials file; if that fails, show it to them."""
    try:
        replaced = credentials.save(opts.credentials, gallery_id, issued, opts.home)
    except (OSError, FacesearchError) as exc:
        err.print(f"could not write {opts.credentials}: {exc}", markup=False, highlight=False)
        out.print(
            f"{who}; your token (shown once, keep it secret), valid until {issued.expires_at:%Y-%m-%d}:",
            markup=False,
            highlight=False,
        )
        print(issued.token)
        return
    if replaced and replaced != issued.user:
        err.print(f"this gallery's token of {replaced} in {opts.credentials} was replaced", markup=False)
    out.print(
        f"{who}; your token {issued.id}, valid until {issued.expires_at:%Y-%m-%d %H:%M} UTC, is saved in "
        f"{opts.credentials} (readable only by you)",
        markup=False,
        highlight=False,
    )


def read_credentials() -> None:
    """Check your credentials file is private (before making anything a token would go into)."""
    credentials.read(opts.credentials)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


@app.callback()
def _global(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(help="Gallery home folder [env FACESEARCH_HOME; default: the user's data folder]."),
    ] = None,
    actor: Annotated[
        str | None,
        typer.Option(
            help="With 'init' only: the name of a new gallery's first admin [default: OS user]. Every other "
            "command acts as the user of your token."
        ),
    ] = None,
    credentials_file: Annotated[
        Path | None,
        typer.Option(
            "--credentials",
            envvar=credentials.CREDENTIALS_ENV,
            help="Your credentials file, which 'init' and 'activate' write and every command reads your token "
            f"from; mode 0600 [env {credentials.CREDENTIALS_ENV}; default: credentials.toml in your config "
            f"folder]. ${credentials.TOKEN_ENV}, when set, is used instead.",
        ),
    ] = None,
    recognizer: Annotated[
        str | None,
        typer.Option(help="Recognizer of a new gallery: sface (default), dlib, fusion or a registered model's name."),
    ] = None,
    detector: Annotated[str | None, typer.Option(help="dlib's face detector: hog (default) or cnn.")] = None,
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
    if actor is not None and ctx.invoked_subcommand != "init":
        err.print(
            "error: --actor only names a new gallery's first admin, with 'init'. Every other command acts as "
            "the user of your own token (see 'facesearch activate --help')",
            highlight=False,
        )
        raise typer.Exit(2)
    opts.home = home or default_home()
    opts.actor = actor
    opts.credentials = credentials_file or credentials.default_path()
    overrides = {"recognizer": recognizer, "detector": detector, "upsample": upsample, "database_url": db}
    opts.overrides = {k: v for k, v in overrides.items() if v is not None}
