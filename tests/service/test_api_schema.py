"""Schemathesis against /openapi.json: requests generated from the API's own description, sent
with real tokens of several roles, must never get a 5xx answer, and every answer must conform to
the description (status code, media type, body schema)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from facesearch.pipeline.models import DlibModels
from facesearch.service import create_app

from helpers import init_staffed, token_for

pytestmark = pytest.mark.slow

MAX_EXAMPLES = int(os.environ.get("FACESEARCH_SCHEMA_EXAMPLES", "8"))
# No 5xx, and every answer is one the description documents, in the media type and shape it says.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
ROLES = ("tester", "operator", "auditor", "enroller", "verifier")  # tester is the admin


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, models: DlibModels) -> Iterator[tuple[FastAPI, list[str]]]:
    home = tmp_path_factory.mktemp("schema") / "home"
    engine = init_staffed(home, actor="tester", models=models)
    tokens = [token_for(engine, name) for name in ROLES]
    try:
        yield create_app(Path(home), engine=engine), tokens
    finally:
        engine.close()


def test_no_request_gets_a_server_error(served: tuple[FastAPI, list[str]]) -> None:
    app, tokens = served
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    roles = itertools.cycle(tokens)
    failures: dict[str, str] = {}
    statuses: dict[int, int] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    # Rotating a token revokes it: run that last, so the other operations run with live tokens.
    operations.sort(key=lambda operation: operation.path == "/api/tokens/rotate")
    assert len(operations) > 25

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def check(case: schemathesis.Case) -> None:
            response = case.call(headers={"Authorization": f"Bearer {next(roles)}"})
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            case.validate_response(response, checks=CHECKS)

        try:
            check()
        except Exception as exc:  # noqa: BLE001 - gather every operation's failure, then report them all
            failures[operation.label] = str(exc)[:2000]
    print(f"statuses of {sum(statuses.values())} requests: {dict(sorted(statuses.items()))}")
    assert sum(n for status, n in statuses.items() if status < 300) >= len(operations) // 2  # not all refused
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
