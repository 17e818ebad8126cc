"""Times in answers carry their zone. The gallery stores UTC (``DateTime(timezone=True)``), but
SQLite hands the values back naive, which JSON would render without an offset: not an RFC 3339
``date-time``, and ambiguous to a client. Every route's result is walked once and each naive
datetime in it marked as UTC before FastAPI renders it."""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi.routing import APIRoute


def utc(value: Any) -> Any:
    """VALUE with every naive datetime in it (in dataclasses, lists, tuples, dicts) marked UTC."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for field in dataclasses.fields(value):
            if field.init:
                old = getattr(value, field.name)
                new = utc(old)
                if new is not old:
                    changes[field.name] = new
        return dataclasses.replace(value, **changes) if changes else value
    if isinstance(value, list | tuple):
        items = [utc(v) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return type(value)(items)
    if isinstance(value, Mapping):
        return {k: utc(v) for k, v in value.items()}
    return value


def _in_utc(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    if getattr(endpoint, "_in_utc", False):
        return endpoint
    if inspect.iscoroutinefunction(endpoint):

        @functools.wraps(endpoint)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            return utc(await endpoint(*args, **kwargs))

        wrapped: Callable[..., Any] = run_async
    else:

        @functools.wraps(endpoint)
        def run(*args: Any, **kwargs: Any) -> Any:
            return utc(endpoint(*args, **kwargs))

        wrapped = run
    wrapped._in_utc = True  # type: ignore[attr-defined]
    return wrapped


class UtcRoute(APIRoute):
    """A route whose result has its naive datetimes marked UTC (see the module's docstring)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, _in_utc(endpoint), **kwargs)
