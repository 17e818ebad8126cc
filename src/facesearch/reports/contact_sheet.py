"""A collection's contact sheet: each cluster's face crops on one self-contained HTML page, with
cluster and face numbers for curation.

It shows faces, so it is biometric data, kept as the gallery is. The caller
(``CollectionService.contact_sheet``) checks the permissions, unseals the crops and audits the
request; this module only lays the page out (template ``contact_sheet.html``) and writes it.
"""

from __future__ import annotations

import base64
import dataclasses
from datetime import date
from pathlib import Path

from facesearch.pipeline.video import timecode
from facesearch.reports import rendering

PAGE_NAME = "index.html"


@dataclasses.dataclass(frozen=True)
class SheetFace:
    """One face of a cluster: its number, the photo or video it came from (and the time in the video
    of the frame it shows), its crop (empty if none was kept), and the other files that are copies of
    its photo (byte-identical, re-saved, resized or bordered: the face is shown once for them all)."""

    face_id: int
    filename: str
    crop_jpeg: bytes = dataclasses.field(repr=False)
    time_s: float | None = None
    copies: tuple[str, ...] = ()

    @property
    def citation(self) -> str:
        """Where the face is seen: the file, and for a video the time of its frame (``00:12:31.4``)."""
        return self.filename if self.time_s is None else f"{self.filename} at {timecode(self.time_s)}"

    @property
    def crop_uri(self) -> str:
        """The crop as a ``data:`` URI, so the page needs no other file."""
        return "data:image/jpeg;base64," + base64.b64encode(self.crop_jpeg).decode()


@dataclasses.dataclass(frozen=True)
class SheetCluster:
    """One cluster as the sheet shows it: a group a machine proposed, named by a person or not."""

    cluster_id: int
    label: str | None
    faces: tuple[SheetFace, ...]


@dataclasses.dataclass(frozen=True)
class ContactSheet:
    """A collection's clusters and what binds the collection: purpose, case, method, retention."""

    collection: str
    purpose: str
    case: str
    threshold: float
    method: str
    retain_until: date
    clusters: tuple[SheetCluster, ...]


def render_html(sheet: ContactSheet) -> str:
    """The sheet as one self-contained HTML page: crops inline, the stylesheet inline."""
    return rendering.render("contact_sheet.html", sheet=sheet)


def write_sheet(sheet: ContactSheet, folder: Path) -> Path:
    """Write ``index.html`` in FOLDER (created if needed) and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PAGE_NAME
    path.write_text(render_html(sheet), encoding="utf-8")
    return path
