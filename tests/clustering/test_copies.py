"""The same picture reviewed once: copies of a photo in a collection (the same bytes, or re-saved,
resized, trimmed by a percent, bordered) are analysed once, shown as one face with the copies named,
kept and erased with the collection, and read only by its case's members; different photos of one
person stay apart."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageOps

import facesearch
from facesearch.clustering.copies import EXACT, Fingerprint, distance_bits, group_copies, perceptual_hashes
from facesearch.config import Settings
from facesearch.engine import Engine
from facesearch.errors import CaseMembershipError, ConfigError
from facesearch.pipeline.models import DlibModels
from facesearch.service import create_app

from helpers import require_lfw, token_for

WHY = {"purpose": "missing person search", "case": "MP-60"}
DEFAULT = Settings().near_copy_max_distance_bits


def jpeg(image: Image.Image, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def cropped(image: Image.Image, share: float) -> Image.Image:
    dx, dy = round(image.width * share), round(image.height * share)
    return image.crop((dx, dy, image.width - dx, image.height - dy))


COPIES: dict[str, Callable[[Image.Image], bytes]] = {
    "resaved-q40.jpg": lambda im: jpeg(im, 40),
    "half.jpg": lambda im: jpeg(im.resize((im.width // 2, im.height // 2))),
    "cropped-1pc.jpg": lambda im: jpeg(cropped(im, 0.01)),  # 2% and more: see docs/benchmarks.md
    "white-border.jpg": lambda im: jpeg(ImageOps.expand(im, border=im.width // 10, fill="white")),
    "black-border.png": lambda im: _png(ImageOps.expand(im, border=im.width // 20, fill="black")),
}


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def fingerprint(data: bytes) -> Fingerprint:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    return Fingerprint("x", image.width, image.height, perceptual_hashes(np.asarray(image)))


@pytest.mark.parametrize("copy", sorted(COPIES))
def test_a_resaved_resized_cropped_or_bordered_photo_is_a_near_copy(copy: str, photos: dict[str, Path]) -> None:
    for person in ("astronaut", "hopper"):
        original = Image.open(photos[person]).convert("RGB")
        made = fingerprint(COPIES[copy](original))
        assert distance_bits(fingerprint(photos[person].read_bytes()), made) <= DEFAULT, (person, copy)


def test_other_photos_of_a_person_and_other_people_are_not_near_copies(photos: dict[str, Path]) -> None:
    astronaut = Image.open(photos["astronaut"]).convert("RGB")
    others = {
        "mirrored": jpeg(astronaut.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
        "framed anew": jpeg(astronaut.crop((astronaut.width // 8, 0, astronaut.width, astronaut.height * 7 // 8))),
        "probe": photos["probe"].read_bytes(),
        "hopper": photos["hopper"].read_bytes(),
        "both": photos["two_faces"].read_bytes(),
    }
    original = fingerprint(photos["astronaut"].read_bytes())
    for name, data in others.items():
        assert distance_bits(original, fingerprint(data)) > DEFAULT, name


def test_different_photos_of_one_person_in_lfw_stay_apart() -> None:
    """Every pair of photos of the first 40 LFW people with four or more photos (a real drive's
    photos of one victim): none is a near-copy at the default distance."""
    lfw = require_lfw()
    people = [p for p in sorted((lfw / "images").iterdir()) if len(list(p.glob("*.jpg"))) >= 4][:40]
    grouped = []
    for person in people:
        prints = {p.name: fingerprint(p.read_bytes()) for p in sorted(person.glob("*.jpg"))[:6]}
        names = sorted(prints)
        grouped += [
            (a, b)
            for i, a in enumerate(names)
            for b in names[i + 1 :]
            if distance_bits(prints[a], prints[b]) <= DEFAULT
        ]
    assert grouped == []


def test_copies_gather_around_the_largest_and_never_chain() -> None:
    def at(bits: int, pixels: int, sha: str = "") -> Fingerprint:
        return Fingerprint(sha or f"sha{bits}-{pixels}", pixels, 1, (bits,))

    # 0b0 and 0b111 are 3 bits apart: each is near 0b1, neither near the other at a distance of 2.
    prints = [at(0b1, 10), at(0b0, 100), at(0b111, 50), at(0b0, 100, "sha0-100"), Fingerprint("video")]
    copies = group_copies(prints, 2)
    assert copies[0].representative == 1 and copies[0].distance_bits == 1  # the larger one stands for it
    assert copies[3].representative == 1 and copies[3].distance_bits == EXACT  # the same bytes
    assert 2 not in copies and 4 not in copies  # 3 bits from the representative: no chain through photo 0
    assert group_copies(prints, -1) == {3: copies[3]}  # -1: only the same bytes
    held = group_copies(prints, 2, held=frozenset({0}))  # a photo the collection holds stays the representative
    assert held[1].representative == 0


@pytest.mark.parametrize("max_bits", [0, 3, 7, 20])
def test_the_indexed_grouping_finds_what_comparing_every_pair_finds(max_bits: int) -> None:
    """The multi-index shortcut gives the groups of the plain rule (each photo joins the nearest
    representative within the distance, else becomes one), on pictures with copies a few bits off."""
    rng = np.random.default_rng(7)
    prints = []
    for n in range(300):
        base = int(rng.integers(0, 2**63))
        for k in range(3):
            flipped = base
            for bit in rng.choice(64, size=int(rng.integers(0, 2 * max_bits + 2)), replace=False):
                flipped ^= 1 << int(bit)
            prints.append(Fingerprint(f"{n}-{k}", 400 >> k, 100, (flipped, base if k == 0 else flipped)))

    def plain() -> dict[int, tuple[int, int]]:
        order = sorted(range(len(prints)), key=lambda i: (-prints[i].width, i))
        leaders: list[int] = []
        found = {}
        for i in order:
            best = min(((distance_bits(prints[i], prints[j]), j) for j in leaders), default=None)
            if best is not None and best[0] <= max_bits:
                found[i] = (best[1], best[0])
            else:
                leaders.append(i)
        return found

    grouped = group_copies(prints, max_bits)
    assert {i: (c.representative, c.distance_bits) for i, c in grouped.items()} == plain()
    assert grouped or max_bits == 0


def test_the_distance_setting_is_checked() -> None:
    with pytest.raises(ConfigError, match="near_copy_max_distance_bits"):
        Settings(near_copy_max_distance_bits=40)


@pytest.fixture
def drive(tmp_path: Path, photos: dict[str, Path]) -> Path:
    """Grace Hopper's photo and its copies; the astronaut's photo, a mirrored one and one framed anew
    (different photos of her); a truncated copy of Hopper's."""
    folder = tmp_path / "drive"
    (folder / "re-saved").mkdir(parents=True)
    hopper = Image.open(photos["hopper"]).convert("RGB")
    (folder / "hopper.jpg").write_bytes(photos["hopper"].read_bytes())
    (folder / "re-saved" / "hopper-same-bytes.jpg").write_bytes(photos["hopper"].read_bytes())
    for name, make in COPIES.items():
        (folder / "re-saved" / name).write_bytes(make(hopper))
    astronaut = Image.open(photos["astronaut"]).convert("RGB")
    (folder / "astronaut.jpg").write_bytes(jpeg(astronaut))
    (folder / "astronaut-mirrored.jpg").write_bytes(jpeg(astronaut.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    (folder / "astronaut-framed.jpg").write_bytes(
        jpeg(astronaut.crop((astronaut.width // 8, 0, astronaut.width, astronaut.height * 7 // 8)))
    )
    data = photos["hopper"].read_bytes()
    (folder / "re-saved" / "hopper-truncated.jpg").write_bytes(data[: len(data) // 2])
    return folder


HOPPER_COPIES = sorted(f"re-saved/{name}" for name in [*COPIES, "hopper-same-bytes.jpg"])


@pytest.mark.model
def test_each_picture_is_one_face_with_its_copies_listed(engine: Engine, drive: Path, tmp_path: Path) -> None:
    operator = engine.acting_as("operator").collections
    run = operator.cluster(drive, name="drive-c", min_size=1, **WHY)
    # 11 files: Hopper's photo analysed once for her 6 copies, each of the astronaut's three photos, and the
    # truncated copy tried (it cannot be decoded: no picture to compare) and refused.
    assert (run.photos, run.photos_embedded, run.faces) == (11, 5, 4)
    assert dict(run.photos_rejected) == {"re-saved/hopper-truncated.jpg": "truncated-image"}
    assert dict(run.photos_copied) == dict.fromkeys(HOPPER_COPIES, "hopper.jpg")
    clusters = {frozenset(c.photos): c for c in run.clusters}
    hopper = clusters[frozenset({"hopper.jpg"})]
    assert hopper.size == 1 and hopper.copies == (tuple(HOPPER_COPIES),)
    astronaut = clusters[frozenset({"astronaut.jpg", "astronaut-mirrored.jpg", "astronaut-framed.jpg"})]
    assert astronaut.size == 3 and astronaut.copies == ((), (), ())  # three photos of her, none merged
    [event] = engine.acting_as("auditor").audit_events(action="collection.cluster")
    assert event.details["photos_copied"] == len(HOPPER_COPIES)

    sheet = operator.contact_sheet("drive-c", tmp_path / "sheet").read_text()
    assert sheet.count("<img") == 4  # one face per picture
    assert f"also as {len(HOPPER_COPIES)} copies: {', '.join(HOPPER_COPIES)}" in sheet

    again = operator.cluster(drive, name="drive-c", min_size=1, **WHY)  # nothing analysed or listed twice
    assert (again.photos_embedded, again.faces, again.photos_copied) == (1, 4, ())  # the truncated file, again
    (drive / "re-saved" / "hopper-q20.jpg").write_bytes(jpeg(Image.open(drive / "hopper.jpg"), 20))
    later = operator.cluster(drive, name="drive-c", min_size=1, **WHY)
    assert dict(later.photos_copied) == {"re-saved/hopper-q20.jpg": "hopper.jpg"} and later.faces == 4
    [hopper] = [c for c in operator.clusters("drive-c") if c.photos == ("hopper.jpg",)]
    assert "re-saved/hopper-q20.jpg" in hopper.copies[0]


@pytest.mark.model
def test_copies_are_erased_with_the_collection(engine: Engine, drive: Path, models: DlibModels, tmp_path: Path) -> None:
    operator = engine.acting_as("operator").collections
    operator.cluster(drive, name="drive-e", **WHY)
    with engine.store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM collection_copies").scalar_one() == len(HOPPER_COPIES)
    engine.collections.delete("drive-e", reason="case closed")
    [erased] = engine.acting_as("auditor").audit_events(action="collection.delete")
    assert erased.details["copies_removed"] == len(HOPPER_COPIES)
    gallery = engine.home.root / "gallery.sqlite3"
    with engine.store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM collection_copies").scalar_one() == 0
    contents = gallery.read_bytes() + b"".join(p.read_bytes() for p in gallery.parent.glob("gallery.sqlite3-*"))
    assert b"hopper-same-bytes.jpg" not in contents and b"white-border.jpg" not in contents  # not even in free pages
    events = engine.acting_as("auditor").audit_events()
    assert not any("white-border" in str(e.details) for e in events)  # the audit counts copies, never names them
    # Retention: a collection past its date goes, copies and all.
    operator.cluster(drive, name="drive-r", **WHY)
    with engine.store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE collections SET retain_until = '2001-01-01'")
    with facesearch.open(engine.home.root, actor="auditor", models=models) as reopened:
        [certificate] = reopened.audit_events(action="gallery.purge")
    assert certificate.details["collection_copies_removed"] == len(HOPPER_COPIES)
    with engine.store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM collection_copies").scalar_one() == 0


@pytest.mark.model
def test_another_cases_operator_cannot_read_the_copies(engine: Engine, drive: Path) -> None:
    run = engine.acting_as("operator").collections.cluster(drive, name="drive-m", min_size=1, **WHY)
    engine.accounts.add_user("operator-9", "operator")
    other = engine.acting_as("operator-9").collections
    for attempt in (
        lambda: other.clusters("drive-m"),
        lambda: other.cluster_summary("drive-m", run.clusters[0].cluster_id),
        lambda: other.contact_sheet("drive-m", drive.parent / "sheet-9"),
    ):
        with pytest.raises(CaseMembershipError):
            attempt()
    assert not (drive.parent / "sheet-9").exists()
    with TestClient(create_app(engine.home.root, engine=engine), follow_redirects=False) as client:
        url = "/api/collections/drive-m/clusters"
        assert client.get(url).status_code == 401  # no credential
        as_other = {"Authorization": f"Bearer {token_for(engine, 'operator-9')}"}
        refused = client.get(url, headers=as_other)
        assert refused.status_code == 403 and "hopper" not in refused.text
        enroller = client.get(url, headers={"Authorization": f"Bearer {token_for(engine, 'enroller')}"})
        assert enroller.status_code == 403  # a role that reads no collection
        assert client.get(url, headers=as_other, params={"min_size": "x"}).status_code == 422  # malformed
        mine = client.get(url, headers={"Authorization": f"Bearer {token_for(engine, 'operator')}"})
        [hopper] = [c for c in mine.json() if c["photos"] == ["hopper.jpg"]]
        assert hopper["copies"] == [HOPPER_COPIES]
        # The web UI's collection and cluster pages name the copies to the case's operator.
        assert client.post("/login", data={"token": token_for(engine, "operator")}).status_code == 303
        page = client.get(f"/collections/{run.collection_id}")
        assert "also as re-saved/black-border.png" in page.text
        cluster = client.get(f"/collections/{run.collection_id}/clusters/{hopper['cluster_id']}")
        assert "re-saved/white-border.jpg" in cluster.text
    assert f"+{len(HOPPER_COPIES)} copies" in cluster.text
