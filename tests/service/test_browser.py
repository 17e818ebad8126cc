"""The web UI in a real browser: Debian's Chromium, headless, driven by Playwright against a live
server on 127.0.0.1, through every role's tasks: the admin issues a code, allows a purpose, sets
retention and places a hold; the enroller enrolls; the operator searches, compares two photos,
nominates; two verifiers confirm; the operator exports, then reads a collection's contact sheet,
names a cluster, splits a face off it and searches it against the gallery; the admin erases (the
subjects list showing each subject's face); the auditor reads the log and a collection. Every page
is checked at 1280x800 and at 420 px wide (a screenshot of each, nothing wider than the window) and
by axe-core, which must find no serious or critical accessibility violation.
Screenshots go to env FACESEARCH_SCREENSHOTS, else the test's temporary folder.

Skipped when /usr/bin/chromium, Playwright or axe-core (``scripts/browser.sh install`` puts it in
``~/.cache/facesearch/axe``; env FACESEARCH_AXE names another axe.min.js) is absent, unless
FACESEARCH_REQUIRE_BROWSER=1, when that is a failure instead. Playwright never downloads a
browser here: it runs Debian's."""

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
AXE = Path(
    os.environ.get("FACESEARCH_AXE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "facesearch/axe/node_modules/axe-core/axe.min.js"
)
WIDTHS = {"desktop": (1280, 800), "phone": (420, 800)}
CASE = "MP-2026-017"
NOTE = "same face as the file photo, checked by eye"


def _unavailable(reason: str, need: str = "Debian's chromium package (apt-get install chromium)") -> None:
    if os.environ.get("FACESEARCH_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}, and FACESEARCH_REQUIRE_BROWSER=1 requires the browser tests to run")
    pytest.skip(f"{reason}: the browser tests need {need}")


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
def axe() -> Path:
    if not AXE.is_file():
        _unavailable(f"axe-core is absent ({AXE})", "axe-core for the accessibility check (scripts/browser.sh install)")
    return AXE


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("FACESEARCH_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class PageCheck:
    """Every page a role reaches, checked the same way: a full-page screenshot at each width, nothing
    wider than the window at 420 px, and axe-core's run finding no serious or critical violation."""

    def __init__(self, folder: Path, axe: Path) -> None:
        self.folder = folder
        self.axe = axe.read_text(encoding="utf-8")
        self.shots: list[Path] = []
        self.pages: list[str] = []

    def __call__(self, page: Any, name: str) -> None:
        page.wait_for_load_state("load")
        for label, (width, height) in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": height})
            path = self.folder / f"{len(self.pages) + 1:02d}-{name}-{label}.png"
            page.screenshot(path=str(path), full_page=True)
            self.shots.append(path)
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= width, f"{name}: the page is {wide} px wide in a {width} px window"
        page.set_viewport_size({"width": 1280, "height": 800})
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.add_script_tag(content=self.axe)
        violations = page.evaluate(
            """async () => (await axe.run(document, {resultTypes: ['violations']})).violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))
            }))"""
        )
        serious = [v for v in violations if v["impact"] in ("serious", "critical")]
        assert not serious, f"{name}: axe-core finds {json.dumps(serious, indent=1)}"
        self.pages.append(name)


@pytest.fixture
def live(tmp_path: Path, models: DlibModels, photos: dict[str, Path]) -> Iterator[tuple[str, dict[str, str]]]:
    """A gallery (keeping face crops, as by default), staffed with a second verifier, and the
    operator's collection 'seized-drive' for the case (clustering reads a folder on the server: a
    command, not a page); its URL and each user's own token, except verifier2's: the admin issues
    their activation code in the browser."""
    engine = init_staffed(tmp_path / "home", actor="admin", models=models)
    engine.accounts.add_user("verifier2", "verifier")
    drive = tmp_path / "seized-drive"
    drive.mkdir()
    for name in ("astronaut", "probe", "hopper"):
        (drive / f"{name}.jpg").write_bytes(photos[name].read_bytes())
    engine.acting_as("operator").collections.cluster(drive, purpose="missing person search", case=CASE, min_size=1)
    users = ("admin", "enroller", "operator", "verifier", "auditor")
    tokens = {user: token_for(engine, user) for user in users}
    try:
        with LiveServer(create_app(engine.home.root, engine=engine)) as server:
            yield server.url, tokens
    finally:
        engine.close()


@pytest.mark.model
def test_every_role_does_its_job_in_chromium(
    sync_playwright: Any, axe: Path, live: tuple[str, dict[str, str]], photos: dict[str, Path], screenshots: Path
) -> None:
    url, tokens = live
    check = PageCheck(screenshots, axe)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)

        def signed_in(user: str) -> Any:
            """A page in a browser context of its own (its own cookies), signed in as USER, with their
            token, or by activating their account with their code (a code starts 'fsa_'). The context
            lets axe-core's script in past the pages' Content-Security-Policy (it allows no script)."""
            context = browser.new_context(
                base_url=url, accept_downloads=True, viewport={"width": 1280, "height": 800}, bypass_csp=True
            )
            page = context.new_page()
            page.set_default_timeout(20_000)
            page.goto("/search")  # a page needs a session: sent to sign in
            assert page.url.endswith("/login")
            if tokens[user].startswith("fsa_"):
                page.get_by_role("link", name="Activate your account").click()
                check(page, "activate")
                page.get_by_label("Activation code").fill(tokens[user])
                page.get_by_role("button", name="Activate").click()
                assert page.get_by_test_id("new-token").input_value().startswith("fs_")  # shown to them, once
                check(page, f"activated-{user}")
                page.get_by_role("link", name="Go to the start page").click()
            else:
                if user == "admin":
                    check(page, "login")
                page.get_by_label("API token").fill(tokens[user])
                page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{url}/")
            assert page.get_by_test_id("whoami").inner_text() == user
            return page

        def images_loaded(page: Any, images: Any) -> None:
            for i in range(images.count()):
                page.wait_for_function(
                    "img => img.complete && img.naturalWidth > 0", arg=images.nth(i).element_handle()
                )

        # 0. The admin: a code for the second verifier (shown once, to hand over), a purpose, the
        # retention period; the users, purposes and retention pages.
        admin = signed_in("admin")
        check(admin, "home-admin")
        admin.get_by_role("link", name="Users", exact=True).click()
        admin.get_by_role("button", name="Issue code for verifier2").click()
        code = admin.get_by_test_id("activation-code").locator("input").input_value()
        assert code.startswith("fsa_")
        tokens["verifier2"] = code
        check(admin, "users-code-issued")
        admin.get_by_role("link", name="Purposes").click()
        admin.get_by_label("Purpose", exact=True).fill("fraud review")
        admin.get_by_label("Each search for it needs an authorisation reference").check()
        admin.get_by_role("button", name="Allow").click()
        admin.get_by_text("Searches may now serve “fraud review”").wait_for()
        check(admin, "purposes")
        admin.get_by_role("link", name="Retention and holds").click()
        admin.get_by_label("Retention period in days").fill("3000")
        admin.get_by_role("button", name="Set", exact=True).click()
        admin.get_by_text("The retention period is now 3000 days").wait_for()
        check(admin, "retention")

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
        check(enroller, "subjects-enrolled")
        enroller.get_by_role("link", name="Opt-outs").click()
        check(enroller, "opt-outs")

        # 2. The operator searches the probe for a purpose and a case, sees the face boxed and the
        # candidates with their enrolled faces on the first screen, and nominates the best one.
        operator = signed_in("operator")
        operator.goto("/search")
        check(operator, "search-form")
        operator.get_by_label("Probe photo").set_input_files(str(photos["probe"]))
        operator.get_by_label("Purpose", exact=True).select_option("missing person search")
        operator.get_by_label("Case or file reference").fill(CASE)
        operator.get_by_role("button", name="Search").click()
        operator.get_by_test_id("notice").wait_for()
        assert CANDIDATE_NOTICE in operator.get_by_test_id("notice").inner_text()
        assert operator.locator("svg[data-testid=probe] rect.face-box").count() == 1
        assert operator.locator("svg[data-testid=probe] image").get_attribute("href").startswith("data:image/jpeg")
        assert operator.locator("svg[data-testid=probe]").bounding_box()["width"] <= 300
        best = operator.locator("tr.candidate").first
        assert "Eileen Collins" in best.inner_text() and "above the line" in best.inner_text()
        assert best.bounding_box()["y"] + best.bounding_box()["height"] <= 800  # on the first screen
        images_loaded(operator, operator.locator("img.thumb"))
        check(operator, "search-result")
        best.get_by_role("button", name="Nominate Eileen Collins for face 1").click()
        operator.get_by_text("needs two separate confirmations").wait_for()
        assert "pending" in operator.locator("td.status").first.inner_text()
        check(operator, "nominated")
        operator.get_by_role("link", name="Compare two photos").click()
        check(operator, "verify-form")
        operator.get_by_label("First photo").set_input_files(str(photos["astronaut"]))
        operator.get_by_label("Second photo").set_input_files(str(photos["probe"]))
        operator.get_by_label("Purpose", exact=True).select_option("missing person search")
        operator.get_by_label("Case or file reference").fill(CASE)
        operator.get_by_role("button", name="Compare").click()
        assert "Above the line" in operator.get_by_test_id("verdict").inner_text()
        check(operator, "verify-result")

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
        check(first, "queue-verifier-1")
        item.get_by_label("Note (optional)").fill(NOTE)
        item.get_by_role("button", name="Confirm").click()
        first.get_by_text("Your confirmation of nomination #1 is recorded").wait_for()
        assert first.get_by_test_id("queue-empty").is_visible()
        check(first, "confirmed-verifier-1")

        second = signed_in("verifier2")
        second.goto("/queue")
        item = second.get_by_test_id("nomination-1")
        seen = item.inner_text()
        assert "Eileen Collins" in seen
        for revealing in (NOTE, "confirmed", "pending", "1 of 2", "verifier2"):
            assert revealing not in seen  # nothing of the first verifier's decision, nor of any status
        assert NOTE not in second.content()
        item.get_by_role("button", name="Confirm").click()
        second.get_by_text("Your confirmation of nomination #1 is recorded").wait_for()

        # 4. The operator finds the case in their list and exports it: the download holds the
        # confirmed identification.
        operator.get_by_role("link", name="Cases").click()
        check(operator, "cases")
        operator.get_by_role("link", name=CASE).click()
        assert "confirmed" in operator.locator("td.status").first.inner_text()
        with operator.expect_download() as download:
            operator.get_by_role("button", name="Export confirmed identifications (JSON)").click()
        exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
        assert exported["case"] == CASE
        [identification] = exported["identifications"]
        assert identification["nomination"]["subject"] == "Eileen Collins"
        assert {c["verifier"] for c in identification["confirmations"]} == {"verifier", "verifier2"}
        check(operator, "case")

        # 4b. The operator reads the collection clustered for the case: a contact sheet of its
        # clusters, a cluster's faces; names it, splits a face off, and searches it against the
        # gallery (its candidates could be nominated like a search's).
        operator.get_by_role("link", name="Collections").click()
        assert operator.get_by_test_id("collection-row").count() == 1
        check(operator, "collections")
        operator.get_by_role("link", name="seized-drive").click()
        clusters = operator.get_by_test_id("cluster")
        assert clusters.count() == 2
        images_loaded(operator, operator.locator("img.thumb"))
        check(operator, "collection")
        clusters.first.get_by_role("link").click()  # the largest: the astronaut's two photos
        assert operator.locator("input[name=faces]").count() == 2
        images_loaded(operator, operator.locator("img.thumb"))
        check(operator, "cluster")
        operator.get_by_label("Name", exact=True).fill("woman in orange suit")
        operator.get_by_role("button", name="Name", exact=True).click()
        operator.get_by_text("is named “woman in orange suit”").wait_for()
        operator.locator("input[name=faces]").last.check()
        operator.get_by_role("button", name="Split the ticked faces off").click()
        operator.get_by_text("1 face(s) split off into the new").wait_for()
        assert operator.locator("input[name=faces]").count() == 1
        check(operator, "cluster-split")
        operator.get_by_label("Purpose", exact=True).select_option("missing person search")
        operator.get_by_label("Case or file reference").fill(CASE)
        operator.get_by_role("button", name="Search", exact=True).click()
        operator.get_by_test_id("notice").wait_for()
        assert CANDIDATE_NOTICE in operator.get_by_test_id("notice").inner_text()
        best = operator.locator("tr.candidate").first
        assert "Eileen Collins" in best.inner_text() and "above the line" in best.inner_text()
        assert best.get_by_role("button", name="Nominate Eileen Collins for cluster").count() == 1
        images_loaded(operator, operator.locator("img.thumb"))
        check(operator, "cluster-search-result")

        # 5. The admin puts Grace Hopper under a legal hold and erases Eileen Collins, picked from
        # the list, with a reason; she is gone.
        admin.goto("/admin/retention")
        admin.get_by_label("Subject").fill("Grace Hopper")
        admin.get_by_label("Reference").fill("CO-2026-4")
        admin.get_by_role("button", name="Place hold").click()
        admin.get_by_text("Grace Hopper is under legal hold CO-2026-4").wait_for()
        check(admin, "hold-placed")
        admin.goto("/subjects")
        faces = admin.get_by_role("img", name="enrolled face of Grace Hopper")  # admins see enrolled faces
        images_loaded(admin, faces)
        check(admin, "subjects-faces")
        admin.get_by_role("link", name="erase… Eileen Collins").click()
        assert admin.locator("#erase-subject").input_value().startswith("id:")  # filled in from the row
        admin.get_by_label("Reason", exact=True).fill("the subject asked to be erased (request R-17)")
        admin.get_by_label("Yes, erase this subject for good").check()
        admin.get_by_role("button", name="Erase").click()
        admin.get_by_text("Erased subject").wait_for()
        rows = admin.get_by_test_id("subject-row")
        assert rows.count() == 1 and "Grace Hopper" in rows.inner_text()
        assert "Eileen Collins" not in admin.locator("table").inner_text()
        check(admin, "erased")

        # 6. The auditor sees the events with the chain intact, the holds, every case, a subject's
        # access report and the evaluation page.
        auditor = signed_in("auditor")
        auditor.goto("/audit")
        assert "Audit chain intact" in auditor.get_by_test_id("chain").inner_text()
        text = auditor.locator("table.audit").inner_text()
        for action in (
            "face.enroll",
            "search.identify",
            "search.verify",
            "candidate.nominate",
            "candidate.confirm",
            "case.export",
            "subject.erase",
            "face.view",
            "probe.view",
            "collection.face_view",
            "cluster.name",
            "cluster.split",
            "subject.hold",
            "purpose.add",
            "activation.redeem",
            "session.start",
        ):
            assert action in text
        check(auditor, "audit")
        auditor.goto("/admin/retention")
        assert "CO-2026-4" in auditor.get_by_test_id("holds").inner_text()
        auditor.goto("/cases")
        assert auditor.get_by_test_id("case-row").count() == 1
        auditor.goto("/collections")
        auditor.get_by_role("link", name="seized-drive").click()
        assert auditor.get_by_test_id("cluster").count() == 3  # after the operator's split
        assert auditor.get_by_role("button", name="Merge").count() == 0  # oversight reads, corrects nothing
        images_loaded(auditor, auditor.locator("img.thumb"))
        check(auditor, "collection-auditor")
        auditor.goto("/subjects")
        auditor.get_by_role("link", name="access report of Grace Hopper").click()
        check(auditor, "subject-report")
        auditor.goto("/evaluation")
        check(auditor, "evaluation")
        auditor.get_by_role("button", name="Sign out").click()
        auditor.wait_for_url(f"{url}/login")
        auditor.goto("/audit")  # the session ended in the gallery: signed out for good
        assert auditor.url.endswith("/login")
        browser.close()

    assert len(check.pages) == 30 and len(check.shots) == 2 * len(check.pages)
    for path in check.shots:
        assert path.is_file() and path.stat().st_size > 1000
