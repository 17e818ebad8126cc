"""facesearch users ... and facesearch tokens ...: who may act on the gallery (admin only)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from facesearch.cli.common import app, handled, open_engine, out, print_json
from facesearch.governance.policy import ROLE_MATRIX, Role

users_app = typer.Typer(help="Users and their roles (admin only).", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens, stored only as salted hashes (admin only).", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")

ROLES_HELP = "; ".join(f"{r.value}: {', '.join(sorted(p.value for p in ROLE_MATRIX[r]))}" for r in Role)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="The user's name, as given to --actor.")],
    role: Annotated[str, typer.Option(help=f"One role. {ROLES_HELP}.")],
) -> None:
    """Add a user with one role."""
    with handled(), open_engine() as engine:
        user = engine.accounts.add_user(name, role)
    out.print(f"added user {user.name} ({user.role.value})", highlight=False)


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
    """Disable a user and revoke their tokens (the user's audit history stays)."""
    with handled(), open_engine() as engine:
        revoked = engine.accounts.disable_user(name)
    out.print(f"disabled user {name}; {revoked} token(s) revoked", highlight=False)


@tokens_app.command("issue")
def tokens_issue(name: Annotated[str, typer.Argument(help="The user the token acts for.")]) -> None:
    """Issue an API token for a user. It is printed once; only its salted hash is kept."""
    with handled(), open_engine() as engine:
        issued = engine.accounts.issue_token(name)
    out.print(f"token {issued.id} for {issued.user} (shown once, keep it secret):", highlight=False)
    print(issued.token)


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[str, typer.Argument(help="The token's id (shown when issued).")]) -> None:
    """Revoke an API token."""
    with handled(), open_engine() as engine:
        user = engine.accounts.revoke_token(token_id)
    out.print(f"revoked token {token_id.strip()} of {user}", highlight=False)
