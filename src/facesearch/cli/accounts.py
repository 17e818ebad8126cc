"""facesearch users ..., tokens ..., activate and whoami: who may act on the gallery, and each
person's own credential."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from facesearch.cli import credentials
from facesearch.cli.common import (
    app,
    command_group,
    handled,
    keep_token,
    open_engine,
    open_gallery,
    opts,
    out,
    print_json,
    read_credentials,
    user_token,
)
from facesearch.governance.policy import ROLE_MATRIX, Role

users_app = command_group("Users, their roles and their activation codes (admin only).")
tokens_app = command_group("API tokens: each user's own, made from an activation code; stored only as salted hashes.")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")

ROLES_HELP = "; ".join(f"{r.value}: {', '.join(sorted(p.value for p in ROLE_MATRIX[r]))}" for r in Role)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The user's name, as the audit log will name them.")],
    role: Annotated[str, typer.Option(help=f"One role. {ROLES_HELP}.")],
) -> None:
    """Add a user with one role; then give them an activation code ('users invite')."""
    with handled(), open_engine() as engine:
        user = engine.accounts.add_user(name, role)
    out.print(f"added user {user.name} ({user.role.value})", markup=False, highlight=False)


@users_app.command("invite")
def users_invite(name: Annotated[str, typer.Argument(help="The user the code is for.")]) -> None:
    """Issue a one-time activation code for a user (72 hours, single use) to give them. They exchange
    it for a token only they see: 'facesearch activate CODE', or /activate in the web UI. A newer
    code withdraws an unused older one; only its hash is kept."""
    with handled(), open_engine() as engine:
        code = engine.accounts.invite(name)
    out.print(
        f"activation code for {code.user}, valid once until {code.expires_at:%Y-%m-%d %H:%M} UTC; give it to "
        f"{code.user} only (they run 'facesearch activate CODE' or open /activate in the web UI):",
        markup=False,
        highlight=False,
    )
    print(code.code)


@users_app.command("list")
def users_list(json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False) -> None:
    """List users, their roles and whether they are disabled."""
    with handled(), open_engine() as engine:
        users = engine.accounts.users()
    if json_out:
        print_json([u.to_dict() for u in users])
        return
    table = Table("user", "role", "state", "added", "added by")
    for u in users:
        state = "disabled" if u.disabled else "enabled"
        table.add_row(u.name, u.role.value, state, u.created_at.date().isoformat(), u.created_by)
    out.print(table)


@users_app.command("disable")
def users_disable(name: Annotated[str, typer.Argument(help="The user to disable.")]) -> None:
    """Disable a user: their tokens are revoked, web sessions ended, unused activation codes
    withdrawn (the user's audit history stays)."""
    with handled(), open_engine() as engine:
        revoked = engine.accounts.disable_user(name)
    out.print(f"disabled user {name}; {revoked} token(s) revoked", markup=False, highlight=False)


@app.command()
def activate(
    code: Annotated[
        str | None, typer.Argument(help="The activation code your admin gave you [asked for when omitted].")
    ] = None,
) -> None:
    """Exchange the one-time activation code an admin gave you for your own API token, saved in your
    credentials file (readable only by you); no one else ever sees it. The code then stops working."""
    if code is None:
        code = typer.prompt("activation code", hide_input=True)
    with handled():
        read_credentials()  # refused before the code is spent if others could read the token
        with open_gallery() as engine:
            issued = engine.signin.redeem(code)
            gallery_id = engine.gallery_id
    keep_token(gallery_id, issued, f"activated: you are {issued.user}")


@tokens_app.command("rotate")
def tokens_rotate() -> None:
    """Replace your token with a new one (valid for the gallery's token_days): the old one is
    revoked and the web sessions begun with it end. Do it before your token expires."""
    with handled():
        if not credentials.env_token():
            read_credentials()  # the new token goes there: refused before the old one is revoked
        with open_gallery() as engine:
            gallery_id = engine.gallery_id
            issued = engine.signin.rotate(user_token(gallery_id))
    if credentials.env_token():
        out.print(
            f"your new token, valid until {issued.expires_at:%Y-%m-%d %H:%M} UTC (put it in "
            f"${credentials.TOKEN_ENV}; the old one no longer works):",
            markup=False,
            highlight=False,
        )
        print(issued.token)
        return
    keep_token(gallery_id, issued, f"token rotated for {issued.user}")


@tokens_app.command("list")
def tokens_list(json_out: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False) -> None:
    """Every token: whose, made when and by whom, expiry, revocation; never a secret (admin only)."""
    with handled(), open_engine() as engine:
        tokens = engine.accounts.tokens()
    if json_out:
        print_json([t.to_dict() for t in tokens])
        return
    table = Table("token", "user", "made", "by", "expires (UTC)", "revoked")
    for t in tokens:
        revoked = f"{t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "-"
        table.add_row(t.id, t.user, f"{t.created_at:%Y-%m-%d}", t.created_by, f"{t.expires_at:%Y-%m-%d %H:%M}", revoked)
    out.print(table)


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[str, typer.Argument(help="The token's id ('tokens list').")]) -> None:
    """Revoke an API token; the web sessions begun with it end (admin only)."""
    with handled(), open_engine() as engine:
        user = engine.accounts.revoke_token(token_id)
    out.print(f"revoked token {token_id.strip()} of {user}", markup=False, highlight=False)


@app.command()
def whoami() -> None:
    """Who your token says you are, your role, and until when the token is valid."""
    with handled(), open_gallery() as engine:
        credential = engine.signin.authenticate(user_token(engine.gallery_id))
    source = f"${credentials.TOKEN_ENV}" if credentials.env_token() else str(opts.credentials)
    out.print(
        f"{credential.user.name} ({credential.user.role.value}); token {credential.token_id} from {source}, "
        f"valid until {credential.expires_at:%Y-%m-%d %H:%M} UTC",
        markup=False,
        highlight=False,
    )
