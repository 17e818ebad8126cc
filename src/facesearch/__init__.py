"""facesearch: accountable, self-hosted face search.

    import facesearch
    engine = facesearch.init("gallery-home", actor="admin-1")   # its creator is its admin; facesearch.open() later
    engine.retention.set_period(730)                  # no enrollment before a retention period exists
    engine.purposes.add("building access review")     # the purposes searches may serve
    engine.accounts.add_user("hr-clerk", "enroller")  # each person one role: admins do not enroll or search
    engine.accounts.add_user("analyst-7", "operator")
    engine.acting_as("hr-clerk").enroll(["ada.jpg"], subject="Ada", source="staff badge photos", basis="contract")
    analyst = engine.acting_as("analyst-7")
    result = analyst.identify("probe.jpg", purpose="building access review", case="SEC-2026-14")
    for face in result.faces:
        for c in face.candidates:            # candidates, never identifications
            print(c.rank, c.subject, c.score, c.clears_threshold)
    analyst.verify("a.jpg", "b.jpg", purpose="building access review", case="SEC-2026-14").same_person

Scores are always *higher means more alike*; every result carries the threshold and its meaning.

Importing the package loads no heavy library: each name below is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Each public name: the module it lives in, and its name there.
_PUBLIC: dict[str, tuple[str, str]] = {
    "Candidate": ("facesearch.types", "Candidate"),
    "Engine": ("facesearch.engine", "Engine"),
    "EnrollResult": ("facesearch.types", "EnrollResult"),
    "ErasureResult": ("facesearch.types", "ErasureResult"),
    "FacesearchError": ("facesearch.errors", "FacesearchError"),
    "IdentifyResult": ("facesearch.types", "IdentifyResult"),
    "LawfulBasis": ("facesearch.types", "LawfulBasis"),
    "NamedPhoto": ("facesearch.pipeline.decode", "NamedPhoto"),
    "Settings": ("facesearch.config", "Settings"),
    "VerifyResult": ("facesearch.types", "VerifyResult"),
    "init": ("facesearch.lifecycle", "init"),
    "open": ("facesearch.lifecycle", "open_engine"),
}

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


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use (PEP 562), so ``import facesearch`` stays fast."""
    try:
        module, attribute = _PUBLIC[name]
    except KeyError:
        raise AttributeError(f"module 'facesearch' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
