"""The web UI in a real browser: Debian's Chromium, headless, driven by Playwright against a live
server on 127.0.0.1, through the whole flow: enroll, search, nominate, two confirmations by two
verifiers, export, erase, audit. A screenshot is saved at each step (folder: env
FACESEARCH_SCREENSHOTS, else the test's temporary folder).

Skipped when /usr/bin/chromium or Playwright is absent, unless FACESEARCH_REQUIRE_BROWSER=1, when
that is a failure instead. Playwright never downloads a browser here: it runs Debian's."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from facesearch.pipeline.models import DlibModels
from facesearch.service import create_app
from facesearch.service.web.pages import CANDIDATE_NOTICE

from helpers import init_staffed, token_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
CASE = "MP-2026-017"
NOTE = "same face as the file photo, checked by eye"


def _unavailable(reason: str) -> None:
    if os.environ.get("FACESEARCH_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}, and FACESEARCH_REQUIRE_BROWSER=1 requires the browser tests to run")
    pytest.skip(f"{reason}: the browser tests need Debian's chromium package (apt-get install chromium)")


@pytest.fixture
def sync_playwright() -> Any:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is absent")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed (pip install playwright; no browser download is needed)")
    return sync_playwright


class LiveServer:
    """The application under uvicorn in a thread, on a free port of 127.0.0.1."""

    def __init__(self, app: Any) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the live server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("FACESEARCH_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def live(tmp_path: Path, models: DlibModels) -> Iterator[tuple[str, dict[str, str]]]:
    """A gallery (keeping face crops, as by default), staffed with a second verifier; its URL and each
    user's own token, except verifier2's: theirs is an activation code, which they redeem in the browser."""
    engine = init_staffed(tmp_path / "home", actor="admin", models=models)
    engine.accounts.add_user("verifier2", "verifier")
    users = ("admin", "enroller", "operator", "verifier", "auditor")
    tokens = {user: token_for(engine, user) for user in users} | {"verifier2": engine.accounts.invite("verifier2").code}
    try:
        with LiveServer(create_app(engine.home.root, engine=engine)) as server:
            yield server.url, tokens
    finally:
        engine.close()


@pytest.mark.model
def test_the_whole_flow_in_chromium(
    sync_playwright: Any, live: tuple[str, dict[str, str]], photos: dict[str, Path], screenshots: Path
) -> None:
    url, tokens = live
    shots: list[Path] = []

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)

        def signed_in(user: str) -> Any:
            """A page in a browser context of its own (its own cookies), signed in as USER, with their
            token, or by activating their account with their code (a code starts 'fsa_')."""
            context = browser.new_context(base_url=url, accept_downloads=True, viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.set_default_timeout(20_000)
            page.goto("/search")  # a page needs a session: sent to sign in
            assert page.url.endswith("/login")
            if tokens[user].startswith("fsa_"):
                page.get_by_role("link", name="Activate your account").click()
                page.get_by_label("Activation code").fill(tokens[user])
                page.get_by_role("button", name="Activate").click()
                assert page.get_by_test_id("new-token").input_value().startswith("fs_")  # shown to them, once
                shot(page, f"activated-{user}")
                page.get_by_role("link", name="Go to the start page").click()
            else:
                page.get_by_label("API token").fill(tokens[user])
                page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{url}/")
            assert page.get_by_test_id("whoami").inner_text() == user
            return page

        def shot(page: Any, name: str) -> None:
            path = screenshots / f"{len(shots) + 1:02d}-{name}.png"
            page.screenshot(path=str(path), full_page=True)
            shots.append(path)

        # 1. The enroller enrolls two subjects, each photo with its source and lawful basis.
        enroller = signed_in("enroller")
        enroller.goto("/subjects")
        for name, photo, basis in (
            ("Eileen Collins", "astronaut", "consent"),
            ("Grace Hopper", "hopper", "public-task"),
        ):
            enroller.get_by_label("Photos", exact=True).set_input_files(str(photos[photo]))
            enroller.get_by_label("Subject's name").fill(name)
            enroller.get_by_label("Source").fill("sample photos shipped with scikit-image and matplotlib")
            enroller.get_by_label("Lawful basis").select_option(basis)
            enroller.get_by_role("button", name="Enroll").click()
            enroller.get_by_text(f"Enrolled 1 photo(s) of {name}").wait_for()
        assert enroller.get_by_test_id("subject-row").count() == 2
        shot(enroller, "enrolled")

        # 2. The operator searches the probe for a purpose and a case, sees the face boxed and the
        # candidates with their enrolled faces, and nominates the best one.
        operator = signed_in("operator")
        operator.goto("/search")
        operator.get_by_label("Probe photo").set_input_files(str(photos["probe"]))
        operator.get_by_label("Purpose", exact=True).select_option("missing person search")
        operator.get_by_label("Case or file reference").fill(CASE)
        operator.get_by_role("button", name="Search").click()
        operator.get_by_test_id("notice").wait_for()
        assert CANDIDATE_NOTICE in operator.get_by_test_id("notice").inner_text()
        assert operator.locator("svg[data-testid=probe] rect.face-box").count() == 1
        assert operator.locator("svg[data-testid=probe] image").get_attribute("href").startswith("data:image/jpeg")
        best = operator.locator("tr.candidate").first
        assert "Eileen Collins" in best.inner_text()
        thumb = best.locator("img.thumb")
        thumb.wait_for()
        operator.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle())
        assert "above the line" in best.inner_text()  # clears the threshold
        shot(operator, "search-result")
        best.get_by_role("button", name="Nominate Eileen Collins for face 1").click()
        operator.get_by_text("needs two separate confirmations").wait_for()
        assert "pending" in operator.locator("td.status").first.inner_text()
        shot(operator, "nominated")

        # 3. Two verifiers confirm, each blind to the other's decision.
        first = signed_in("verifier")
        first.goto("/queue")
        item = first.get_by_test_id("nomination-1")
        assert "Eileen Collins" in item.inner_text() and CASE in item.inner_text()
        # The searched face beside the candidate's enrolled face, both shown (each view audited).
        compare = item.get_by_test_id("compare-1")
        probe_face = compare.get_by_role("img", name="searched face 1 of search")
        enrolled_face = compare.get_by_role("img", name="enrolled face 1 of Eileen Collins")
        for img in (probe_face, enrolled_face):
            first.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())
        assert probe_face.bounding_box()["x"] < enrolled_face.bounding_box()["x"]  # side by side
        shot(first, "queue-verifier-1")
        item.get_by_label("Note (optional)").fill(NOTE)
        item.get_by_role("button", name="Confirm").click()
        first.get_by_text("Your confirmation of nomination #1 is recorded").wait_for()
        assert first.get_by_test_id("queue-empty").is_visible()
        shot(first, "confirmed-verifier-1")

        second = signed_in("verifier2")
        second.goto("/queue")
        item = second.get_by_test_id("nomination-1")
        seen = item.inner_text()
        assert "Eileen Collins" in seen
        for revealing in (NOTE, "confirmed", "pending", "1 of 2", "verifier2"):
            assert revealing not in seen  # nothing of the first verifier's decision, nor of any status
        assert NOTE not in second.content()
        shot(second, "queue-verifier-2")
        item.get_by_role("button", name="Confirm").click()
        second.get_by_text("Your confirmation of nomination #1 is recorded").wait_for()
        shot(second, "confirmed-verifier-2")

        # 4. The operator exports the case: the download holds the confirmed identification.
        operator.goto(f"/cases/{CASE}")
        assert "confirmed" in operator.locator("td.status").first.inner_text()
        with operator.expect_download() as download:
            operator.get_by_role("button", name="Export confirmed identifications (JSON)").click()
        exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
        assert exported["case"] == CASE
        [identification] = exported["identifications"]
        assert identification["nomination"]["subject"] == "Eileen Collins"
        assert {c["verifier"] for c in identification["confirmations"]} == {"verifier", "verifier2"}
        shot(operator, "case-exported")

        # 5. The admin erases the subject with a reason; it is gone.
        admin = signed_in("admin")
        admin.goto("/subjects")
        admin.get_by_label("Subject", exact=True).select_option(
            label=admin.locator("#erase-subject option", has_text="Eileen Collins").inner_text()
        )
        admin.get_by_label("Reason", exact=True).fill("the subject asked to be erased (request R-17)")
        admin.get_by_label("Yes, erase this subject for good").check()
        admin.get_by_role("button", name="Erase").click()
        admin.get_by_text("Erased subject").wait_for()
        rows = admin.get_by_test_id("subject-row")
        assert rows.count() == 1 and "Grace Hopper" in rows.inner_text()
        assert "Eileen Collins" not in admin.locator("table").inner_text()
        shot(admin, "erased")

        # 6. The auditor sees the events with the chain intact.
        auditor = signed_in("auditor")
        auditor.goto("/audit")
        assert "Audit chain intact" in auditor.get_by_test_id("chain").inner_text()
        text = auditor.locator("table.audit").inner_text()
        for action in (
            "face.enroll",
            "search.identify",
            "candidate.nominate",
            "candidate.confirm",
            "case.export",
            "subject.erase",
            "face.view",
            "probe.view",
            "case.open",
            "activation.redeem",
            "session.start",
        ):
            assert action in text
        shot(auditor, "audit")
        auditor.get_by_role("button", name="Sign out").click()
        auditor.wait_for_url(f"{url}/login")
        auditor.goto("/audit")  # the session ended in the gallery: signed out for good
        assert auditor.url.endswith("/login")
        browser.close()

    assert len(shots) == 11
    for path in shots:
        assert path.is_file() and path.stat().st_size > 1000
