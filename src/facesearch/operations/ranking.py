"""1:N ranking: the vector index's nearest faces turned into candidate subjects, best first.

Scores are always *higher means more alike*; what a score means comes from
:class:`~facesearch.scoring.scores.ScoreMeaning`.
"""

from __future__ import annotations

from facesearch.errors import ModelMismatchError
from facesearch.index.base import VectorIndex
from facesearch.scoring.scores import ScoreMeaning, SubjectLookup
from facesearch.types import Candidate, Embedding


def rank_subjects(
    index: VectorIndex, probe: Embedding, k: int, meaning: ScoreMeaning, lookup: SubjectLookup
) -> tuple[Candidate, ...]:
    """The k best subjects for one probe face; a subject's score is that of its best face.

    Asks the index for more faces until k distinct subjects are found or the index is exhausted.
    """
    if probe.model_id != index.info.model_id:
        raise ModelMismatchError(
            f"cannot search an index of model {index.info.model_id!r} with an embedding of {probe.model_id!r}"
        )
    total = len(index)
    n_faces = max(1, min(total, max(4 * k, 32)))
    while True:
        hits = index.search(probe.vector, n_faces)
        found = hits.ids[0] >= 0
        ids = [int(i) for i in hits.ids[0][found]]
        subjects = lookup(ids)
        best: dict[str, tuple[float, int, str]] = {}
        for face_id, score in zip(ids, hits.scores[0][found], strict=True):
            if face_id in subjects:
                subject_id, name = subjects[face_id]
                if subject_id not in best:
                    best[subject_id] = (float(score), face_id, name)
        if len(best) >= k or n_faces >= total:
            break
        n_faces = min(total, n_faces * 4)
    ranked = sorted(best.items(), key=lambda item: -item[1][0])[:k]
    candidates = []
    for rank, (subject_id, (score, face_id, name)) in enumerate(ranked, start=1):
        fmr, fmr_meaning = meaning.expected_fmr(score)
        if fmr is not None and total > 1:  # one search compares the probe with every face
            fmr_meaning += f"; over this gallery's {total:,} faces, about {fmr * total:.2g} such scores per search"
        candidates.append(
            Candidate(
                rank=rank,
                subject=name,
                subject_id=subject_id,
                score=round(score, 6),
                clears_threshold=score >= meaning.threshold.score,
                face_id=face_id,
                expected_fmr=fmr,
                fmr_meaning=fmr_meaning,
            )
        )
    return tuple(candidates)
