"""Attempts that used to leave no trace (issue 17, item 12), replayed on the real application and
real files: a malformed photo sent by a signed-in operator is audited, naming the reason; a request
that names no one (no token, a token the gallery never issued) is counted by reason and writes
nothing to the audit chain; both appear in the transparency report, from the API and the CLI, and
the counts survive a restart of the service."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

import facesearch
from facesearch.config import Settings
from facesearch.engine import Engine
from facesearch.service import create_app

from helpers import init_staffed, token_for

IDENTIFY = {"purpose": "missing person search", "case": "case-7"}
TODAY = datetime.now(UTC).date().isoformat()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def gallery(tmp_path: Path) -> Iterator[tuple[Engine, dict[str, str]]]:
    engine = init_staffed(tmp_path / "home", actor="tester", settings=Settings(max_image_bytes=1_000_000))
    tokens = {name: token_for(engine, name) for name in ("tester", "operator", "auditor")}
    try:
        yield engine, tokens
    finally:
        engine.close()


@pytest.fixture
def truncated_jpeg(photos: dict[str, Path]) -> bytes:
    """A real JPEG cut in half, as a broken upload or a crafted file arrives."""
    whole = photos["probe"].read_bytes()
    return whole[: len(whole) // 2]


def chain(engine: Engine) -> list[str]:
    return [e.hash for e in engine.acting_as("auditor").audit_events()]


def report(client: TestClient, token: str) -> dict[str, Any]:
    response = client.get("/api/reports/transparency", params={"from": TODAY, "to": TODAY}, headers=bearer(token))
    assert response.status_code == 200, response.text
    oversight: dict[str, Any] = response.json()["oversight"]
    return oversight


def test_a_malformed_probe_from_an_operator_is_audited_with_its_reason(
    gallery: tuple[Engine, dict[str, str]], truncated_jpeg: bytes
) -> None:
    engine, tokens = gallery
    with TestClient(create_app(engine.home.root, engine=engine)) as client:
        files = {"file": ("probe.jpg", truncated_jpeg, "image/jpeg")}
        refused = client.post("/api/identify", files=files, data=IDENTIFY, headers=bearer(tokens["operator"]))
        assert refused.status_code == 422 and refused.json()["code"] == "truncated-image"
        [event] = engine.acting_as("auditor").audit_events(action="photo.refused")
        assert event.actor == "operator" and (event.purpose, event.case) == (IDENTIFY["purpose"], IDENTIFY["case"])
        assert event.details == {
            "request": "identify",
            "code": "truncated-image",
            "sha256": hashlib.sha256(truncated_jpeg).hexdigest(),
            "bytes": len(truncated_jpeg),
        }
        assert engine.audit_verify().ok
        assert engine.acting_as("auditor").audit_events(action="search.identify") == []  # no search happened
        oversight = report(client, tokens["auditor"])
        assert oversight["photos_refused"] == 1 and oversight["photos_refused_by_reason"] == {"truncated-image": 1}
        assert oversight["unattributed_by_reason"] == {}


def test_a_malformed_photo_is_audited_once_only_after_the_role_is_checked(
    gallery: tuple[Engine, dict[str, str]], truncated_jpeg: bytes
) -> None:
    engine, tokens = gallery
    with TestClient(create_app(engine.home.root, engine=engine)) as client:
        files = {"file": ("probe.jpg", truncated_jpeg, "image/jpeg")}
        wrong_role = client.post("/api/identify", files=files, data=IDENTIFY, headers=bearer(tokens["auditor"]))
        assert wrong_role.status_code == 403 and wrong_role.json()["code"] == "permission-denied"
        log = engine.acting_as("auditor").audit_events()
        assert log[-1].action == "policy.refused" and not any(e.action == "photo.refused" for e in log)


def test_requests_naming_no_one_are_counted_by_reason_and_leave_the_chain_alone(
    gallery: tuple[Engine, dict[str, str]], truncated_jpeg: bytes
) -> None:
    engine, tokens = gallery
    before = chain(engine)
    with TestClient(create_app(engine.home.root, engine=engine)) as client:
        for _ in range(3):
            assert client.get("/api/subjects").status_code == 401  # no token at all
        files = {"file": ("probe.jpg", truncated_jpeg, "image/jpeg")}
        assert client.post("/api/identify", files=files, data=IDENTIFY).status_code == 401  # refused before the body
        for token in ("fs_0000000000000000_forged", "not-a-token"):
            assert client.get("/api/me", headers=bearer(token)).status_code == 401
        assert client.post("/api/activate", json={"code": "fsa_0000000000000000_forged"}).status_code == 401
        assert chain(engine) == before  # nothing was written to the audit chain
        assert engine.audit_verify().ok
        oversight = report(client, tokens["auditor"])
    assert oversight["unattributed_by_reason"] == {"no-credential": 4, "unknown-code": 1, "unknown-token": 2}
    assert oversight["unattributed_refusals"] == 7 and oversight["failed_authentications"] == 0


def test_a_real_tokens_wrong_secret_is_still_audited(gallery: tuple[Engine, dict[str, str]]) -> None:
    engine, tokens = gallery
    with TestClient(create_app(engine.home.root, engine=engine)) as client:
        guessed = "_".join(tokens["operator"].split("_", 2)[:2]) + "_" + "A" * 43  # a real token id, a guessed secret
        assert client.get("/api/me", headers=bearer(guessed)).status_code == 401
        [failed] = engine.acting_as("auditor").audit_events(action="auth.failed")
        assert failed.details["reason"] == "wrong-secret" and failed.actor == "facesearch-service"
        assert report(client, tokens["auditor"])["unattributed_by_reason"] == {}


def test_a_flood_is_counted_in_memory_not_written_per_request(gallery: tuple[Engine, dict[str, str]]) -> None:
    engine, tokens = gallery
    database = engine.home.database.read_bytes()
    with TestClient(create_app(engine.home.root, engine=engine)) as client:
        for _ in range(200):
            assert client.get("/api/subjects", headers=bearer("fs_x_y")).status_code == 401
        assert engine.home.database.read_bytes() == database  # not one write yet
        assert report(client, tokens["auditor"])["unattributed_by_reason"] == {"unknown-token": 200}


def test_counts_survive_a_restart_and_the_cli_report_shows_them(
    gallery: tuple[Engine, dict[str, str]], tmp_path: Path
) -> None:
    engine, tokens = gallery
    home = engine.home.root
    engine.close()
    with TestClient(create_app(home)) as client:  # the service opens and closes the gallery itself
        for _ in range(2):
            assert client.get("/api/subjects").status_code == 401
        assert client.get("/api/me", headers=bearer("fs_1234_forged")).status_code == 401
    with TestClient(create_app(home)) as client:  # restarted: what the first one counted was written
        assert report(client, tokens["auditor"])["unattributed_by_reason"] == {"no-credential": 2, "unknown-token": 1}
    src = str(Path(facesearch.__file__).resolve().parents[1])
    env = os.environ | {"FACESEARCH_HOME": str(home), "PYTHONPATH": src, "COLUMNS": "300"}
    env |= {"FACESEARCH_TOKEN": tokens["auditor"]}
    made = subprocess.run(
        [sys.executable, "-m", "facesearch", "report", "--from", TODAY, "--to", TODAY, "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    oversight = json.loads(made.stdout)["oversight"]
    assert oversight["unattributed_by_reason"] == {"no-credential": 2, "unknown-token": 1}
    assert "3 refused requests that named no one (counted)" in made.stderr
    page = next(tmp_path.glob("transparency-*/transparency.html")).read_text()
    assert "counted, not audited" in page and "no-credential" in page


def test_the_counts_are_for_auditors_and_admins_only(gallery: tuple[Engine, dict[str, str]]) -> None:
    engine, tokens = gallery
    with TestClient(create_app(engine.home.root, engine=engine)) as client:
        params = {"from": TODAY, "to": TODAY}
        denied = client.get("/api/reports/transparency", params=params, headers=bearer(tokens["operator"]))
        assert denied.status_code == 403
        anonymous = client.get("/api/reports/transparency", params=params)
        assert anonymous.status_code == 401
        assert report(client, tokens["tester"])["unattributed_by_reason"] == {"no-credential": 1}


def test_cross_site_forms_and_forged_cookies_are_counted(gallery: tuple[Engine, dict[str, str]]) -> None:
    engine, tokens = gallery
    before = chain(engine)
    with TestClient(create_app(engine.home.root, engine=engine)) as client:
        forged = client.post("/login", data={"token": tokens["operator"]}, headers={"origin": "https://evil.example"})
        assert forged.status_code == 403
        assert client.post("/login", data={"token": ""}).status_code == 401
        client.cookies.set("facesearch_session", "forged")
        assert client.get("/subjects", follow_redirects=False).status_code == 303
        client.cookies.clear()
        assert chain(engine) == before
        counted = report(client, tokens["auditor"])["unattributed_by_reason"]
    assert counted == {"cross-site-request": 1, "no-credential": 1, "unknown-session": 1}


def test_the_problem_a_client_reads_is_unchanged(gallery: tuple[Engine, dict[str, str]]) -> None:
    engine, _ = gallery
    with TestClient(create_app(engine.home.root, engine=engine)) as client:
        response: httpx.Response = client.get("/api/subjects")
        assert response.json()["code"] == "authentication-failed"
        assert response.headers["www-authenticate"] == "Bearer"
