"""facesearch init: a new gallery, and, guided or by flags, its first rules and people.

A first search needs a retention period (no enrollment before one), an allowed purpose, and people
in the roles that enroll and search, each with their own token. ``init`` sets all of it up in one
step, as the new gallery's admin: with flags for scripts (``--retention-days``, ``--purpose``,
``--user NAME:ROLE``), or by asking when run at a terminal without them. Each user added gets a
one-time activation code to hand over; they redeem it (``facesearch activate CODE``) for a token
that only they see. No rule is relaxed: the admin still neither enrolls nor searches.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from facesearch.cli.common import (
    app,
    current_settings,
    err,
    handled,
    keep_token,
    open_engine,
    opts,
    out,
    read_credentials,
)
from facesearch.errors import InputError
from facesearch.governance.policy import Role, require_role

if TYPE_CHECKING:
    from facesearch.engine import Engine

ROLES = ", ".join(r.value for r in Role)


def _parse_user(value: str) -> tuple[str, str]:
    """NAME:ROLE as (name, role); the role checked by the core."""
    name, colon, role = value.rpartition(":")
    if not colon or not name.strip() or not role.strip():
        raise InputError(f"--user takes NAME:ROLE (a role of {ROLES}), not {value!r}")
    return name.strip(), require_role(role).value


def at_terminal() -> bool:
    """Whether a person can answer questions: standard input is a terminal."""
    return sys.stdin.isatty()


def _ask() -> tuple[int | None, list[str], list[tuple[str, str]]]:
    """Ask a person at a terminal for what the flags would have given; an empty answer skips, and
    an answer that cannot be used is asked again."""
    out.print("Set up the gallery's first rules and people (press Enter to skip a question).", highlight=False)
    days = None
    while answer := _prompt("Keep each photo at most how many days? (no enrollment before a retention period)"):
        if answer.isdigit() and int(answer) > 0:
            days = int(answer)
            break
        err.print(f"the retention period is a number of days, not {answer!r}", highlight=False)
    purposes = []
    while purpose := _prompt("A purpose searches may serve (Enter: no more)"):
        purposes.append(purpose)
    users = []
    while answer := _prompt(f"A user to add, as NAME:ROLE ({ROLES}; Enter: no more)"):
        try:
            users.append(_parse_user(answer))
        except InputError as exc:
            err.print(exc.message, highlight=False)
    return days, purposes, users


def _prompt(question: str) -> str:
    return str(typer.prompt(question, default="", show_default=False)).strip()


def _set_up(
    engine: Engine, days: int | None, purposes: list[str], authorised: list[str], users: list[tuple[str, str]]
) -> None:
    """As the admin: the retention period, the purposes, the users and their activation codes."""
    if days is not None:
        engine.retention.set_period(days)
        out.print(f"retention period: {days} days", highlight=False)
    allowed = {p.name for p in engine.purposes.list()}
    for name, needs in [(p, False) for p in purposes] + [(p, True) for p in authorised]:
        if name.strip() in allowed:
            out.print(f"searches may already serve {name.strip()!r}", highlight=False)
            continue
        added = engine.purposes.add(name, require_authorisation=needs)
        with_reference = " with an authorisation reference" if needs else ""
        out.print(f"searches may serve {added.name!r}{with_reference}", highlight=False)
    known = {u.name for u in engine.accounts.users()}
    for name, role in users:
        if name in known:
            out.print(f"{name} is already a user: 'facesearch users invite {name}' gives them a new code")
            continue
        user = engine.accounts.add_user(name, role)
        code = engine.accounts.invite(user.name)
        out.print(
            f"added {user.name} ({user.role.value}); their activation code, valid once until "
            f"{code.expires_at:%Y-%m-%d %H:%M} UTC: give it to {user.name} only, who runs "
            f"'facesearch activate CODE' (you never see their token):",
            highlight=False,
        )
        print(code.code)


@app.command()
def init(
    retention_days: Annotated[
        int | None,
        typer.Option(help="Keep each photo at most this many days; no enrollment before it is set [default: unset]."),
    ] = None,
    purpose: Annotated[
        list[str] | None,
        typer.Option(help="A purpose searches may serve (repeatable) [default: none]."),
    ] = None,
    purpose_with_authorisation: Annotated[
        list[str] | None,
        typer.Option(help="A purpose whose searches must carry an authorisation reference (repeatable)."),
    ] = None,
    user: Annotated[
        list[str] | None,
        typer.Option(
            help=f"A user to add as NAME:ROLE, role one of {ROLES} (repeatable); each gets a one-time "
            "activation code to redeem for a token only they see [default: none]."
        ),
    ] = None,
    no_input: Annotated[
        bool, typer.Option("--no-input", help="Ask nothing, even at a terminal: only the flags set things up.")
    ] = False,
) -> None:
    """Create a gallery in the home folder (safe to run again). You become its first admin (named by
    --actor, default your OS user), and your own API token is saved in your credentials file. With
    the flags, or by answering at a terminal, also set its retention period, purposes and first
    users, each given an activation code: a new user's first search is then 'facesearch activate
    CODE' and 'facesearch identify ...'."""
    from facesearch import lifecycle
    from facesearch.storage import keys

    purposes, authorised = list(purpose or []), list(purpose_with_authorisation or [])
    flags = bool(retention_days is not None or purposes or authorised or user)
    with handled():
        users = [_parse_user(u) for u in user or []]  # every flag checked before anything is made
        settings = current_settings()
        read_credentials()  # a credentials file others can read is refused before anything is made
        new_key = keys.new_master_key_file(settings)
        engine, issued = lifecycle.bootstrap(opts.home, actor=opts.actor, settings=settings)
        with engine:
            if new_key is not None and new_key.exists():
                out.print(f"master key created in {new_key}: keep a copy in your secrets store, apart from backups")
            out.print(f"gallery ready in {opts.home}")
            if issued is not None:
                keep_token(engine.gallery_id, issued, f"you are its admin, {issued.user}")
            if issued is not None and not flags and not no_input and at_terminal():
                retention_days, purposes, users = _ask()
            if retention_days is None and not purposes and not authorised and not users:
                return
            if issued is not None:  # a new gallery: its creator is its admin and holds its first token
                _set_up(engine, retention_days, purposes, authorised, users)
                return
        with open_engine() as admin:  # an existing gallery: set up by the admin of your token, never --actor
            _set_up(admin, retention_days, purposes, authorised, users)
