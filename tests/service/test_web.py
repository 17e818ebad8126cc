"""The web UI through the application in process: sign-in, redirects, refusals, forms re-rendered
with the core's message, cross-site POSTs refused, thumbnails only for the signed-in with the role."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from facesearch.engine import Engine
from facesearch.reports.rendering import STYLESHEET
from facesearch.service import create_app
from facesearch.service.auth import COOKIE
from facesearch.service.web.pages import CANDIDATE_NOTICE

from helpers import token_for


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine.home.root, engine=engine), follow_redirects=False) as c:
        yield c


def token(engine: Engine, user: str) -> str:
    return token_for(engine, user)


def sign_in(client: TestClient, engine: Engine, user: str) -> TestClient:
    response = client.post("/login", data={"token": token(engine, user)})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/"
    return client


def test_pages_need_a_session(client: TestClient) -> None:
    for page in ("/", "/search", "/queue", "/subjects", "/audit", "/evaluation", "/cases/c1", "/cases"):
        response = client.get(page)
        assert response.status_code == 303, page
        assert response.headers["location"] == "/login"
    assert client.post("/subjects/erase", data={"subject": "x", "reason": "r"}).headers["location"] == "/login"
    assert client.post("/case-members", data={"case": "c1", "user": "x"}).headers["location"] == "/login"
    assert client.get("/faces/1/thumbnail").status_code == 401
    assert client.get("/nominations/1/probe").status_code == 401  # an image: no page to go back to
    login = client.get("/login")
    assert login.status_code == 200
    assert 'name="token"' in login.text and "text/html" in login.headers["content-type"]


def test_sign_in_keeps_a_session_not_the_token_in_a_strict_http_only_cookie(client: TestClient, engine: Engine) -> None:
    secret = token(engine, "operator")
    response = client.post("/login", data={"token": secret})
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=fss_") and secret not in cookie and secret.split("_", 2)[2] not in cookie
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=strict" in lowered and "path=/" in lowered and "expires=" in lowered
    session = response.cookies[COOKIE]
    assert session.encode() not in engine.home.database.read_bytes()  # the gallery keeps its SHA-256 only
    home = client.get("/")
    assert home.status_code == 200
    assert "operator" in home.text and 'href="/search"' in home.text
    assert 'href="/audit"' not in home.text  # links follow the role; the engine decides
    assert home.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in home.headers["content-security-policy"]
    out = client.post("/logout")
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert client.get("/").status_code == 303
    client.cookies.set(COOKIE, session)  # a copy of the cookie kept from before signing out
    assert client.get("/").status_code == 303  # the session ended in the gallery, not only in the browser
    [start] = engine.acting_as("auditor").audit_events(action="session.start")
    [end] = engine.acting_as("auditor").audit_events(action="session.end")
    assert start.actor == end.actor == "operator" and start.details["session_id"] == end.details["session_id"]


def test_pages_link_the_products_one_stylesheet_from_their_own_origin(client: TestClient) -> None:
    login = client.get("/login")
    assert '<link rel="stylesheet" href="/static/facesearch.css">' in login.text
    assert "style-src 'self'" in login.headers["content-security-policy"]
    css = client.get("/static/facesearch.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert css.text == STYLESHEET.read_text(encoding="utf-8")  # the file the reports inline


def test_a_bad_token_is_refused_with_the_core_message(client: TestClient, engine: Engine) -> None:
    response = client.post("/login", data={"token": "not-a-token"})
    assert response.status_code == 401
    assert "(authentication-failed)" in response.text and "the token is not valid" in response.text
    assert "Traceback" not in response.text
    # a token the gallery never issued names no one: counted (unknown-token), not audited
    assert engine.acting_as("auditor").audit_events(action="auth.failed") == []
    today = datetime.now(UTC).date()
    assert engine.acting_as("auditor").transparency_report(today, today).oversight.unattributed_by_reason == {
        "unknown-token": 1
    }
    # A stale cookie sends the user back to sign in, and the cookie is cleared.
    client.cookies.set(COOKIE, "revoked-or-forged")
    stale = client.get("/subjects")
    assert stale.status_code == 303 and stale.headers["location"] == "/login"
    assert f'{COOKIE}=""' in stale.headers["set-cookie"]


def test_a_role_without_the_permission_sees_the_refusal(client: TestClient, engine: Engine) -> None:
    sign_in(client, engine, "enroller")
    response = client.get("/search")
    assert response.status_code == 403
    assert "Refused" in response.text and "permission-denied" in response.text
    assert "the enroller role may not identify" in response.text
    refused = engine.acting_as("auditor").audit_events(action="policy.refused")
    assert any(e.actor == "enroller" for e in refused)
    assert client.get("/audit").status_code == 403
    erase = client.post("/subjects/erase", data={"subject": "nobody", "reason": "r", "confirm": "yes"})
    assert erase.status_code == 403 and "may not erase subjects" in erase.text


def test_cross_site_posts_are_refused(client: TestClient, engine: Engine) -> None:
    sign_in(client, engine, "tester")
    for header in ({"Origin": "https://evil.example"}, {"Referer": "https://evil.example/page"}, {"Origin": "null"}):
        response = client.post(
            "/subjects/erase", data={"subject": "x", "reason": "r", "confirm": "yes"}, headers=header
        )
        assert response.status_code == 403, header
        assert "cross-site-request" in response.text
    same = client.post(
        "/subjects/erase",
        data={"subject": "x", "reason": "r", "confirm": "yes"},
        headers={"Origin": "http://testserver"},
    )
    assert same.status_code == 404 and "subject-not-found" in same.text  # reached the core


def test_forms_re_render_with_the_core_message(client: TestClient, engine: Engine, photos: dict[str, Path]) -> None:
    sign_in(client, engine, "operator")
    form = client.get("/search")
    assert form.status_code == 200 and "missing person search" in form.text
    with photos["probe"].open("rb") as probe:
        response = client.post(
            "/search",
            data={"purpose": "", "case": "MP-1", "authorisation": ""},
            files={"probe": ("probe.jpg", probe, "image/jpeg")},
        )
    assert response.status_code == 403
    assert "missing-purpose" in response.text and "must state its purpose" in response.text
    assert 'value="MP-1"' in response.text  # what was typed is kept
    with photos["probe"].open("rb") as probe:
        warrant = client.post(
            "/search",
            data={"purpose": "warrant search", "case": "MP-1"},
            files={"probe": ("probe.jpg", probe, "image/jpeg")},
        )
    assert warrant.status_code == 403 and "authorisation" in warrant.text
    empty = client.post("/search", data={"purpose": "p", "case": "c"}, files={"probe": ("x.jpg", b"", "image/jpeg")})
    assert empty.status_code == 422 and "empty" in empty.text

    sign_in(client, engine, "enroller")
    with photos["astronaut"].open("rb") as photo:
        enroll = client.post(
            "/subjects/enroll",
            data={"subject": "Eileen Collins", "source": "sample", "basis": ""},
            files={"photos": ("a.jpg", photo, "image/jpeg")},
        )
    assert enroll.status_code == 403 and "missing-lawful-basis" in enroll.text
    assert 'value="Eileen Collins"' in enroll.text
    assert engine.subjects() == []


def test_erasure_needs_the_box_ticked(client: TestClient, engine: Engine) -> None:
    sign_in(client, engine, "tester")
    response = client.post("/subjects/erase", data={"subject": "x", "reason": "asked"})
    assert response.status_code == 422 and "tick the box" in response.text


def test_audit_and_evaluation_pages_for_auditors(client: TestClient, engine: Engine) -> None:
    sign_in(client, engine, "auditor")
    audit = client.get("/audit")
    assert audit.status_code == 200 and "Audit chain intact" in audit.text
    assert "user.add" in audit.text
    filtered = client.get("/audit", params={"action": "purpose.add"})
    assert "purpose.add" in filtered.text and "<td>user.add</td>" not in filtered.text
    evaluation = client.get("/evaluation")
    assert evaluation.status_code == 200 and "Model card" in evaluation.text and "Limits" in evaluation.text
    sign_in(client, engine, "operator")
    assert client.get("/evaluation").status_code == 403


def test_the_evaluation_page_shows_the_latest_evaluation_and_its_report(client: TestClient, engine: Engine) -> None:
    folder = engine.home.evaluations_dir
    folder.mkdir(parents=True, exist_ok=True)
    summary = {
        "model_id": engine.spec.model_id,
        "dataset": "lfw",
        "measured_at": "2026-11-01T10:00:00",
        "eer": 0.0123,
        "accuracy": 0.9833333333333333,
    }
    (folder / "20261101T100000-abc.json").write_text(json.dumps(summary), encoding="utf-8")
    (folder / "evaluation.html").write_text("<h1>the full report</h1>", encoding="utf-8")
    sign_in(client, engine, "auditor")
    page = client.get("/evaluation")
    assert page.status_code == 200 and "0.0123" in page.text and 'href="/evaluation/report"' in page.text
    assert "0.9833" in page.text and "0.98333" not in page.text  # figures as people read them
    report = client.get("/evaluation/report")
    assert report.status_code == 200 and "the full report" in report.text
    assert "default-src 'none'" in report.headers["content-security-policy"]
    sign_in(client, engine, "verifier")
    assert client.get("/evaluation/report").status_code == 403


def test_the_audit_page_shows_a_broken_chain(client: TestClient, engine: Engine) -> None:
    with engine.store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE audit_events SET actor = 'nobody' WHERE seq = 2")
    sign_in(client, engine, "auditor")
    audit = client.get("/audit")
    assert audit.status_code == 200
    assert "Audit chain BROKEN at event #2" in audit.text


@pytest.mark.model
def test_search_result_and_thumbnails(enrolled: Engine, photos: dict[str, Path]) -> None:
    with TestClient(create_app(enrolled.home.root, engine=enrolled), follow_redirects=False) as client:
        sign_in(client, enrolled, "operator")
        with photos["probe"].open("rb") as probe:
            response = client.post(
                "/search",
                data={"purpose": "missing person search", "case": "MP-7"},
                files={"probe": ("probe.jpg", probe, "image/jpeg")},
            )
        assert response.status_code == 200, response.text
        page = response.text
        assert page.count(CANDIDATE_NOTICE) == 1  # the notice once, not on every table
        assert "data:image/jpeg;base64," in page and page.count('class="face-box"') >= 1
        # The line in plain words first, the technical detail folded away.
        threshold = page.split('data-testid="threshold"')[1].split("</section>")[0]
        plain, folded = threshold.split("<details>")
        assert re.search(
            r"About <strong data-testid=\"fpir\">1 in [\d,]+</strong> searches for someone who is not", plain
        )
        assert "1:N" not in plain and "impostor" not in plain and "impostor pairs" in folded
        # Only a candidate above the line can be nominated, and its row says so.
        rows = re.findall(r'<tr class="candidate (clears|below)">(.*?)</tr>', page, re.S)
        assert rows and rows[0][0] == "clears" and "Eileen Collins" in rows[0][1]
        assert all(("Nominate" in row) == (kind == "clears") for kind, row in rows)
        assert 'data-testid="clears-1"' in page and "none-clear" not in page
        assert not re.search(r"\d\.\d{5,}|e-0\d", page.split("<details>")[0])  # one number format: no raw floats
        assert 'src="/faces/1/thumbnail"' in page  # enrolled crops are kept by default
        thumb = client.get("/faces/1/thumbnail")
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
        search = re.search(r'name="search" value="(\d+)"', page)
        subject = re.search(r'name="subject" value="(id:[0-9a-f]+)"', page)  # the candidate by its id
        assert search and subject
        nominated = client.post("/nominate", data={"search": search[1], "subject": subject[1], "face": "0"})
        assert nominated.status_code == 303 and nominated.headers["location"].startswith("/cases/MP-7?nominated=")
        case = client.get(nominated.headers["location"])
        assert "needs two separate confirmations" in case.text and "pending" in case.text
        again = client.post("/nominate", data={"search": search[1], "subject": subject[1], "face": "0"})
        assert again.status_code == 422 and "already nominated" in again.text
        assert client.get("/queue").status_code == 403  # operators do not confirm

        sign_in(client, enrolled, "verifier")
        queue = client.get("/queue")
        assert queue.status_code == 200 and "Nomination #1" in queue.text and "pending" not in queue.text
        # The searched face beside the candidate's enrolled faces, each view audited.
        compare = queue.text.split('data-testid="compare-1"')[1].split("</div>\n  <p")[0]
        assert compare.index('src="/nominations/1/probe"') < compare.index('src="/faces/')
        probe = client.get("/nominations/1/probe")
        assert probe.status_code == 200 and probe.headers["content-type"] == "image/jpeg"
        assert probe.headers["cache-control"] == "private, no-store"
        assert client.get("/nominations/99/probe").status_code == 404
        views = enrolled.acting_as("auditor").audit_events(action="probe.view")
        assert [(e.actor, e.case) for e in views] == [("verifier", "MP-7")]
        no_reason = client.post("/queue/1/reject", data={"reason": " "})
        assert no_reason.status_code == 422 and "needs its reason" in no_reason.text
        assert "Nomination #1" in no_reason.text  # the queue is shown again, the nomination still in it
        rejected = client.post("/queue/1/reject", data={"reason": "different ear shape"})
        assert rejected.status_code == 200 and "Your rejection of nomination #1 is recorded" in rejected.text
        twice = client.post("/queue/1/confirm", data={})
        assert twice.status_code == 403 and "already decided" in twice.text

        sign_in(client, enrolled, "operator")
        export = client.post("/export", data={"case": "MP-7"})
        assert export.status_code == 403 and "no identification confirmed" in export.text
        sign_in(client, enrolled, "auditor")
        assert client.get("/faces/1/thumbnail").status_code == 403
        assert client.get("/nominations/1/probe").status_code == 403


@pytest.mark.model
def test_a_search_with_no_candidate_above_the_line_says_so(engine: Engine, photos: dict[str, Path]) -> None:
    engine.acting_as("enroller").enroll(photos["astronaut"], subject="Eileen Collins", source="s", basis="consent")
    with TestClient(create_app(engine.home.root, engine=engine), follow_redirects=False) as client:
        sign_in(client, engine, "operator")
        response = client.post(
            "/search",
            data={"purpose": "missing person search", "case": "MP-9"},
            files={"probe": ("hopper.jpg", photos["hopper"].read_bytes(), "image/jpeg")},
        )
    assert response.status_code == 200, response.text
    page = response.text
    assert 'data-testid="none-clear-1"' in page and "No candidate is above the line for face 1" in page
    assert '<tr class="candidate below">' in page and "Eileen Collins" in page
    assert 'action="/nominate"' not in page  # nothing below the line can be nominated


@pytest.mark.model
def test_the_case_page_shows_its_members_and_lets_the_owner_add_one(enrolled: Engine, photos: dict[str, Path]) -> None:
    enrolled.accounts.add_user("operator-2", "operator")
    search = enrolled.acting_as("operator").identify(photos["probe"], purpose="missing person search", case="MP-8")
    nid = enrolled.acting_as("operator").cases.nominate(search.audit_seq, "Eileen Collins").nomination_id
    with TestClient(create_app(enrolled.home.root, engine=enrolled), follow_redirects=False) as client:
        sign_in(client, enrolled, "verifier")  # verifiers decide, and add no one
        assert client.post("/case-members", data={"case": "MP-8", "user": "operator-2"}).status_code == 403
        assert client.get("/nominations/not-a-number/probe").status_code == 422
        sign_in(client, enrolled, "operator-2")  # not a member: the case is refused, and so is adding oneself
        assert client.get(f"/nominations/{nid}/probe").status_code == 403  # another case's probe face
        refused = client.get("/cases/MP-8")
        assert refused.status_code == 403 and "not-a-case-member" in refused.text and "MP-8" in refused.text
        added = client.post("/case-members", data={"case": "MP-8", "user": "operator-2"})
        assert added.status_code == 403 and "only the owner of case" in added.text
        assert "Who works this case" not in added.text
        searched = client.post(
            "/search",
            data={"purpose": "missing person search", "case": "MP-8"},
            files={"probe": ("probe.jpg", photos["probe"].read_bytes(), "image/jpeg")},
        )
        assert searched.status_code == 403 and "may not search under it" in searched.text

        sign_in(client, enrolled, "operator")  # the owner
        page = client.get("/cases/MP-8")
        assert page.status_code == 200 and 'data-testid="case-members"' in page.text
        assert "Opened by <strong>operator</strong>" in page.text and 'action="/case-members"' in page.text
        wrong = client.post("/case-members", data={"case": "MP-8", "user": "verifier"})
        assert wrong.status_code == 422 and "only operators work cases" in wrong.text
        assert 'value="verifier"' in wrong.text  # the form keeps what was typed
        empty = client.post("/case-members", data={"case": "MP-8", "user": " "})
        assert empty.status_code == 422 and "name the operator" in empty.text
        foreign = client.post(
            "/case-members", data={"case": "MP-8", "user": "operator-2"}, headers={"Origin": "https://evil.example"}
        )
        assert foreign.status_code == 403 and "cross-site-request" in foreign.text
        done = client.post("/case-members", data={"case": "MP-8", "user": "operator-2"})
        assert done.status_code == 200 and "operator-2 is now a member of case MP-8" in done.text

        sign_in(client, enrolled, "operator-2")  # now a member, not the owner: reads, adds nobody
        member = client.get("/cases/MP-8")
        assert member.status_code == 200 and "operator-2, added by operator" in member.text
        assert 'action="/case-members"' not in member.text
        sign_in(client, enrolled, "auditor")  # oversight: reads the case, adds nobody
        overseen = client.get("/cases/MP-8")
        assert overseen.status_code == 200 and 'action="/case-members"' not in overseen.text
        sign_in(client, enrolled, "tester")  # an admin sees the control
        assert 'action="/case-members"' in client.get("/cases/MP-8").text
        assert client.get("/cases/NEVER-OPENED").status_code == 200  # an admin may look up any reference
    refusals = enrolled.acting_as("auditor").audit_events(action="policy.refused", case="MP-8")
    assert [e.actor for e in refusals] == ["operator-2"] * 4


def test_activation_in_the_browser_shows_the_token_once_and_signs_in(client: TestClient, engine: Engine) -> None:
    form = client.get("/activate")
    assert form.status_code == 200 and 'name="code"' in form.text
    assert 'href="/activate"' in client.get("/login").text
    code = engine.accounts.invite("verifier").code
    shown = client.post("/activate", data={"code": code})
    assert shown.status_code == 200, shown.text
    found = re.search(r'value="(fs_[^"]+)"', shown.text)
    assert found and "shown this once" in shown.text
    token_shown = found[1]
    assert engine.authenticate(token_shown).name == "verifier"
    assert shown.headers["cache-control"] == "no-store" and token_shown not in shown.headers["set-cookie"]
    assert client.get("/queue").status_code == 200  # signed in as the verifier
    client.cookies.clear()
    again = client.post("/activate", data={"code": code})
    assert again.status_code == 401 and "already been used" in again.text and "fs_" not in again.text
    assert client.post("/activate", data={"code": ""}).status_code == 401
    assert client.post("/activate", data={"code": "x" * 600}).status_code == 422


def test_revoking_the_token_or_disabling_the_user_ends_the_session(client: TestClient, engine: Engine) -> None:
    secret = token(engine, "auditor")
    sign_in_with = client.post("/login", data={"token": secret})
    assert sign_in_with.status_code == 303 and client.get("/audit").status_code == 200
    engine.accounts.revoke_token(secret.split("_")[1])
    assert client.get("/audit").headers["location"] == "/login"
    client.post("/login", data={"token": token(engine, "auditor")})
    assert client.get("/audit").status_code == 200
    engine.accounts.disable_user("auditor")
    assert client.get("/audit").headers["location"] == "/login"


def test_a_token_in_a_cookie_signs_no_one_in(client: TestClient, engine: Engine) -> None:
    client.cookies.set(COOKIE, token(engine, "tester"))  # the raw token where the session belongs
    assert client.get("/subjects").headers["location"] == "/login"
    client.cookies.clear()
    client.cookies.set("facesearch_token", token(engine, "tester"))  # the cookie of earlier versions
    assert client.get("/subjects").headers["location"] == "/login"


# --- the pages issue 18 added: each calls the core verb the API calls, and is refused as the API is ---


def add_subjects(engine: Engine, names: list[str]) -> None:
    with engine.store.transaction() as session:
        for name in names:
            engine.store.ensure_subject(session, name)


def test_new_pages_need_a_session_and_refuse_other_roles(client: TestClient, engine: Engine) -> None:
    gets = ("/verify", "/admin/users", "/admin/purposes", "/admin/retention", "/opt-outs", "/cases")
    posts = ("/verify", "/admin/users", "/admin/users/invite", "/admin/tokens/revoke", "/admin/purposes", "/opt-outs")
    for page in gets:
        assert client.get(page).headers["location"] == "/login", page
    for page in posts:
        assert client.post(page, data={"name": "x"}).headers["location"] == "/login", page
    sign_in(client, engine, "verifier")  # a verifier works no case, manages nothing, searches nothing
    for page in gets:
        refused = client.get(page)
        assert refused.status_code == 403 and "permission-denied" in refused.text, page
    for page, data in (
        ("/admin/users", {"name": "mallory", "role": "admin"}),
        ("/admin/users/invite", {"name": "operator"}),
        ("/admin/purposes", {"name": "anything"}),
        ("/admin/retention", {"days": "1"}),
        ("/admin/holds", {"subject": "x", "reference": "r"}),
    ):
        refused = client.post(page, data=data)
        assert refused.status_code == 403 and "permission-denied" in refused.text, page
        assert "fsa_" not in refused.text
    assert "mallory" not in {u.name for u in engine.accounts.users()}
    assert engine.retention.period() != 1
    refusals = engine.acting_as("auditor").audit_events(action="policy.refused")
    assert sum(e.actor == "verifier" for e in refusals) == len(gets) + 5  # each refusal audited, once
    home = client.get("/")
    assert 'href="/admin/users"' not in home.text and 'href="/queue"' in home.text


def test_the_admin_adds_a_user_issues_a_code_and_never_sees_a_token(client: TestClient, engine: Engine) -> None:
    secret = token(engine, "operator")  # a token that exists: never on the admin's page
    sign_in(client, engine, "tester")
    page = client.get("/admin/users")
    assert page.status_code == 200 and 'data-testid="user-operator"' in page.text
    assert secret not in page.text and secret.split("_")[1] in page.text  # the token's id, not its secret
    empty = client.post("/admin/users", data={"name": "ada", "role": ""})
    assert empty.status_code == 422 and "choose the new user" in empty.text and 'value="ada"' in empty.text
    bad = client.post("/admin/users", data={"name": "ada", "role": "overlord"})
    assert bad.status_code == 422 and "overlord" in bad.text
    control = client.post("/admin/users", data={"name": "ada\u202e", "role": "operator"})
    assert control.status_code == 422 and "control character" in control.text
    added = client.post("/admin/users", data={"name": "ada", "role": "operator"})
    assert added.status_code == 200 and "Added ada as operator" in added.text
    again = client.post("/admin/users", data={"name": "ada", "role": "operator"})
    assert again.status_code >= 400 and "ada" in again.text
    issued = client.post("/admin/users/invite", data={"name": "ada"})
    code = re.search(r'value="(fsa_[^"]+)"', issued.text)
    assert issued.status_code == 200 and code and "only they see (not you)" in issued.text
    new_token = engine.signin.redeem(code[1])  # ada redeems it: the admin's page never shows her token
    listed = client.get("/admin/users")
    assert new_token.token not in listed.text and f"<code>{new_token.id}</code>" in listed.text
    assert client.post("/admin/users/invite", data={"name": "nobody"}).status_code >= 400
    foreign = client.post(
        "/admin/tokens/revoke", data={"token_id": new_token.id}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403 and "cross-site-request" in foreign.text
    assert engine.authenticate(new_token.token).name == "ada"
    revoked = client.post("/admin/tokens/revoke", data={"token_id": new_token.id})
    assert revoked.status_code == 200 and f"Revoked token {new_token.id} of ada" in revoked.text
    unticked = client.post("/admin/users/disable", data={"name": "operator"})
    assert unticked.status_code == 422 and "tick the box" in unticked.text
    disabled = client.post("/admin/users/disable", data={"name": "operator", "confirm": "yes"})
    assert disabled.status_code == 200 and "Disabled operator: 1 token(s) revoked" in disabled.text
    actions = [e.action for e in engine.acting_as("auditor").audit_events()]
    assert {"user.add", "activation.issue", "token.revoke", "user.disable"} <= set(actions)


def test_the_admin_allows_and_removes_purposes(client: TestClient, engine: Engine) -> None:
    sign_in(client, engine, "tester")
    page = client.get("/admin/purposes")
    assert page.status_code == 200 and "warrant search" in page.text and "required" in page.text
    added = client.post("/admin/purposes", data={"name": "fraud review", "require_authorisation": "yes"})
    assert added.status_code == 200 and "each with an authorisation reference" in added.text
    assert any(p.name == "fraud review" and p.require_authorisation for p in engine.purposes.list())
    assert client.post("/admin/purposes", data={"name": " "}).status_code == 422
    removed = client.post("/admin/purposes/remove", data={"name": "fraud review"})
    assert removed.status_code == 200 and "no longer serve" in removed.text
    assert client.post("/admin/purposes/remove", data={"name": "fraud review"}).status_code == 422
    sign_in(client, engine, "operator")  # reads the purposes on the search form; changes none
    assert client.get("/admin/purposes").status_code == 403
    assert client.post("/admin/purposes", data={"name": "mine"}).status_code == 403


def test_retention_holds_and_purge(client: TestClient, engine: Engine) -> None:
    add_subjects(engine, ["Ada Lovelace"])
    sign_in(client, engine, "tester")
    page = client.get("/admin/retention")
    assert page.status_code == 200 and "3650 days" in page.text and 'data-testid="no-holds"' in page.text
    bad = client.post("/admin/retention", data={"days": "ten"})
    assert bad.status_code == 422 and "whole number of days" in bad.text
    assert client.post("/admin/retention", data={"days": "0"}).status_code == 422
    assert "now 365 days" in client.post("/admin/retention", data={"days": "365"}).text
    assert client.post("/admin/holds", data={"subject": "Nobody", "reference": "CO-1"}).status_code == 404
    assert client.post("/admin/holds", data={"subject": "Ada Lovelace", "reference": ""}).status_code == 422
    held = client.post("/admin/holds", data={"subject": "Ada Lovelace", "reference": "CO-1"})
    assert held.status_code == 200 and "under legal hold CO-1" in held.text and 'data-testid="holds"' in held.text
    unticked = client.post("/admin/purge", data={"reason": "expired"})
    assert unticked.status_code == 422 and "tick the box" in unticked.text
    purged = client.post("/admin/purge", data={"reason": "expired", "confirm": "yes"})
    assert purged.status_code == 200 and 'data-testid="purged"' in purged.text
    sign_in(client, engine, "auditor")  # oversight: reads the holds, changes nothing
    overseen = client.get("/admin/retention")
    assert overseen.status_code == 200 and "CO-1" in overseen.text and 'action="/admin/holds' not in overseen.text
    refused = client.post("/admin/holds/release", data={"subject": "Ada Lovelace", "reference": "CO-1"})
    assert refused.status_code == 403
    sign_in(client, engine, "tester")
    released = client.post("/admin/holds/release", data={"subject": "Ada Lovelace", "reference": "CO-1"})
    assert released.status_code == 200 and "Released hold CO-1" in released.text
    assert engine.retention.holds() == []


def test_opt_outs_page(client: TestClient, engine: Engine) -> None:
    sign_in(client, engine, "enroller")
    page = client.get("/opt-outs")
    assert page.status_code == 200 and 'data-testid="no-opt-outs"' in page.text and 'action="/opt-outs"' in page.text
    no_photo = client.post("/opt-outs", data={"request_ref": "R-1"})
    assert no_photo.status_code == 422 and "choose a photo" in no_photo.text and 'value="R-1"' in no_photo.text
    not_image = client.post(
        "/opt-outs", data={"request_ref": "R-1"}, files={"photo": ("a.jpg", b"name,source\n", "image/jpeg")}
    )
    assert not_image.status_code == 422 and "not-an-image" in not_image.text
    sign_in(client, engine, "auditor")
    assert 'action="/opt-outs"' not in client.get("/opt-outs").text
    sign_in(client, engine, "operator")
    assert client.get("/opt-outs").status_code == 403


def test_the_cases_page_lists_a_users_own_cases(client: TestClient, engine: Engine) -> None:
    from facesearch.governance import membership

    engine.accounts.add_user("operator-2", "operator")
    with engine.store.transaction() as session:
        for case, owner in (("MP-1", "operator"), ("MP-2", "operator-2")):
            membership.enter(session, engine.acting_as(owner)._context, case, "search")
    sign_in(client, engine, "operator")
    page = client.get("/cases")
    assert page.status_code == 200 and 'href="/cases/MP-1"' in page.text and "MP-2" not in page.text
    assert client.get("/cases", params={"case": "MP-2"}).headers["location"] == "/cases/MP-2"
    assert client.get("/cases/MP-2").status_code == 403  # another's case: refused by the core
    assert client.get("/cases", params={"page": "0"}).status_code == 422
    sign_in(client, engine, "auditor")
    overseen = client.get("/cases").text
    assert 'href="/cases/MP-1"' in overseen and 'href="/cases/MP-2"' in overseen


def test_subjects_page_and_search(client: TestClient, engine: Engine) -> None:
    add_subjects(engine, [f"Person {n:03d}" for n in range(120)] + ["Zoë 100%"])
    sign_in(client, engine, "enroller")
    first = client.get("/subjects")
    assert first.text.count('data-testid="subject-row"') == 50 and 'href="/subjects?page=2"' in first.text
    assert "Person 000" in first.text and "Person 050" not in first.text
    assert 'href="/subjects?enroll=Person+000#enroll-h"' in first.text  # add photos without retyping the name
    last = client.get("/subjects", params={"page": 3})
    assert last.text.count('data-testid="subject-row"') == 21 and 'rel="next"' not in last.text
    found = client.get("/subjects", params={"q": "person 11"})
    assert found.text.count('data-testid="subject-row"') == 10 and "Person 119" in found.text
    assert client.get("/subjects", params={"q": "100%"}).text.count('data-testid="subject-row"') == 1
    assert 'data-testid="no-subjects"' in client.get("/subjects", params={"q": "nobody"}).text
    assert client.get("/subjects", params={"page": "-1"}).status_code == 422
    picked = client.get("/subjects", params={"enroll": "Person 007"})
    assert 'id="subject" name="subject" value="Person 007"' in picked.text


def test_the_audit_log_pages_newest_first(client: TestClient, engine: Engine) -> None:
    add_subjects(engine, ["Ada"])
    for n in range(60):
        engine.purposes.add(f"purpose {n}")
    sign_in(client, engine, "auditor")
    first = client.get("/audit")
    seqs = [int(s) for s in re.findall(r'<td class="num">(\d+)</td>', first.text)]
    assert len(seqs) == 50 and seqs == sorted(seqs, reverse=True)
    older = re.search(r'href="/audit\?([^"]+)" rel="next"', first.text)
    assert older and f"before={seqs[-1]}" in older[1]
    second = client.get(f"/audit?{older[1].replace('&amp;', '&')}")
    more = [int(s) for s in re.findall(r'<td class="num">(\d+)</td>', second.text)]
    assert "Audit chain intact" in first.text and "recomputed on" in second.text  # the whole log is read once
    assert more and max(more) == seqs[-1] - 1
    assert "<dt>purpose</dt><dd>purpose 59</dd>" in first.text  # details as readable lines, not key=value
    assert '<td class="nowrap">' in first.text
    only = client.get("/audit", params={"action": "user.add"})
    assert '<td class="nowrap">user.add</td>' in only.text and "purpose.add</td>" not in only.text
    assert client.get("/audit", params={"before": "0"}).status_code == 422


@pytest.mark.model
def test_verify_compares_two_photos_in_plain_words(client: TestClient, engine: Engine, photos: dict[str, Path]) -> None:
    sign_in(client, engine, "operator")
    form = client.get("/verify")
    assert form.status_code == 200 and 'name="photo_b"' in form.text and "missing person search" in form.text

    def compare(a: str, b: str, **fields: str) -> Any:
        data = {"purpose": "missing person search", "case": "MP-V"} | fields
        files = {
            "photo_a": (f"{a}.jpg", photos[a].read_bytes(), "image/jpeg"),
            "photo_b": (f"{b}.jpg", photos[b].read_bytes(), "image/jpeg"),
        }
        return client.post("/verify", data=data, files=files)

    same = compare("astronaut", "probe")
    assert same.status_code == 200, same.text
    assert "Above the line: the two faces are alike" in same.text and same.text.count("data:image/jpeg") == 2
    assert "How the line was set" in same.text and "1:1" in same.text
    different = compare("astronaut", "hopper")
    assert different.status_code == 200 and "Below the line" in different.text
    unbound = compare("astronaut", "hopper", purpose="")
    assert unbound.status_code == 403 and "missing-purpose" in unbound.text and 'value="MP-V"' in unbound.text
    one = client.post("/verify", data={"purpose": "p", "case": "c"}, files={"photo_a": ("a.jpg", b"x", "image/jpeg")})
    assert one.status_code == 422 and "choose both photos" in one.text
    sign_in(client, engine, "auditor")
    assert client.get("/verify").status_code == 403
    verifies = engine.acting_as("auditor").audit_events(action="search.verify")
    assert [e.case for e in verifies] == ["MP-V", "MP-V"]
