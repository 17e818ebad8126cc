"""The web UI's collections: the list, a collection's contact sheet, a cluster's faces, people's
corrections, a cluster searched against the gallery and every cluster at once (a sweep); each
route refused without a session, to the wrong role, to another case's operator, from another site,
and for malformed input. Also the subjects page's thumbnails, where the gallery keeps crops and the
role may see them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from facesearch.config import Settings
from facesearch.engine import Engine
from facesearch.pipeline.models import DlibModels
from facesearch.service import create_app
from facesearch.service.web.pages import CANDIDATE_NOTICE

from helpers import init_staffed, token_for

pytestmark = pytest.mark.model

WHY = {"purpose": "missing person search", "case": "MP-9"}
EVIL = {"Origin": "https://evil.example"}


@pytest.fixture
def drive(tmp_path: Path, photos: dict[str, Path]) -> Path:
    """The astronaut twice (her photo and a mirrored, rescaled copy) and Grace Hopper once."""
    folder = tmp_path / "drive"
    folder.mkdir()
    for name in ("astronaut", "probe", "hopper"):
        (folder / f"{name}.jpg").write_bytes(photos[name].read_bytes())
    return folder


@pytest.fixture
def clustered(enrolled: Engine, drive: Path) -> Engine:
    """Eileen Collins and Grace Hopper enrolled; the operator's collection 'drive-1' of case MP-9."""
    enrolled.acting_as("operator").collections.cluster(drive, name="drive-1", min_size=1, **WHY)
    return enrolled


@pytest.fixture
def client(clustered: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(clustered.home.root, engine=clustered), follow_redirects=False) as c:
        yield c


def sign_in(client: TestClient, engine: Engine, user: str) -> TestClient:
    response = client.post("/login", data={"token": token_for(engine, user)})
    assert response.status_code == 303, response.text
    return client


def layout(engine: Engine) -> tuple[str, int, int, tuple[int, ...]]:
    """drive-1's id, the astronaut's cluster, Grace Hopper's, and the astronaut's faces."""
    operator = engine.acting_as("operator").collections
    [about] = operator.collections()
    pair, single = operator.clusters(about.collection_id)
    return about.collection_id, pair.cluster_id, single.cluster_id, pair.face_ids


def labels(engine: Engine) -> list[str | None]:
    return [c.label for c in engine.acting_as("auditor").collections.clusters("drive-1")]


def test_collection_pages_need_a_session(client: TestClient, clustered: Engine) -> None:
    collection, cluster, _, faces = layout(clustered)
    for page in ("/collections", f"/collections/{collection}", f"/collections/{collection}/clusters/{cluster}"):
        response = client.get(page)
        assert response.status_code == 303 and response.headers["location"] == "/login", page
    for path, data in (
        ("/clusters/merge", {"collection": collection, "cluster_a": cluster, "cluster_b": cluster + 1}),
        (f"/clusters/{cluster}/name", {"collection": collection, "label": "x"}),
        (f"/clusters/{cluster}/split", {"collection": collection, "faces": faces[0]}),
        ("/cannot-link", {"collection": collection, "face_a": faces[0], "face_b": faces[1]}),
        (f"/clusters/{cluster}/search", {"collection": collection, **WHY}),
    ):
        assert client.post(path, data=data).headers["location"] == "/login", path
    assert client.get(f"/collection-faces/{faces[0]}/crop").status_code == 401  # an image: no page to go back to
    assert labels(clustered) == [None, None]
    assert clustered.acting_as("auditor").audit_events(action="collection.face_view") == []


def test_the_operator_reads_the_contact_sheet_and_each_face_view_is_audited(
    client: TestClient, clustered: Engine
) -> None:
    collection, cluster, single, faces = layout(clustered)
    sign_in(client, clustered, "operator")
    home = client.get("/")
    assert 'href="/collections"' in home.text
    listed = client.get("/collections")
    assert listed.status_code == 200 and listed.text.count('data-testid="collection-row"') == 1
    assert f'href="/collections/{collection}"' in listed.text and "drive-1" in listed.text and "MP-9" in listed.text
    sheet = client.get(f"/collections/{collection}")
    assert sheet.status_code == 200 and sheet.text.count('data-testid="cluster"') == 2
    assert "not an identity" in sheet.text
    for face in faces:
        assert f'src="/collection-faces/{face}/crop" alt="face {face}"' in sheet.text
    assert f'href="/collections/{collection}/clusters/{cluster}"' in sheet.text
    assert 'action="/clusters/merge"' in sheet.text and 'action="/cannot-link"' in sheet.text
    pairs_only = client.get(f"/collections/{collection}", params={"min_size": 2})
    assert pairs_only.text.count('data-testid="cluster"') == 1
    by_name = client.get("/collections/drive-1")  # the name reaches it as well as the id
    assert by_name.status_code == 200 and by_name.text.count('data-testid="cluster"') == 2
    crop = client.get(f"/collection-faces/{faces[0]}/crop")
    assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg" and crop.content[:2] == b"\xff\xd8"
    assert crop.headers["cache-control"] == "private, no-store"
    [view] = clustered.acting_as("auditor").audit_events(action="collection.face_view")
    assert (view.actor, view.case, view.details["face"]) == ("operator", "MP-9", faces[0])
    assert client.get("/collection-faces/999999/crop").status_code == 404
    page = client.get(f"/collections/{collection}/clusters/{cluster}")
    assert page.status_code == 200 and page.text.count('name="faces"') == 2
    assert 'id="purpose"' in page.text and f'action="/clusters/{cluster}/search"' in page.text


def test_the_operator_corrects_the_clusters(client: TestClient, clustered: Engine) -> None:
    collection, cluster, single, faces = layout(clustered)
    sign_in(client, clustered, "operator")
    named = client.post(f"/clusters/{cluster}/name", data={"collection": collection, "label": "woman in orange"})
    assert named.status_code == 200 and "is named “woman in orange”" in named.text
    assert labels(clustered) == ["woman in orange", None]
    blank = client.post(f"/clusters/{cluster}/name", data={"collection": collection, "label": " "})
    assert blank.status_code == 422 and "give the cluster a name" in blank.text  # the core's words
    none_ticked = client.post(f"/clusters/{cluster}/split", data={"collection": collection})
    assert none_ticked.status_code == 422 and "tick the faces" in none_ticked.text
    everything = client.post(f"/clusters/{cluster}/split", data={"collection": collection, "faces": list(faces)})
    assert everything.status_code == 422 and "a split must leave at least one face in the cluster" in everything.text
    split = client.post(f"/clusters/{cluster}/split", data={"collection": collection, "faces": faces[1]})
    assert split.status_code == 200 and "1 face(s) split off into the new" in split.text
    new = int(re.search(r"split off into the new <a href=\"[^\"]+/clusters/(\d+)\"", split.text)[1])  # type: ignore[index]
    merged = client.post("/clusters/merge", data={"collection": collection, "cluster_a": cluster, "cluster_b": new})
    assert merged.status_code == 200 and f"Cluster {new} is merged into cluster {cluster}" in merged.text
    same = client.post("/clusters/merge", data={"collection": collection, "cluster_a": cluster, "cluster_b": cluster})
    assert same.status_code == 422 and "name two different clusters to merge" in same.text
    apart = client.post("/cannot-link", data={"collection": collection, "face_a": faces[0], "face_b": faces[1]})
    assert (
        apart.status_code == 200 and f"Faces {faces[0]} and {faces[1]} are recorded as different people" in apart.text
    )
    steps = [e.action for e in clustered.acting_as("auditor").audit_events() if e.action.startswith("cluster.")]
    assert steps == ["cluster.name", "cluster.split", "cluster.merge", "cluster.cannot_link"]


def test_a_cluster_is_searched_under_a_purpose_and_a_case_and_its_candidate_nominated(
    client: TestClient, clustered: Engine
) -> None:
    collection, cluster, _, _ = layout(clustered)
    sign_in(client, clustered, "operator")
    no_purpose = client.post(f"/clusters/{cluster}/search", data={"collection": collection, "case": "MP-9"})
    assert no_purpose.status_code == 403 and "missing-purpose" in no_purpose.text
    assert 'value="MP-9"' in no_purpose.text  # the form again, with what was typed
    found = client.post(f"/clusters/{cluster}/search", data={"collection": collection, **WHY})
    assert found.status_code == 200, found.text
    assert found.text.count(CANDIDATE_NOTICE) == 1 and 'data-testid="threshold"' in found.text
    rows = re.findall(r'<tr class="candidate (clears|below)">(.*?)</tr>', found.text, re.S)
    assert rows[0][0] == "clears" and "Eileen Collins" in rows[0][1]
    assert 'aria-label="Nominate Eileen Collins for cluster' in found.text
    event = clustered.acting_as("auditor").audit_events(action="search.identify")[-1]
    assert event.details["cluster"]["cluster_id"] == cluster and (event.actor, event.case) == ("operator", "MP-9")
    search = re.search(r'name="search" value="(\d+)"', found.text)
    subject = re.search(r'name="subject" value="(id:[0-9a-f]+)"', found.text)
    assert search and subject
    nominated = client.post("/nominate", data={"search": search[1], "subject": subject[1], "face": "0"})
    assert nominated.status_code == 303 and nominated.headers["location"].startswith("/cases/MP-9?nominated=")


def test_other_roles_see_the_refusal_or_read_only(client: TestClient, clustered: Engine) -> None:
    collection, cluster, _, faces = layout(clustered)
    for user in ("enroller", "verifier", "tester"):  # tester is the admin
        sign_in(client, clustered, user)
        assert 'href="/collections"' not in client.get("/").text
        for page in ("/collections", f"/collections/{collection}", f"/collections/{collection}/clusters/{cluster}"):
            refused = client.get(page)
            assert refused.status_code == 403 and "permission-denied" in refused.text, (user, page)
        assert client.get(f"/collection-faces/{faces[0]}/crop").status_code == 403
    # The auditor oversees: reads every collection and its faces, corrects and searches nothing.
    sign_in(client, clustered, "auditor")
    assert 'href="/collections"' in client.get("/").text
    assert client.get("/collections").text.count('data-testid="collection-row"') == 1
    sheet = client.get(f"/collections/{collection}")
    assert sheet.status_code == 200 and 'action="/clusters/merge"' not in sheet.text
    page = client.get(f"/collections/{collection}/clusters/{cluster}")
    assert page.status_code == 200 and 'name="faces"' not in page.text and 'id="purpose"' not in page.text
    assert client.get(f"/collection-faces/{faces[0]}/crop").status_code == 200
    named = client.post(f"/clusters/{cluster}/name", data={"collection": collection, "label": "x"})
    assert named.status_code == 403 and "the auditor role may not cluster" in named.text
    searched = client.post(f"/clusters/{cluster}/search", data={"collection": collection, **WHY})
    assert searched.status_code == 403 and "permission-denied" in searched.text
    assert labels(clustered) == [None, None]


def test_another_cases_operator_neither_sees_nor_touches_the_collection(client: TestClient, clustered: Engine) -> None:
    collection, cluster, single, faces = layout(clustered)
    clustered.accounts.add_user("operator-2", "operator")
    sign_in(client, clustered, "operator-2")
    assert 'data-testid="no-collections"' in client.get("/collections").text
    for page in (f"/collections/{collection}", "/collections/drive-1", f"/collections/{collection}/clusters/{cluster}"):
        refused = client.get(page)
        assert refused.status_code == 403 and "not-a-case-member" in refused.text, page
        assert "MP-9" in refused.text and 'data-testid="cluster"' not in refused.text
    assert client.get(f"/collection-faces/{faces[0]}/crop").status_code == 403
    before = len(clustered.acting_as("auditor").audit_events(action="policy.refused"))
    for path, data in (
        ("/clusters/merge", {"collection": collection, "cluster_a": cluster, "cluster_b": single}),
        (f"/clusters/{cluster}/name", {"collection": collection, "label": "x"}),
        (f"/clusters/{cluster}/split", {"collection": collection, "faces": faces[0]}),
        ("/cannot-link", {"collection": collection, "face_a": faces[0], "face_b": faces[1]}),
        (f"/clusters/{cluster}/search", {"collection": collection, "purpose": WHY["purpose"], "case": "MINE-1"}),
    ):
        refused = client.post(path, data=data)
        assert refused.status_code == 403 and "not-a-case-member" in refused.text, path
        assert 'data-testid="cluster"' not in refused.text and f"face {faces[0]}" not in refused.text
    after = clustered.acting_as("auditor").audit_events(action="policy.refused")
    assert len(after) == before + 5  # each refusal audited once, not again by re-rendering a page
    assert [len(c.face_ids) for c in clustered.acting_as("auditor").collections.clusters("drive-1")] == [2, 1]
    assert labels(clustered) == [None, None]


def test_another_collections_cluster_is_not_this_ones(
    client: TestClient, clustered: Engine, drive: Path, tmp_path: Path
) -> None:
    collection, cluster, _, faces = layout(clustered)
    other = tmp_path / "other"
    other.mkdir()
    (other / "hopper.jpg").write_bytes((drive / "hopper.jpg").read_bytes())
    run = clustered.acting_as("operator").collections.cluster(other, name="drive-2", min_size=1, **WHY)
    [foreign] = run.clusters
    sign_in(client, clustered, "operator")
    wrong = client.get(f"/collections/{collection}/clusters/{foreign.cluster_id}")
    assert wrong.status_code == 422 and f"the collection has no cluster {foreign.cluster_id}" in wrong.text
    across = client.post(
        "/clusters/merge", data={"collection": collection, "cluster_a": cluster, "cluster_b": foreign.cluster_id}
    )
    assert across.status_code == 422 and f"the collection has no cluster {foreign.cluster_id}" in across.text
    assert 'data-testid="cluster"' in across.text  # the sheet again, with the core's words
    apart = client.post(
        "/cannot-link", data={"collection": collection, "face_a": faces[0], "face_b": foreign.face_ids[0]}
    )
    assert apart.status_code == 422 and f"the collection has no face {foreign.face_ids[0]}" in apart.text
    assert len(clustered.acting_as("auditor").collections.clusters("drive-2")) == 1
    unknown = client.get("/collections/nope")
    assert unknown.status_code == 422 and "there is no collection &#39;nope&#39;" in unknown.text


def test_malformed_input_is_refused_before_the_core(client: TestClient, clustered: Engine) -> None:
    collection, cluster, _, faces = layout(clustered)
    sign_in(client, clustered, "operator")
    for page in (
        f"/collections/{collection}/clusters/abc",
        f"/collections/{collection}/clusters/0",
        f"/collections/{collection}?page=0",
        f"/collections/{collection}?min_size=x",
        "/collections?page=-1",
        "/collection-faces/abc/crop",
    ):
        response = client.get(page)
        assert response.status_code == 422 and "invalid-request" in response.text, page
        assert "Traceback" not in response.text
    for path, data in (
        ("/clusters/merge", {"collection": collection, "cluster_a": "abc", "cluster_b": cluster}),
        ("/clusters/merge", {"collection": collection, "cluster_a": cluster}),
        ("/clusters/0/name", {"collection": collection, "label": "x"}),
        ("/clusters/abc/name", {"collection": collection, "label": "x"}),
        (f"/clusters/{cluster}/split", {"collection": collection, "faces": "abc"}),
        ("/cannot-link", {"collection": collection, "face_a": faces[0], "face_b": "-3"}),
        (f"/clusters/{cluster}/search", {**WHY}),  # no collection
    ):
        response = client.post(path, data=data)
        assert response.status_code == 422 and "invalid-request" in response.text, (path, data)
    assert labels(clustered) == [None, None]


def test_cross_site_posts_to_the_collection_pages_are_refused(client: TestClient, clustered: Engine) -> None:
    collection, cluster, single, faces = layout(clustered)
    sign_in(client, clustered, "operator")
    searches = len(clustered.acting_as("auditor").audit_events(action="search.identify"))
    for path, data in (
        ("/clusters/merge", {"collection": collection, "cluster_a": cluster, "cluster_b": single}),
        (f"/clusters/{cluster}/name", {"collection": collection, "label": "x"}),
        (f"/clusters/{cluster}/split", {"collection": collection, "faces": faces[0]}),
        ("/cannot-link", {"collection": collection, "face_a": faces[0], "face_b": faces[1]}),
        (f"/clusters/{cluster}/search", {"collection": collection, **WHY}),
    ):
        refused = client.post(path, data=data, headers=EVIL)
        assert refused.status_code == 403 and "cross-site-request" in refused.text, path
    assert [len(c.face_ids) for c in clustered.acting_as("auditor").collections.clusters("drive-1")] == [2, 1]
    assert labels(clustered) == [None, None]
    assert len(clustered.acting_as("auditor").audit_events(action="search.identify")) == searches


def test_the_subjects_list_shows_a_face_of_each_to_roles_that_see_faces(client: TestClient, clustered: Engine) -> None:
    sign_in(client, clustered, "tester")  # the admin: sees enrolled faces
    page = client.get("/subjects").text
    shown = re.findall(r'<img class="thumb" src="/faces/(\d+)/thumbnail" alt="enrolled face of ([^"]+)"', page)
    assert [name for _, name in shown] == ["Eileen Collins", "Grace Hopper"]
    thumb = client.get(f"/faces/{shown[0][0]}/thumbnail")
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
    sign_in(client, clustered, "enroller")  # may not see enrolled faces: no image, and why
    page = client.get("/subjects").text
    assert "/thumbnail" not in page and page.count('data-testid="no-face"') == 2
    assert "your role does not see enrolled faces" in page


def test_a_gallery_that_keeps_no_crops_shows_no_faces(
    tmp_path: Path, models: DlibModels, photos: dict[str, Path]
) -> None:
    with init_staffed(tmp_path / "home", actor="tester", models=models, settings=Settings(keep_crops=False)) as engine:
        engine.acting_as("enroller").enroll(photos["hopper"], subject="Grace Hopper", source="sample", basis="consent")
        with TestClient(create_app(engine.home.root, engine=engine), follow_redirects=False) as client:
            sign_in(client, engine, "tester")
            page = client.get("/subjects").text
    assert "/thumbnail" not in page and page.count('data-testid="no-face"') == 1
    assert "keeps no face crops" in page


def test_every_cluster_is_searched_from_the_collection_page_and_nominated_from_the_case(
    client: TestClient, clustered: Engine
) -> None:
    collection, cluster, single, _ = layout(clustered)
    sign_in(client, clustered, "operator")
    sheet = client.get(f"/collections/{collection}")
    assert f'action="/collections/{collection}/search-all"' in sheet.text and "Search all 2 cluster(s)" in sheet.text
    assert 'name="case" value="MP-9"' in sheet.text  # the collection's own case, filled in
    url = f"/collections/{collection}/search-all"
    no_purpose = client.post(url, data={"case": "MP-9"})
    assert no_purpose.status_code == 403 and "missing-purpose" in no_purpose.text
    assert 'data-testid="cluster"' in no_purpose.text  # the sheet again, with the core's words
    elsewhere = client.post(url, data={**WHY, "case": "MP-10"})
    assert elsewhere.status_code == 403 and "search it under case &#39;MP-9&#39;" in elsewhere.text
    assert clustered.acting_as("auditor").audit_events(action="search.identify") == []
    swept = client.post(url, data=WHY)
    assert swept.status_code == 200, swept.text
    assert swept.text.count(CANDIDATE_NOTICE) == 1 and 'data-testid="threshold"' in swept.text
    assert swept.text.count('data-testid="swept-cluster"') == 2 and "2 of 2 cluster(s)" in swept.text
    assert f'aria-label="Nominate Eileen Collins for cluster {cluster}"' in swept.text
    assert f'aria-label="Nominate Grace Hopper for cluster {single}"' in swept.text
    events = clustered.acting_as("auditor").audit_events(action="search.identify")
    assert sorted(e.details["cluster"]["cluster_id"] for e in events) == sorted((cluster, single))
    # The case keeps them: its page lists each cluster's candidates with their nominate buttons.
    page = client.get("/cases/MP-9")
    assert page.status_code == 200 and page.text.count('data-testid="swept-cluster"') == 2
    seq = next(e.seq for e in events if e.details["cluster"]["cluster_id"] == single)
    hopper = next(c for c in clustered.acting_as("operator").cases.sweeps("MP-9")[0].clusters if c.search_seq == seq)
    assert f"Nominate Grace Hopper for cluster {single}" in page.text and f'name="search" value="{seq}"' in page.text
    nominated = client.post(
        "/nominate", data={"search": seq, "subject": f"id:{hopper.candidates[0].subject_id}", "face": "0"}
    )
    assert nominated.status_code == 303 and nominated.headers["location"].startswith("/cases/MP-9?nominated=")
    # The auditor reads the sweep in the case, without a nominate button.
    sign_in(client, clustered, "auditor")
    read = client.get("/cases/MP-9")
    assert read.text.count('data-testid="swept-cluster"') == 2 and 'action="/nominate"' not in read.text
    assert f'action="/collections/{collection}/search-all"' not in client.get(f"/collections/{collection}").text


def test_a_sweep_is_refused_from_the_web_to_the_wrong_role_another_case_and_a_bad_request(
    client: TestClient, clustered: Engine
) -> None:
    collection, _, _, _ = layout(clustered)
    url = f"/collections/{collection}/search-all"
    assert client.post(url, data=WHY).headers["location"] == "/login"  # no session
    for user in ("auditor", "verifier", "enroller"):
        sign_in(client, clustered, user)
        refused = client.post(url, data=WHY)
        assert refused.status_code == 403 and "permission-denied" in refused.text, user
    clustered.accounts.add_user("operator-2", "operator")
    sign_in(client, clustered, "operator-2")
    other = client.post(url, data={**WHY, "case": "MINE-2"})
    assert other.status_code == 403 and "not-a-case-member" in other.text and 'data-testid="cluster"' not in other.text
    sign_in(client, clustered, "operator")
    assert client.post(url, data=WHY, headers=EVIL).status_code == 403  # from another site
    unknown = client.post("/collections/nope/search-all", data=WHY)
    assert unknown.status_code == 422 and "there is no collection" in unknown.text
    assert clustered.acting_as("auditor").audit_events(action="search.identify") == []


def test_a_sweep_past_the_quota_is_refused_on_the_page_before_any_search(clustered: Engine, models: DlibModels) -> None:
    import facesearch

    tight = clustered.settings.replace(search_quota_per_hour=1)
    with (
        facesearch.open(clustered.home.root, actor="tester", settings=tight, models=models) as engine,
        TestClient(create_app(engine.home.root, engine=engine), follow_redirects=False) as client,
    ):
        collection, _, _, _ = layout(engine)
        sign_in(client, engine, "operator")
        refused = client.post(f"/collections/{collection}/search-all", data=WHY)
        assert refused.status_code == 429 and "none was run" in refused.text
        assert 'data-testid="cluster"' in refused.text  # the sheet again, with the core's words
    assert clustered.acting_as("auditor").audit_events(action="search.identify") == []
