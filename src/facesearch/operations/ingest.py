"""Enrolling a folder of photos: parallel analysis, batch commits, and resuming after a crash.

The engine supplies how a batch is committed (one transaction with its audit events, then the
index) and which images are already enrolled; everything here is the walk over the folder.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

from facesearch.errors import InputError
from facesearch.gallery import SubjectRef
from facesearch.pipeline.faces import FacePipeline
from facesearch.pipeline.prepare import PreparedFace, collect_directory, prepare_many
from facesearch.types import EnrollDirectoryResult, EnrolledImage, EnrollProgress, EnrollStatus, Rejection

Batch = list[tuple[str, PreparedFace]]
Commit = Callable[[Batch, list[Rejection]], Sequence[tuple[SubjectRef, EnrolledImage]]]
Work = list[tuple[str, Path]]


def pending(work: Work, enrolled: set[tuple[str, str]]) -> Work:
    """The (subject, photo) pairs whose photo bytes are not yet enrolled for that subject."""
    todo = []
    for name, path in work:
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            todo.append((name, path))  # analysing it reports the problem
            continue
        if (name, digest) not in enrolled:
            todo.append((name, path))
    return todo


def enroll_directory(
    root: Path,
    *,
    pipeline: FacePipeline,
    enrolled: set[tuple[str, str]],
    commit: Commit,
    batch_faces: int,
    workers: int = 1,
    on_progress: Callable[[EnrollProgress], None] | None = None,
) -> EnrollDirectoryResult:
    """Analyse ROOT/<subject>/<photo> in ``workers`` processes and commit every ``batch_faces`` faces.

    Photos in ``enrolled`` (subject name, sha256) are counted as already enrolled without analysis.
    """
    if not root.is_dir():
        raise InputError(f"{root}: not a directory")
    work, rejected = collect_directory(root)
    if not work:
        raise InputError(f"{root}: no photos found in sub-folders (expected DIR/<subject>/<photo>)")
    todo = pending(work, enrolled)
    already = done = len(work) - len(todo)
    if on_progress:
        on_progress(EnrollProgress(done=done, total=len(work), current=""))
    enrolled_now = 0
    batch: Batch = []
    outcomes = prepare_many([path for _, path in todo], pipeline, workers)
    for (name, path), (prepared, rejection) in zip(todo, outcomes, strict=True):
        done += 1
        if prepared is not None:
            batch.append((name, prepared))
        if rejection is not None:
            rejected.append(rejection)
        if len(batch) >= batch_faces or done == len(work):
            results = commit(batch, rejected)
            enrolled_now += sum(1 for _, r in results if r.status is EnrollStatus.ENROLLED)
            already += sum(1 for _, r in results if r.status is EnrollStatus.ALREADY_ENROLLED)
            batch = []
        if on_progress:
            on_progress(EnrollProgress(done=done, total=len(work), current=str(path)))
    subjects = len({name for name, _ in work})
    return EnrollDirectoryResult(subjects, enrolled_now, already, tuple(rejected))
