"""The REST API as a client uses it: httpx (FastAPI's TestClient) against the application in
process, real photos, real tokens, and the problem bodies users read when something is refused."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from facesearch.config import Settings
from facesearch.engine import Engine
from facesearch.pipeline.models import DlibModels
from facesearch.service import create_app
from facesearch.service.auth import CredentialsFirst
from facesearch.service.uploads import upload_name

from helpers import init_staffed, snapshot, token_for, write_video

MAX_IMAGE_BYTES = 1_000_000
IDENTIFY = {"purpose": "missing person search", "case": "case-7"}
USERS = ("tester", "enroller", "operator", "operator2", "verifier", "verifier2", "auditor")


class Api:
    """A client per user, each with that user's bearer token, on one application."""

    def __init__(self, client: TestClient, engine: Engine, tokens: dict[str, str]) -> None:
        self.client = client
        self.engine = engine
        self.tokens = tokens

    def __call__(self, user: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        headers |= kwargs.pop("headers", {})
        response = self.client.request(method, url, headers=headers, **kwargs)
        assert "Traceback" not in response.text and 'File "' not in response.text
        return response


def problem(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The response's problem body, checked: the status, the media type, and the code it names."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"]
    if code is not None:
        assert body["code"] == code and body["type"] == f"urn:facesearch:problem:{code}", body
    return body


def counted(api: Api) -> dict[str, int]:
    """Today's refused requests that named no one, by reason, from the transparency report."""
    today = {"from": datetime.now(UTC).date().isoformat(), "to": datetime.now(UTC).date().isoformat()}
    report = api("auditor", "GET", "/api/reports/transparency", params=today).json()
    by_reason: dict[str, int] = report["oversight"]["unattributed_by_reason"]
    return by_reason


def upload(path: Path, field: str = "file") -> dict[str, tuple[str, bytes, str]]:
    return {field: (path.name, path.read_bytes(), "image/jpeg")}


BOUNDARY = "facesearch-test-boundary"
MULTIPART = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


def chunked(size: int) -> Iterator[bytes]:
    """A multipart body of SIZE bytes of photo, sent in chunks with no Content-Length."""
    yield f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'.encode()
    for _ in range(size // 65536 + 1):
        yield b"\0" * 65536
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


@pytest.fixture
def api(tmp_path: Path, models: DlibModels) -> Iterator[Api]:
    settings = Settings(keep_crops=True, max_image_bytes=MAX_IMAGE_BYTES)
    engine = init_staffed(tmp_path / "home", actor="tester", settings=settings, models=models)
    engine.accounts.add_user("verifier2", "verifier")
    engine.accounts.add_user("operator2", "operator")
    tokens = {name: token_for(engine, name) for name in USERS}
    try:
        with TestClient(create_app(engine.home.root, engine=engine)) as client:
            yield Api(client, engine, tokens)
    finally:
        engine.close()


def test_openapi_describes_the_api(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    for path in ("/api/identify", "/api/enroll", "/api/nominations", "/api/audit", "/api/opt-outs"):
        assert path in spec["paths"]
    identify = spec["paths"]["/api/identify"]["post"]
    assert "multipart/form-data" in identify["requestBody"]["content"]
    assert "application/problem+json" in identify["responses"]["403"]["content"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_no_token_or_a_bad_one_is_401_and_counted_not_audited(api: Api) -> None:
    body = problem(api("", "GET", "/api/subjects"), 401, "authentication-failed")
    assert "Bearer" in body["detail"]
    response = api.client.get("/api/subjects", headers={"Authorization": "Bearer fs_nope_nope"})
    problem(response, 401, "authentication-failed")
    assert response.headers["www-authenticate"] == "Bearer"
    # neither names anyone: counted by reason (tests/service/test_refused_attempts.py), not audited
    assert api("auditor", "GET", "/api/audit", params={"action": "auth.failed"}).json() == []
    assert counted(api) == {"no-credential": 1, "unknown-token": 1}


def test_a_disabled_users_token_is_refused_at_once(api: Api) -> None:
    assert api("operator", "GET", "/api/me").json()["role"] == "operator"
    assert api("tester", "POST", "/api/users/operator/disable").json() == {"user": "operator", "tokens_revoked": 1}
    problem(api("operator", "GET", "/api/me"), 401, "authentication-failed")


def test_the_wrong_role_is_403_and_the_refusal_audited(api: Api) -> None:
    me = api("enroller", "GET", "/api/me").json()
    assert me == {"name": "enroller", "role": "enroller", "permissions": ["enroll", "record opt-outs"]}
    body = problem(api("enroller", "GET", "/api/audit"), 403, "permission-denied")
    assert body["rule"] == "role" and "enroller role may not read the audit log" in body["detail"]
    problem(api("operator", "POST", "/api/subjects/anyone/erase", json={"reason": "asked"}), 403, "permission-denied")
    refused = api("auditor", "GET", "/api/audit", params={"action": "policy.refused"}).json()
    assert [e["actor"] for e in refused] == ["enroller", "operator"]


def test_a_search_without_purpose_case_or_authorisation_is_refused(api: Api, photos: dict[str, Path]) -> None:
    probe = upload(photos["probe"])
    problem(api("operator", "POST", "/api/identify", files=probe, data={"case": "c"}), 403, "missing-purpose")
    problem(api("operator", "POST", "/api/identify", files=probe, data={"purpose": "p"}), 403, "missing-case")
    problem(
        api("operator", "POST", "/api/identify", files=probe, data={"purpose": "curiosity", "case": "c"}),
        403,
        "purpose-not-allowed",
    )
    problem(
        api("operator", "POST", "/api/identify", files=probe, data={"purpose": "warrant search", "case": "c"}),
        403,
        "missing-authorisation",
    )
    problem(api("enroller", "POST", "/api/identify", files=probe, data=IDENTIFY), 403, "permission-denied")
    refused = api("auditor", "GET", "/api/audit", params={"action": "policy.refused"}).json()
    assert len(refused) == 5
    assert api("auditor", "GET", "/api/audit", params={"action": "search.identify"}).json() == []


@pytest.mark.model
def test_enroll_identify_nominate_confirm_export_erase(api: Api, photos: dict[str, Path]) -> None:
    enroll = {"subject": "Eileen Collins", "source": "scikit-image sample", "basis": "consent"}
    enrolled = api("enroller", "POST", "/api/enroll", files=upload(photos["astronaut"], "files"), data=enroll)
    assert enrolled.status_code == 200, enrolled.text
    assert enrolled.json()["images"][0]["status"] == "enrolled"
    assert enrolled.json()["images"][0]["name"] == "astronaut.jpg"  # the upload's file name, kept as provenance
    face_id = enrolled.json()["images"][0]["face_id"]
    hopper = {"subject": "Grace Hopper", "source": "matplotlib sample", "basis": "public-task"}
    assert api("enroller", "POST", "/api/enroll", files=upload(photos["hopper"], "files"), data=hopper).is_success

    found = api("operator", "POST", "/api/identify", files=upload(photos["probe"]), data=IDENTIFY)
    assert found.status_code == 200, found.text
    result = found.json()
    assert result["notice"].startswith("candidates, not identifications")
    assert result["threshold"]["score"] > 0 and result["threshold"]["meaning"]
    assert result["purpose"] == IDENTIFY["purpose"] and result["case"] == IDENTIFY["case"]
    assert result["gallery_size"] == 2 and len(result["faces"]) == 1
    best = result["faces"][0]["candidates"][0]
    assert best["subject"] == "Eileen Collins" and best["clears_threshold"] and best["rank"] == 1

    pair = {**upload(photos["astronaut"], "file_a"), **upload(photos["probe"], "file_b")}
    verified = api("operator", "POST", "/api/verify", files=pair, data=IDENTIFY)
    assert verified.status_code == 200, verified.text
    assert verified.json()["same_person"] is True and verified.json()["threshold"]["source"] == "published"
    top1 = api("operator", "POST", "/api/identify", files=upload(photos["probe"]), data={**IDENTIFY, "top_k": "1"})
    assert [len(f["candidates"]) for f in top1.json()["faces"]] == [1]

    nominated = api(
        "operator", "POST", "/api/nominations", json={"search": result["audit_seq"], "subject": "Eileen Collins"}
    )
    assert nominated.status_code == 201, nominated.text
    nomination = nominated.json()["nomination_id"]
    queue = api("verifier", "GET", "/api/queue").json()
    assert [n["nomination_id"] for n in queue] == [nomination] and queue[0]["status"] is None  # blind
    problem(api("operator", "GET", f"/api/cases/{IDENTIFY['case']}/export"), 403, "not-confirmed")
    problem(api("operator", "POST", f"/api/nominations/{nomination}/confirm"), 403, "permission-denied")
    thumb = api("verifier", "GET", f"/api/faces/{face_id}/thumbnail")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content[:2] == b"\xff\xd8"
    for verifier in ("verifier", "verifier2"):
        decided = api(verifier, "POST", f"/api/nominations/{nomination}/confirm", json={"note": "same scar"})
        assert decided.status_code == 200, decided.text
        assert decided.json()["decision"] == "confirm" and decided.json()["verifier"] == verifier
    problem(api("verifier", "POST", f"/api/nominations/{nomination}/confirm"), 403, "confirmation-refused")
    problem(api("verifier", "POST", "/api/nominations/999/reject", json={"reason": "x"}), 404, "nomination-not-found")
    listed = api("operator", "GET", f"/api/cases/{IDENTIFY['case']}/nominations").json()
    assert [n["status"] for n in listed] == ["confirmed"]
    exported = api("operator", "GET", f"/api/cases/{IDENTIFY['case']}/export", params={"nomination": [nomination]})
    assert exported.status_code == 200, exported.text
    (identification,) = exported.json()["identifications"]
    assert {c["verifier"] for c in identification["confirmations"]} == {"verifier", "verifier2"}
    # every time carries its zone (RFC 3339), the stored ones as well as the moment of export
    times = [exported.json()["exported_at"], identification["nomination"]["nominated_at"]]
    times += [c["decided_at"] for c in identification["confirmations"]]
    assert all(t.endswith("Z") or t.endswith("+00:00") for t in times), times
    decisions = api("auditor", "GET", f"/api/nominations/{nomination}/decisions").json()
    assert [d["note"] for d in decisions] == ["same scar", "same scar"]

    report = api("auditor", "GET", "/api/subjects/Eileen Collins/report").json()
    assert report["appearances"][0]["audit_seq"] == result["audit_seq"]
    assert report["nominations"][0]["status"] == "confirmed"
    assert report["images"][0]["filename"] == "astronaut.jpg"

    held = api("tester", "POST", "/api/holds", json={"subject": "Eileen Collins", "reference": "court 12"})
    assert held.status_code == 201, held.text
    problem(api("tester", "POST", "/api/subjects/Eileen Collins/erase", json={"reason": "asked"}), 403, "legal-hold")
    released = api("tester", "POST", "/api/holds/release", json={"subject": "Eileen Collins", "reference": "court 12"})
    assert released.json()["released"] == 1
    erased = api("tester", "POST", "/api/subjects/Eileen Collins/erase", json={"reason": "asked"})
    assert erased.status_code == 200, erased.text
    assert erased.json()["faces_removed"] == 1 and erased.json()["index_entries_removed"] == 1
    assert [s["name"] for s in api("tester", "GET", "/api/subjects").json()] == ["Grace Hopper"]
    problem(api("auditor", "GET", "/api/subjects/Eileen Collins/report"), 404, "subject-not-found")
    problem(api("verifier", "GET", f"/api/faces/{face_id}/thumbnail"), 404, "no-crop")
    again = api("operator", "POST", "/api/identify", files=upload(photos["probe"]), data=IDENTIFY).json()
    assert "Eileen Collins" not in {c["subject"] for f in again["faces"] for c in f["candidates"]}
    assert api("auditor", "GET", "/api/audit/verify").json()["ok"] is True


@pytest.mark.model
def test_case_members_and_the_probe_face_over_the_api(api: Api, photos: dict[str, Path]) -> None:
    api.engine.acting_as("enroller").enroll(
        photos["astronaut"], subject="Eileen Collins", source="scikit-image sample", basis="consent"
    )
    search = api("operator", "POST", "/api/identify", files=upload(photos["probe"]), data=IDENTIFY).json()["audit_seq"]
    nominated = api("operator", "POST", "/api/nominations", json={"search": search, "subject": "Eileen Collins"})
    nomination = nominated.json()["nomination_id"]
    case = IDENTIFY["case"]

    # The probe face, for the verifier, beside the enrolled face the queue names.
    [queued] = api("verifier", "GET", "/api/queue").json()
    assert queued["probe_kept"] is True and queued["face_ids"] and queued["status"] is None
    probe = api("verifier", "GET", f"/api/nominations/{nomination}/probe")
    assert probe.status_code == 200 and probe.headers["content-type"] == "image/jpeg"
    assert probe.content[:2] == b"\xff\xd8" and probe.headers["cache-control"] == "private, no-store"
    assert api("operator", "GET", f"/api/nominations/{nomination}/probe").content == probe.content  # a member
    problem(api("operator2", "GET", f"/api/nominations/{nomination}/probe"), 403, "not-a-case-member")
    problem(api("auditor", "GET", f"/api/nominations/{nomination}/probe"), 403, "permission-denied")
    problem(api("", "GET", f"/api/nominations/{nomination}/probe"), 401, "authentication-failed")
    problem(api("verifier", "GET", "/api/nominations/999/probe"), 404, "nomination-not-found")
    for bad in ("0", "-1", "x", str(2**63)):
        problem(api("verifier", "GET", f"/api/nominations/{bad}/probe"), 422, "invalid-request")
    views = api("auditor", "GET", "/api/audit", params={"action": "probe.view"}).json()
    assert [(e["actor"], e["case"]) for e in views] == [("verifier", case), ("operator", case)]

    # The cases each user reads: their own (operators), every case (admins, auditors), none (verifiers).
    assert [c["case"] for c in api("operator", "GET", "/api/cases").json()] == [case]
    assert api("operator2", "GET", "/api/cases").json() == []
    assert [c["case"] for c in api("auditor", "GET", "/api/cases", params={"limit": 1}).json()] == [case]
    problem(api("verifier", "GET", "/api/cases"), 403, "permission-denied")
    problem(api("auditor", "GET", "/api/cases", params={"limit": 0}), 422, "invalid-request")

    # Another case's data: an operator who is no member may not search, nominate, read, export.
    members = api("operator", "GET", f"/api/cases/{case}/members").json()
    assert members["owner"] == "operator" and [m["user"] for m in members["members"]] == ["operator"]
    for method, url, kwargs in (
        ("POST", "/api/identify", {"files": upload(photos["probe"]), "data": IDENTIFY}),
        ("POST", "/api/nominations", {"json": {"search": search, "subject": "Eileen Collins"}}),
        ("GET", f"/api/cases/{case}/nominations", {}),
        ("GET", f"/api/cases/{case}/members", {}),
        ("GET", f"/api/cases/{case}/export", {}),
        ("POST", f"/api/cases/{case}/members", {"json": {"user": "operator2"}}),  # only the owner adds
    ):
        body = problem(api("operator2", method, url, **kwargs), 403, "not-a-case-member")
        assert body["rule"] == "case"
    refused = api("auditor", "GET", "/api/audit", params={"action": "policy.refused", "case": case}).json()
    assert len(refused) == 7 and {e["actor"] for e in refused} == {"operator2"}  # with the probe view above
    assert api("auditor", "GET", f"/api/cases/{case}/members").json()["owner"] == "operator"  # oversight
    problem(api("auditor", "GET", "/api/cases/no-such-case/members"), 404, "case-not-found")
    problem(api("verifier", "GET", f"/api/cases/{case}/members"), 403, "permission-denied")
    problem(api("", "GET", f"/api/cases/{case}/members"), 401, "authentication-failed")

    # Adding a member: the owner (or an admin), an operator, a well-formed body.
    problem(api("verifier", "POST", f"/api/cases/{case}/members", json={"user": "operator2"}), 403)
    problem(api("auditor", "POST", f"/api/cases/{case}/members", json={"user": "operator2"}), 403)
    problem(api("", "POST", f"/api/cases/{case}/members", json={"user": "operator2"}), 401)
    for body in ({}, {"user": ""}, {"user": "x" * 300}, {"user": ["operator2"]}):
        problem(api("operator", "POST", f"/api/cases/{case}/members", json=body), 422, "invalid-request")
    problem(api("operator", "POST", f"/api/cases/{case}/members", json={"user": "verifier2"}), 422, "bad-input")
    problem(api("tester", "POST", "/api/cases/no-such-case/members", json={"user": "operator2"}), 404)
    added = api("operator", "POST", f"/api/cases/{case}/members", json={"user": "operator2"})
    assert added.status_code == 201, added.text
    assert [m["user"] for m in added.json()["members"]] == ["operator", "operator2"]
    assert [n["nomination_id"] for n in api("operator2", "GET", f"/api/cases/{case}/nominations").json()] == [
        nomination
    ]
    assert api("operator2", "POST", "/api/identify", files=upload(photos["probe"]), data=IDENTIFY).is_success
    assert api("auditor", "GET", "/api/audit/verify").json()["ok"] is True


@pytest.mark.model
def test_malformed_uploads_are_named_and_change_nothing(
    api: Api,
    photos: dict[str, Path],
    bad_files: dict[str, Path],
    malformed_files: dict[str, tuple[Path, str]],
    tmp_path: Path,
) -> None:
    enroll = {"subject": "Ada", "source": "badge photos", "basis": "consent"}
    before = snapshot(api.engine)
    oversize = tmp_path / "big.jpg"
    oversize.write_bytes(photos["astronaut"].read_bytes() + b"\0" * MAX_IMAGE_BYTES)
    cases = [(code, path) for code, path in bad_files.items()]
    cases += [("image-too-large", oversize), ("no-face", photos["cat"])]
    cases += [(code, path) for path, code in malformed_files.values()]  # Pillow's own errors: once a 500
    for code, path in cases:
        status = 413 if code == "image-too-large" else 422
        body = problem(api("enroller", "POST", "/api/enroll", files=upload(path, "files"), data=enroll), status, code)
        if path == oversize:
            assert "max_image_bytes" in body["detail"]
    # a good photo beside a bad one: nothing is stored
    both = [("files", ("a.jpg", photos["hopper"].read_bytes(), "image/jpeg"))]
    both.append(("files", ("b.jpg", bad_files["truncated-image"].read_bytes(), "image/jpeg")))
    problem(api("enroller", "POST", "/api/enroll", files=both, data=enroll), 422, "truncated-image")
    problem(api("operator", "POST", "/api/identify", files=upload(bad_files["not-an-image"]), data=IDENTIFY), 422)
    for path, code in malformed_files.values():
        problem(api("operator", "POST", "/api/identify", files=upload(path), data=IDENTIFY), 422, code)
    _, index_after, audit_after, subjects_after = snapshot(api.engine)
    assert (index_after, subjects_after) == (before[1], before[3])
    # each refused photo is audited once, as its sender's (issue 17, item 12); nothing else changed
    refused = api.engine.acting_as("auditor").audit_events()[len(before[2]) :]
    assert [e.action for e in refused] == ["photo.refused"] * (len(cases) + 2 + len(malformed_files))
    assert [e.details["code"] for e in refused[: len(cases)]] == [code for code, _ in cases]
    assert {e.actor for e in refused} == {"enroller", "operator"} and api.engine.audit_verify().ok
    assert audit_after[: len(before[2])] == before[2]

    huge = b"\xff\xd8" + b"\0" * (3 * MAX_IMAGE_BYTES)
    body = problem(api("operator", "POST", "/api/verify", files={"file_a": ("x.jpg", huge)}, data=IDENTIFY), 413)
    assert body["code"] == "request-too-large"
    # identify takes a video, so its body may be larger: a photo past max_image_bytes is refused by the core
    problem(
        api("operator", "POST", "/api/identify", files={"file": ("x.jpg", huge)}, data=IDENTIFY), 413, "image-too-large"
    )
    problem(api("operator", "POST", "/api/identify", data=IDENTIFY), 422, "invalid-request")
    streamed = api("operator", "POST", "/api/verify", content=chunked(3 * MAX_IMAGE_BYTES), headers=MULTIPART)
    problem(streamed, 413, "request-too-large")  # no Content-Length: counted as it streams
    problem(api("operator", "POST", "/api/identify", content=b"{}", headers={"content-type": "application/json"}), 422)


@pytest.mark.model
def test_subjects_are_addressed_by_name_or_marked_id_and_ambiguity_is_refused(
    api: Api, photos: dict[str, Path]
) -> None:
    enroller = api.engine.acting_as("enroller")
    first = enroller.enroll(photos["astronaut"], subject="123", source="s", basis="consent").subject_id
    second = enroller.enroll(photos["hopper"], subject=first, source="s", basis="consent").subject_id
    before = snapshot(api.engine)
    problem(api("tester", "POST", f"/api/subjects/{first}/erase", json={"reason": "r"}), 422, "ambiguous-subject")
    problem(api("auditor", "GET", f"/api/subjects/{first}/report"), 422, "ambiguous-subject")
    body = problem(api("auditor", "GET", f"/api/subjects/{second}/report"), 404, "subject-not-found")
    assert f"id:{second}" in body["detail"]  # a bare id is a name; the answer says how to write an id
    assert snapshot(api.engine) == before
    assert api("auditor", "GET", f"/api/subjects/id:{second}/report").json()["name"] == first
    erased = api("tester", "POST", f"/api/subjects/id:{first}/erase", json={"reason": "r"}).json()
    assert erased["subject_id"] == first
    assert [s["name"] for s in api("tester", "GET", "/api/subjects").json()] == [first]


def test_an_unexpected_failure_is_a_500_problem_without_a_trace(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: Engine) -> None:
        raise RuntimeError("secret internals at /srv/facesearch/engine.py line 42")

    monkeypatch.setattr(Engine, "subjects", broken)
    client = TestClient(api.client.app, raise_server_exceptions=False)
    response = client.get("/api/subjects", headers={"Authorization": f"Bearer {api.tokens['tester']}"})
    body = problem(response, 500, "internal-error")
    assert "secret" not in response.text and "RuntimeError" not in response.text
    assert body["detail"] == "the service failed unexpectedly; the event was logged"
    assert "secret internals" in caplog.text  # the trace is in the server's log


def test_unknown_routes_and_methods_are_problems(api: Api) -> None:
    problem(api("tester", "GET", "/api/nothing-here"), 404, "not-found")
    problem(api("tester", "DELETE", "/api/subjects"), 405, "method-not-allowed")
    problem(api("tester", "GET", "/api/faces/0/thumbnail"), 422, "invalid-request")


def test_gallery_rules_over_the_api(api: Api) -> None:
    assert api("auditor", "GET", "/api/retention").json() == {"days": 3650}
    assert api("tester", "PUT", "/api/retention", json={"days": 30}).json() == {"days": 30, "images_dated": 0}
    problem(api("tester", "PUT", "/api/retention", json={"days": 0}), 422, "invalid-request")
    problem(api("operator", "PUT", "/api/retention", json={"days": 5}), 403, "permission-denied")
    certificate = api("tester", "POST", "/api/purge", json={"reason": "monthly"}).json()
    assert certificate["images_removed"] == 0 and certificate["reason"] == "monthly"

    added = api("tester", "POST", "/api/purposes", json={"name": "fraud check", "require_authorisation": True})
    assert added.status_code == 201 and added.json()["require_authorisation"] is True
    listed = {p["name"]: p for p in api("operator", "GET", "/api/purposes").json()}
    assert listed["fraud check"]["added_at"].endswith("Z")  # UTC, said so: an RFC 3339 date-time
    assert api("tester", "DELETE", "/api/purposes/fraud check").status_code == 204
    assert "fraud check" not in {p["name"] for p in api("operator", "GET", "/api/purposes").json()}

    assert api("tester", "POST", "/api/users", json={"name": "ann", "role": "auditor"}).status_code == 201
    problem(api("tester", "POST", "/api/users", json={"name": "bob", "role": "boss"}), 422, "bad-input")
    code = api("tester", "POST", "/api/users/ann/invite").json()["code"]
    issued = api.client.post("/api/activate", json={"code": code}).json()
    me = api.client.get("/api/me", headers={"Authorization": f"Bearer {issued['token']}"}).json()
    assert me["name"] == "ann" and me["role"] == "auditor"
    assert api("tester", "DELETE", f"/api/tokens/{issued['id']}").json()["user"] == "ann"
    problem(api.client.get("/api/me", headers={"Authorization": f"Bearer {issued['token']}"}), 401)

    assert api("auditor", "GET", "/api/holds").json() == []
    assert api("enroller", "GET", "/api/opt-outs").json() == []
    problem(api("tester", "POST", "/api/holds", json={"subject": "nobody", "reference": "r"}), 404, "subject-not-found")


def test_reports_over_the_api(api: Api) -> None:
    report = api("auditor", "GET", "/api/reports/transparency", params={"from": "2020-01-01", "to": "2099-12-31"})
    assert report.status_code == 200, report.text
    assert report.json()["events"] > 0 and report.json()["identify"]["total"] == 0
    problem(api("auditor", "GET", "/api/reports/transparency", params={"from": "2026-02-01", "to": "2026-01-01"}), 422)
    problem(api("auditor", "GET", "/api/reports/transparency", params={"from": "yesterday", "to": "2026-01-01"}), 422)
    problem(api("operator", "GET", "/api/reports/transparency", params={"from": "2026-01-01", "to": "2026-01-01"}), 403)
    assert api("operator", "GET", "/api/evaluation").json() == {"model_id": api.engine.spec.model_id, "latest": None}
    card = api("verifier", "GET", "/api/model-card").json()
    assert card["model_id"] == api.engine.spec.model_id and card["limits"]
    events = api("auditor", "GET", "/api/audit", params={"limit": 2}).json()
    later = api("auditor", "GET", "/api/audit", params={"after": events[0]["seq"], "limit": 1}).json()
    assert later == events[1:]


@pytest.mark.model
def test_opt_out_over_the_api(api: Api, photos: dict[str, Path]) -> None:
    problem(api("enroller", "POST", "/api/opt-outs", files=upload(photos["hopper"])), 422, "bad-input")
    recorded = api("enroller", "POST", "/api/opt-outs", files=upload(photos["hopper"]), data={"request": "req-1"})
    assert recorded.status_code == 201, recorded.text
    assert api("enroller", "GET", "/api/opt-outs").json()[0]["request_ref"] == "req-1"
    hopper = {"subject": "Grace Hopper", "source": "matplotlib sample", "basis": "public-task"}
    problem(
        api("enroller", "POST", "/api/enroll", files=upload(photos["hopper"], "files"), data=hopper), 403, "opted-out"
    )


@pytest.mark.model
def test_parallel_searches_and_an_enrollment_all_answer_and_the_audit_chain_holds(
    api: Api, photos: dict[str, Path]
) -> None:
    enroll = {"subject": "Eileen Collins", "source": "scikit-image sample", "basis": "consent"}
    assert api("enroller", "POST", "/api/enroll", files=upload(photos["astronaut"], "files"), data=enroll).is_success
    answers: dict[int, httpx.Response] = {}
    hopper = {"subject": "Grace Hopper", "source": "matplotlib sample", "basis": "public-task"}

    def request(n: int) -> None:
        if n == 0:  # one enrollment (a gallery and index change) among the searches
            answers[n] = api("enroller", "POST", "/api/enroll", files=upload(photos["hopper"], "files"), data=hopper)
        elif n == 1:
            answers[n] = api("tester", "GET", "/api/subjects")
        else:
            photo = "probe" if n % 2 else "astronaut"
            answers[n] = api("operator", "POST", "/api/identify", files=upload(photos[photo]), data=IDENTIFY)

    threads = [threading.Thread(target=request, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert {n: r.status_code for n, r in answers.items()} == dict.fromkeys(range(8), 200)
    searches = [answers[n].json() for n in range(2, 8)]
    assert {s["faces"][0]["candidates"][0]["subject"] for s in searches} == {"Eileen Collins"}
    assert {s["gallery_size"] for s in searches} <= {1, 2}  # before or after the enrollment, never torn
    assert len({s["audit_seq"] for s in searches}) == 6
    assert len(api("auditor", "GET", "/api/audit", params={"action": "search.identify"}).json()) == 6
    assert api("auditor", "GET", "/api/audit/verify").json()["ok"] is True
    found = api("operator", "POST", "/api/identify", files=upload(photos["hopper"]), data=IDENTIFY).json()
    assert found["gallery_size"] == 2 and found["faces"][0]["candidates"][0]["subject"] == "Grace Hopper"


@pytest.mark.parametrize("workers", [1, 2])
def test_facesearch_serve_answers_on_loopback(tmp_path: Path, models: DlibModels, workers: int) -> None:
    """The real command: 'facesearch serve' on a free port, answering the API with a real token, in
    one process or several worker processes that each open the gallery."""
    home = tmp_path / "home"
    with init_staffed(home, actor="tester", models=models) as engine:
        token = token_for(engine, "auditor")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = os.environ | {"FACESEARCH_HOME": str(home)}
    command = [sys.executable, "-m", "facesearch", "serve", "--port", str(port), "--workers", str(workers)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            assert server.poll() is None, server.communicate()[0]
            try:
                if httpx.get(f"{url}/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        for _ in range(2 * workers):
            me = httpx.get(f"{url}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert me.json()["role"] == "auditor"
        assert httpx.get(f"{url}/api/audit/verify", timeout=10).status_code == 401
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert f"on http://127.0.0.1:{port}/" in output and f"{workers} worker(s)" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("ada.jpg", "ada.jpg"),
        ("../../etc/passwd", "passwd"),
        ("C:\\photos\\ada 1.jpg", "ada 1.jpg"),
        ("a\x00b\n.jpg", "ab.jpg"),
        ("..", "file"),
        (None, "file"),
        ("x" * 300, "x" * 200),
    ],
)
def test_an_uploads_file_name_is_kept_as_a_plain_base_name(sent: str | None, kept: str) -> None:
    assert upload_name(sent, "file") == kept


def clustered_drive(api: Api, photos: dict[str, Path], tmp_path: Path, name: str) -> None:
    """Eileen Collins enrolled; a drive of her two photos and Grace Hopper's clustered as collection NAME."""
    drive = tmp_path / "drive"
    drive.mkdir()
    for photo in ("astronaut", "probe", "hopper"):
        (drive / f"{photo}.jpg").write_bytes(photos[photo].read_bytes())
    enroll = {"subject": "Eileen Collins", "source": "scikit-image sample", "basis": "consent"}
    assert api("enroller", "POST", "/api/enroll", files=upload(photos["astronaut"], "files"), data=enroll).is_success
    api.engine.acting_as("operator").collections.cluster(drive, name=name, min_size=1, **IDENTIFY)


@pytest.mark.model
def test_a_collections_clusters_over_the_api(api: Api, photos: dict[str, Path], tmp_path: Path) -> None:
    clustered_drive(api, photos, tmp_path, "drive-1")

    [listed] = api("operator", "GET", "/api/collections").json()
    assert (listed["name"], listed["case"], listed["faces"], listed["clusters"]) == ("drive-1", IDENTIFY["case"], 3, 2)
    assert api("auditor", "GET", "/api/collections", params={"offset": 1}).json() == []
    problem(api("enroller", "GET", "/api/collections"), 403, "permission-denied")
    clusters = api("operator", "GET", "/api/collections/drive-1/clusters", params={"min_size": 2}).json()
    assert [sorted(Path(p).stem for p in c["photos"]) for c in clusters] == [["astronaut", "probe"]]
    cluster = clusters[0]["cluster_id"]
    problem(api("operator", "POST", f"/api/clusters/{cluster}/identify", json={"case": "c"}), 403, "missing-purpose")
    found = api("operator", "POST", f"/api/clusters/{cluster}/identify", json=IDENTIFY)
    assert found.status_code == 200, found.text
    assert found.json()["candidates"][0]["subject"] == "Eileen Collins"
    assert found.json()["notice"].startswith("candidates, not identifications")
    labelled = api("operator", "PUT", f"/api/clusters/{cluster}/label", json={"label": "woman in orange"})
    assert labelled.json()["label"] == "woman in orange"
    problem(api("operator", "GET", "/api/collections/nope/clusters"), 422, "bad-input")  # the core: an input error
    problem(api("operator", "POST", "/api/collections/drive-1/delete", json={"reason": "x"}), 403, "permission-denied")
    deleted = api("tester", "POST", "/api/collections/drive-1/delete", json={"reason": "case closed"})
    assert deleted.json() == {"collection": "drive-1", "faces_removed": 3}


@pytest.mark.model
def test_a_whole_collection_is_swept_over_the_api(api: Api, photos: dict[str, Path], tmp_path: Path) -> None:
    clustered_drive(api, photos, tmp_path, "drive-s")
    url = "/api/collections/drive-s/identify"
    before = len(api("auditor", "GET", "/api/audit", params={"action": "search.identify"}).json())
    # Refused, each before any search: no credential, the wrong role, not a member of the collection's case,
    # another case than the collection's, no purpose, no such collection, a malformed body.
    problem(api("", "POST", url, json=IDENTIFY), 401, "authentication-failed")
    problem(api("verifier", "POST", url, json=IDENTIFY), 403, "permission-denied")
    problem(api("operator2", "POST", url, json={**IDENTIFY, "case": "own-case"}), 403, "not-a-case-member")
    other = problem(
        api("operator", "POST", url, json={**IDENTIFY, "case": "case-8"}), 403, "collection-of-another-case"
    )
    assert "search it under case 'case-7'" in other["detail"] and other["rule"] == "case"
    problem(api("operator", "POST", url, json={"case": IDENTIFY["case"]}), 403, "missing-purpose")
    problem(api("operator", "POST", "/api/collections/nope/identify", json=IDENTIFY), 422, "bad-input")
    problem(api("operator", "POST", url, json={**IDENTIFY, "top_k": 0}), 422)
    problem(api("operator", "POST", url, content=b"{not json", headers={"content-type": "application/json"}), 422)
    assert len(api("auditor", "GET", "/api/audit", params={"action": "search.identify"}).json()) == before
    swept = api("operator", "POST", url, json=IDENTIFY)
    assert swept.status_code == 200, swept.text
    sweep = swept.json()
    assert sweep["notice"].startswith("candidates, not identifications") and len(sweep["clusters"]) == 2
    assert sweep["threshold"]["meaning"] and sweep["threshold"]["scope"] == "1:N"
    [kept] = api("operator", "GET", f"/api/cases/{IDENTIFY['case']}/sweeps").json()
    assert kept == sweep
    problem(api("operator2", "GET", f"/api/cases/{IDENTIFY['case']}/sweeps"), 403, "not-a-case-member")
    problem(api("verifier", "GET", f"/api/cases/{IDENTIFY['case']}/sweeps"), 403, "permission-denied")
    pair = next(c for c in sweep["clusters"] if c["faces"] == 2)  # the astronaut and her probe
    assert pair["candidates"][0]["subject"] == "Eileen Collins" and pair["candidates"][0]["clears_threshold"]
    nominated = api(
        "operator", "POST", "/api/nominations", json={"search": pair["search_seq"], "subject": "Eileen Collins"}
    )
    assert nominated.status_code == 201, nominated.text
    [queued] = api("verifier", "GET", "/api/queue").json()
    assert queued["probe_kept"]  # the verifiers see the cluster's face nearest its template
    for verifier in ("verifier", "verifier2"):
        assert api(verifier, "POST", f"/api/nominations/{nominated.json()['nomination_id']}/confirm").is_success
    export = api("operator", "GET", f"/api/cases/{IDENTIFY['case']}/export").json()
    assert [s["sweep_id"] for s in export["sweeps"]] == [sweep["sweep_id"]] and export["identifications"]
    [event] = api("auditor", "GET", "/api/audit", params={"action": "collection.sweep"}).json()
    assert sorted(event["details"]["searches"]) == sorted(c["search_seq"] for c in sweep["clusters"])


@pytest.mark.model
def test_a_sweep_past_the_search_quota_is_429_before_any_search(
    tmp_path: Path, models: DlibModels, photos: dict[str, Path]
) -> None:
    drive = tmp_path / "drive"
    drive.mkdir()
    for name in ("astronaut", "hopper"):
        (drive / f"{name}.jpg").write_bytes(photos[name].read_bytes())
    settings = Settings(search_quota_per_hour=1)
    with init_staffed(tmp_path / "home", actor="tester", settings=settings, models=models) as engine:
        engine.acting_as("operator").collections.cluster(drive, name="drive-q", min_size=1, **IDENTIFY)
        token = token_for(engine, "operator")
        with TestClient(create_app(engine.home.root, engine=engine)) as client:
            headers = {"Authorization": f"Bearer {token}"}
            refused = client.post("/api/collections/drive-q/identify", headers=headers, json=IDENTIFY)
            body = problem(refused, 429, "quota-exceeded")
            assert body["rule"] == "quota" and "none was run" in body["detail"]
        assert engine.acting_as("auditor").audit_events(action="search.identify") == []


@pytest.mark.model
def test_a_used_up_search_quota_is_429(tmp_path: Path, models: DlibModels, photos: dict[str, Path]) -> None:
    settings = Settings(search_quota_per_hour=1)
    with init_staffed(tmp_path / "home", actor="tester", settings=settings, models=models) as engine:
        token = token_for(engine, "operator")
        with TestClient(create_app(engine.home.root, engine=engine)) as client:
            headers = {"Authorization": f"Bearer {token}"}
            first = client.post("/api/identify", headers=headers, files=upload(photos["probe"]), data=IDENTIFY)
            assert first.status_code == 200, first.text
            second = client.post("/api/identify", headers=headers, files=upload(photos["probe"]), data=IDENTIFY)
            body = problem(second, 429, "quota-exceeded")
            assert body["rule"] == "quota"
            # the first search leaves the hour's window in just under an hour
            assert 3500 < int(second.headers["Retry-After"]) <= 3600


def test_an_anonymous_upload_is_refused_before_its_body_is_read() -> None:
    """FastAPI reads a form before it checks the token: credentials must at least be present first."""
    import asyncio

    sent: list[dict[str, Any]] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the application was reached")

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body was read")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"content-type", b"multipart/form-data; boundary=x"), (b"content-length", b"2000000")]
    scope = {"type": "http", "method": "POST", "path": "/api/identify", "headers": headers, "query_string": b""}
    asyncio.run(CredentialsFirst(inner)(scope, receive, send))
    assert sent[0]["status"] == 401
    assert b'"code":"authentication-failed"' in sent[1]["body"]


def test_an_anonymous_post_is_401_like_any_other(api: Api, photos: dict[str, Path]) -> None:
    problem(
        api("", "POST", "/api/identify", files=upload(photos["probe"]), data=IDENTIFY), 401, "authentication-failed"
    )
    response = api.client.post("/api/identify", files=upload(photos["probe"]), headers={"Authorization": "Bearer x"})
    problem(response, 401, "authentication-failed")  # present but invalid: the token check refuses it, counted
    assert api("auditor", "GET", "/api/audit", params={"action": "auth.failed"}).json() == []
    assert counted(api) == {"no-credential": 1, "unknown-token": 1}


# --- videos (issue 20) -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cctv(tmp_path_factory: pytest.TempPathFactory, photos: dict[str, Path]) -> Path:
    """A video of Eileen Collins (her photo mirrored), made here from the sample photo."""
    astronaut = Image.open(photos["astronaut"]).convert("RGB").transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return write_video(tmp_path_factory.mktemp("cctv") / "cctv.webm", [(astronaut, 2)], codec="libvpx-vp9")


@pytest.mark.model
def test_a_video_uploaded_to_identify_is_searched_per_track(api: Api, photos: dict[str, Path], cctv: Path) -> None:
    enroll = {"subject": "Eileen Collins", "source": "scikit-image sample", "basis": "consent"}
    assert api("enroller", "POST", "/api/enroll", data=enroll, files=upload(photos["astronaut"], "files")).is_success
    sent = {"file": ("clip from the drive.webm", cctv.read_bytes(), "video/webm")}
    answer = api("operator", "POST", "/api/identify", data=IDENTIFY, files=sent)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["video"] is True and body["probe_sha256"] == hashlib.sha256(cctv.read_bytes()).hexdigest()
    [face] = body["faces"]
    assert face["seen_at"].startswith("00:00:0") and face["candidates"][0]["subject"] == "Eileen Collins"
    # Told by its first bytes too, whatever the client named it.
    renamed = {"file": ("upload", cctv.read_bytes(), "application/octet-stream")}
    assert api("operator", "POST", "/api/identify", data=IDENTIFY, files=renamed).json()["video"] is True


@pytest.mark.model
def test_a_video_upload_is_refused_as_a_photo_upload_is(api: Api, cctv: Path, tmp_path: Path) -> None:
    sent = {"file": ("cctv.webm", cctv.read_bytes(), "video/webm")}
    before = snapshot(api.engine)
    problem(api("", "POST", "/api/identify", data=IDENTIFY, files=sent), 401)
    problem(api("verifier", "POST", "/api/identify", data=IDENTIFY, files=sent), 403)
    assert snapshot(api.engine)[1] == before[1]  # the index untouched
    assert api.engine.acting_as("auditor").audit_events(action="search.identify") == []  # no search ran
    assert api("operator", "POST", "/api/identify", data=IDENTIFY, files=sent).is_success  # the case is theirs
    problem(api("operator2", "POST", "/api/identify", data=IDENTIFY, files=sent), 403, "not-a-case-member")
    cut = {"file": ("cut.webm", cctv.read_bytes()[: cctv.stat().st_size // 2], "video/webm")}
    body = problem(api("operator", "POST", "/api/identify", data=IDENTIFY, files=cut), 422)
    assert body["code"] in ("truncated-video", "not-a-video") and "cut.webm" in body["detail"]
    junk = {"file": ("junk.mp4", b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 40, "video/mp4")}
    problem(api("operator", "POST", "/api/identify", data=IDENTIFY, files=junk), 422, "not-a-video")
    refused = api.engine.acting_as("auditor").audit_events(action="photo.refused")
    assert [e.details["code"] for e in refused[-2:]] == [body["code"], "not-a-video"]
