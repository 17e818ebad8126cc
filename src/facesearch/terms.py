"""The fixed words every layer and front end shares: lawful bases, how a subject is referred to.

Plain enums and constants, no dataclasses: a front end reads them to write its help (the CLI's
--help lists the lawful bases) without importing the result types. :mod:`facesearch.types`
re-exports them.
"""

from __future__ import annotations

import enum

# Marks a reference to a subject as its id ("id:6eb6a36764f4145c"); anything else is its name.
SUBJECT_ID_PREFIX = "id:"


class LawfulBasis(enum.StrEnum):
    """GDPR article 6 lawful bases; every enrolled image records one."""

    CONSENT = "consent"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal-obligation"
    VITAL_INTEREST = "vital-interest"
    PUBLIC_TASK = "public-task"
    LEGITIMATE_INTEREST = "legitimate-interest"
