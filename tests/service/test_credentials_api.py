"""Credentials over the REST API and the attack of issue 17 item 5: the API takes bearer tokens
only, so a foreign page that makes a signed-in browser POST to /api/ with the UI's session cookie
is refused (401) and changes nothing. Activation codes, rotation and token listing, each with its
refusals (no credential, wrong role, used or expired code, another user's token, malformed input)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from facesearch.engine import Engine
from facesearch.pipeline.models import DlibModels
from facesearch.service import create_app
from facesearch.service.auth import COOKIE

from helpers import init_staffed, snapshot, token_for

FOREIGN = {"Origin": "https://evil.example", "Referer": "https://evil.example/cat-pictures"}


@pytest.fixture
def served(tmp_path: Path, models: DlibModels) -> Iterator[tuple[TestClient, Engine, dict[str, str]]]:
    engine = init_staffed(tmp_path / "home", actor="tester", models=models)
    engine.accounts.add_user("verifier2", "verifier")
    tokens = {name: token_for(engine, name) for name in ("tester", "operator", "verifier", "verifier2", "auditor")}
    try:
        with TestClient(create_app(engine.home.root, engine=engine), follow_redirects=False) as client:
            yield client, engine, tokens
    finally:
        engine.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


def audited(engine: Engine, action: str) -> list[dict[str, Any]]:
    return [e.to_dict() for e in engine.acting_as("auditor").audit_events(action=action)]


def test_an_admin_issues_a_code_the_user_redeems_for_a_token_only_they_see(
    served: tuple[TestClient, Engine, dict[str, str]],
) -> None:
    client, engine, tokens = served
    assert client.post(
        "/api/users", json={"name": "ann", "role": "auditor"}, headers=bearer(tokens["tester"])
    ).is_success
    invited = client.post("/api/users/ann/invite", headers=bearer(tokens["tester"]))
    assert invited.status_code == 201
    body = invited.json()
    assert set(body) == {"id", "user", "code", "expires_at"} and body["expires_at"].endswith("Z")
    issued = client.post("/api/activate", json={"code": body["code"]})  # no token: the code is the credential
    assert issued.status_code == 201, issued.text
    token = issued.json()["token"]
    assert client.get("/api/me", headers=bearer(token)).json()["name"] == "ann"
    again = problem(client.post("/api/activate", json={"code": body["code"]}), 401, "activation-failed")
    assert "already been used" in again["detail"]
    listed = client.get("/api/tokens", headers=bearer(tokens["tester"])).json()
    assert issued.json()["id"] in {t["id"] for t in listed} and token not in str(listed)
    assert all(set(t) == {"id", "user", "created_at", "created_by", "expires_at", "revoked_at"} for t in listed)
    [failure] = audited(engine, "activation.failed")
    assert failure["actor"] == "facesearch-service" and failure["details"]["reason"] == "used"


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"code": "fsa_0000000000000000_nothing"}, 401, "activation-failed"),
        ({"code": ""}, 401, "activation-failed"),
        ({"code": "x" * 201}, 422, "invalid-request"),
        ({}, 422, "invalid-request"),
        ({"code": 12}, 422, "invalid-request"),
    ],
)
def test_a_code_that_is_not_valid_is_refused(
    served: tuple[TestClient, Engine, dict[str, str]], body: dict[str, Any], status: int, code: str
) -> None:
    client, engine, _ = served
    problem(client.post("/api/activate", json=body), status, code)
    assert audited(engine, "activation.failed") == []  # a code never issued names no one: counted, not audited
    today = datetime.now(UTC).date()
    counted = engine.acting_as("auditor").transparency_report(today, today).oversight.unattributed_by_reason
    assert counted == ({"unknown-code": 1} if status == 401 else {})


def test_an_expired_code_is_refused(served: tuple[TestClient, Engine, dict[str, str]]) -> None:
    client, engine, tokens = served
    code = client.post("/api/users/operator/invite", headers=bearer(tokens["tester"])).json()
    with engine.store.transaction() as session:
        session.execute(
            sa.text("UPDATE activation_codes SET expires_at = :t WHERE id = :id"),
            {"t": datetime.now(UTC) - timedelta(seconds=1), "id": code["id"]},
        )
    body = problem(client.post("/api/activate", json={"code": code["code"]}), 401, "activation-failed")
    assert "expired" in body["detail"] and "ask your admin" in body["detail"]


def test_only_admins_issue_codes_list_and_revoke_tokens(served: tuple[TestClient, Engine, dict[str, str]]) -> None:
    client, engine, tokens = served
    operator_token_id = tokens["operator"].split("_")[1]
    for user in ("operator", "verifier", "auditor"):
        problem(client.post("/api/users/operator/invite", headers=bearer(tokens[user])), 403, "permission-denied")
        problem(client.get("/api/tokens", headers=bearer(tokens[user])), 403, "permission-denied")
    # a verifier may not revoke another user's token (nor so lock out a colleague)
    problem(
        client.delete(f"/api/tokens/{operator_token_id}", headers=bearer(tokens["verifier"])), 403, "permission-denied"
    )
    assert client.get("/api/me", headers=bearer(tokens["operator"])).status_code == 200
    problem(client.post("/api/users/operator/invite"), 401, "authentication-failed")
    problem(client.get("/api/tokens"), 401, "authentication-failed")
    problem(client.post("/api/users/nobody/invite", headers=bearer(tokens["tester"])), 422, "bad-input")
    problem(client.delete("/api/tokens/feedfacefeedface", headers=bearer(tokens["tester"])), 422, "bad-input")


def test_a_user_rotates_their_own_token(served: tuple[TestClient, Engine, dict[str, str]]) -> None:
    client, engine, tokens = served
    rotated = client.post("/api/tokens/rotate", headers=bearer(tokens["operator"]))
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert new["user"] == "operator" and new["token"] != tokens["operator"]
    problem(client.get("/api/me", headers=bearer(tokens["operator"])), 401, "authentication-failed")
    assert client.get("/api/me", headers=bearer(new["token"])).json()["name"] == "operator"
    problem(client.post("/api/tokens/rotate", headers=bearer(tokens["operator"])), 401, "authentication-failed")
    problem(client.post("/api/tokens/rotate"), 401, "authentication-failed")
    problem(client.post("/api/tokens/rotate", headers=bearer("fs_x_y")), 401, "authentication-failed")
    [event] = audited(engine, "token.rotate")
    assert event["actor"] == "operator"


def test_an_expired_token_is_401_and_says_it_expired(served: tuple[TestClient, Engine, dict[str, str]]) -> None:
    client, engine, tokens = served
    with engine.store.transaction() as session:
        session.execute(
            sa.text("UPDATE tokens SET expires_at = :t WHERE id = :id"),
            {"t": datetime.now(UTC) - timedelta(seconds=1), "id": tokens["auditor"].split("_")[1]},
        )
    body = problem(client.get("/api/me", headers=bearer(tokens["auditor"])), 401, "credential-expired")
    assert "activation code" in body["detail"]


def _session(client: TestClient, token: str) -> str:
    """Sign in to the web UI as the token's user; the session cookie's value."""
    signed = client.post("/login", data={"token": token})
    assert signed.status_code == 303, signed.text
    secret = signed.cookies.get(COOKIE)
    assert secret and secret.startswith("fss_")
    return secret


def test_a_foreign_page_cannot_use_the_ui_session_against_the_api(
    served: tuple[TestClient, Engine, dict[str, str]], photos: dict[str, Path]
) -> None:
    """The attack as reported: a page of another site makes the browser of a signed-in admin (and of
    a verifier) POST to /api/ with their session cookie and a foreign Origin, to disable a user,
    enroll a subject, run a purge and confirm a nomination. Each is 401 and nothing changes."""
    client, engine, tokens = served
    cookies = {"tester": _session(client, tokens["tester"]), "verifier": _session(client, tokens["verifier"])}
    client.cookies.clear()  # each request below carries exactly the victim's cookie
    before = snapshot(engine)
    events = len(engine.acting_as("auditor").audit_events())
    enroll = {"subject": "Mallory", "source": "the attacker", "basis": "consent"}
    attacks = [
        ("tester", "/api/users/operator/disable", {}),
        ("tester", "/api/purge", {"json": {"reason": "cover tracks"}}),
        (
            "tester",
            "/api/enroll",
            {"files": {"files": ("m.jpg", photos["hopper"].read_bytes(), "image/jpeg")}, "data": enroll},
        ),
        ("verifier", "/api/nominations/1/confirm", {"json": {"note": "sure"}}),
        ("tester", "/api/users/tester/invite", {}),
        ("tester", "/api/tokens/rotate", {}),
    ]
    for victim, path, body in attacks:
        client.cookies.set(COOKIE, cookies[victim])  # what the victim's browser sends along
        response = client.post(path, headers=FOREIGN, **body)
        problem(response, 401, "authentication-failed")
        assert "Bearer" in response.json()["detail"]
    assert snapshot(engine) == before
    assert len(engine.acting_as("auditor").audit_events()) == events  # nothing done, nothing to audit
    assert client.get("/api/me", headers=bearer(tokens["operator"])).status_code == 200  # not disabled
    # the same session is good for the UI's own pages, which refuse a foreign Origin themselves
    client.cookies.set(COOKIE, cookies["tester"])
    page = client.post("/subjects/erase", headers=FOREIGN, data={"subject": "x"})
    assert page.status_code == 403 and "cross-site-request" in page.text


def test_the_cookie_of_a_session_is_no_bearer_token_either(served: tuple[TestClient, Engine, dict[str, str]]) -> None:
    client, _, tokens = served
    secret = _session(client, tokens["tester"])
    client.cookies.clear()
    problem(client.get("/api/users", headers=bearer(secret)), 401, "authentication-failed")
    client.cookies.set(COOKIE, secret)
    problem(client.get("/api/users"), 401, "authentication-failed")
    client.cookies.clear()
    client.cookies.set("facesearch_token", tokens["tester"])  # the cookie of earlier versions held the token
    problem(client.get("/api/users"), 401, "authentication-failed")
