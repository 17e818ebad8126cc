"""facesearch: accountable, self-hosted face search.

    import facesearch
    engine = facesearch.init("gallery-home")            # or facesearch.open() for an existing one
    engine.enroll("ada.jpg", subject="Ada", source="staff badge photos", basis="contract")
    result = engine.identify("probe.jpg", purpose="building access review", case="SEC-2026-14")
    for face in result.faces:
        for c in face.candidates:            # candidates, never identifications
            print(c.rank, c.subject, c.score, c.clears_threshold)
    engine.verify("a.jpg", "b.jpg").same_person

Scores are always *higher means more alike*; every result carries the threshold and its meaning.
"""

from facesearch.config import Settings
from facesearch.engine import Engine
from facesearch.errors import FacesearchError
from facesearch.lifecycle import init
from facesearch.lifecycle import open_engine as open
from facesearch.pipeline.decode import NamedPhoto
from facesearch.types import (
    Candidate,
    EnrollResult,
    ErasureResult,
    IdentifyResult,
    LawfulBasis,
    VerifyResult,
)

__version__ = "0.1.0"

__all__ = [
    "Candidate",
    "Engine",
    "EnrollResult",
    "ErasureResult",
    "FacesearchError",
    "IdentifyResult",
    "LawfulBasis",
    "NamedPhoto",
    "Settings",
    "VerifyResult",
    "init",
    "open",
]
