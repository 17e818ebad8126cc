"""What every command shares: the Typer app, global options, consoles, error translation."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from facesearch.cli import credentials
from facesearch.config import Settings
from facesearch.errors import (
    AuthenticationError,
    ConfigError,
    FacesearchError,
    GalleryError,
    InputError,
    PolicyError,
    StorageFullError,
)
from facesearch.storage.home import HOME_ENV, default_home
from facesearch.terms import LawfulBasis

if TYPE_CHECKING:  # the core is imported by the commands that use it, so that --help starts at once
    from typer import _click  # Typer's own copy of click, whose types its commands take

    from facesearch.engine import Engine
    from facesearch.governance.credentials import IssuedToken

# Help is click's plain text, not Rich's: Rich reads "[env ...; default: ...]" in a help text as
# markup and swallows it, and its help renderer (with Markdown) would double the start-up time.
# The commands are listed by task, in the order of the work (HELP_PANELS), not in import order.
HELP_PANELS: dict[str, tuple[str, ...]] = {
    "Set up a gallery and its people (admins; activate: everyone)": (
        "init",
        "users",
        "activate",
        "whoami",
        "tokens",
        "purposes",
        "retention",
        "settings",
    ),
    "Enroll (enrollers)": ("enroll", "enroll-dir", "opt-out", "opt-outs", "subjects"),
    "Search (operators)": ("identify", "verify", "cluster", "clusters"),
    "Confirm candidates (operators, verifiers)": (
        "nominate",
        "queue",
        "confirm",
        "reject",
        "nominations",
        "sweeps",
        "cases",
        "export",
    ),
    "Keep the rules (admins)": ("hold", "release", "holds", "purge", "erase", "subject-report"),
    "Oversee (auditors)": ("audit", "report"),
    "Measure accuracy": ("evaluate", "calibrate", "model-card"),
    "Run and maintain": ("serve", "index", "models", "gallery"),
}
HELP_WIDTH = 110  # at most: help wraps to the terminal, up to this many columns


class TaskGroup(TyperGroup):
    """A command group whose help lists its commands under HELP_PANELS' headings, in their order;
    a command no panel names comes last, under "Other commands"."""

    def format_commands(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        commands = {name: self.get_command(ctx, name) for name in self.list_commands(ctx)}
        shown = {name: cmd for name, cmd in commands.items() if cmd is not None and not cmd.hidden}
        if not shown:
            return
        limit = formatter.width - 6 - max(len(name) for name in shown)
        listed = {name for names in HELP_PANELS.values() for name in names}
        panels = list(HELP_PANELS.items()) + [("Other commands", tuple(n for n in shown if n not in listed))]
        for title, names in panels:
            rows = [(name, shown[name].get_short_help_str(limit)) for name in names if name in shown]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def command_group(help: str) -> typer.Typer:
    """A group of subcommands (``users add``, ``audit verify`` ...), its help as plain as the app's."""
    return typer.Typer(
        help=help,
        no_args_is_help=True,
        rich_markup_mode=None,
        context_settings={"max_content_width": HELP_WIDTH},
    )


app = typer.Typer(
    help="Accountable, self-hosted face search. Every search needs a purpose and a case; every "
    "enrolled photo needs a source and a lawful basis; everything is audited.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
    cls=TaskGroup,
    context_settings={"max_content_width": HELP_WIDTH},
)
audit_app = command_group("Read and check the hash-chained audit log.")
app.add_typer(audit_app, name="audit")
index_app = command_group("Show and repair the vector index.")
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
# Options the core refuses to go without (the refusal audited), marked as Typer marks its own.
REQUIRED = " [required]"
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


RayOption = Annotated[
    str | None,
    typer.Option(
        "--ray",
        metavar="ADDRESS",
        help="Analyse the photos on the Ray cluster whose head is at HOST:PORT ('auto': the cluster this machine "
        "is a node of); --workers then counts Ray workers [default: setting ray_address, else local processes; "
        "workers: every CPU of the cluster]. Needs the 'ray' extra.",
        show_default=False,
    ),
]


def use_ray(address: str | None) -> None:
    """--ray ADDRESS: this command's photo analysis runs on that cluster (as setting ray_address)."""
    if address is not None:
        opts.overrides["ray_address"] = address


def analysis_workers(workers: int | None, settings: Settings) -> int:
    """--workers, else every core here, or every CPU of the Ray cluster (0) when the analysis runs there."""
    return workers or (0 if settings.ray_address else os.cpu_count() or 1)


def current_settings() -> Settings:
    return Settings.load(opts.home).replace(**opts.overrides)


def open_gallery() -> Engine:
    """The gallery, opened for no one: for what needs no person (serving it, redeeming a code)."""
    from facesearch import lifecycle

    return lifecycle.open_engine(opts.home, actor=CLI_ACTOR, settings=current_settings())


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
        typer.Option(
            envvar=HOME_ENV,
            help="Gallery home folder [default: the user's data folder, e.g. ~/.local/share/facesearch].",
        ),
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
            f"from; mode 0600. ${credentials.TOKEN_ENV}, when set, is used instead [default: credentials.toml in "
            "your config folder, e.g. ~/.config/facesearch].",
        ),
    ] = None,
    recognizer: Annotated[
        str | None,
        typer.Option(
            help="Recognizer of a new gallery: sface, dlib, fusion or a registered model's name "
            "[default: setting recognizer, sface]."
        ),
    ] = None,
    detector: Annotated[
        str | None, typer.Option(help="dlib's face detector: hog or cnn [default: setting detector, hog].")
    ] = None,
    upsample: Annotated[
        int | None, typer.Option(help="Upsampling before dlib's detection, 0-3 [default: setting upsample, 1].")
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="FACESEARCH_DB",
            help="The gallery's database: a postgresql:// URL [default: setting database_url, else "
            "HOME/gallery.sqlite3].",
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
