"""What the sync and the async client share besides the requests: reading an
answer, and which failures a tail rides out."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import httpx

from ._calls import Call
from .errors import PplaneError, error_from

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:7878"
RETRY_CAP_S = 5.0


def parse(call: Call[T], response: httpx.Response) -> T:
    """The answer as the call's model, or the problem document as its exception."""
    return read_answer(call, response.status_code, response.content)


def read_answer(call: Call[T], status: int, content: bytes) -> T:
    """An answer's status and body as the call's model, or its problem
    document as its exception: for a transport of one's own."""
    if status >= 400:
        try:
            body: Any = json.loads(content)
        except ValueError:
            body = content.decode("utf-8", "replace")
        raise error_from(status, body)
    return call.parse(json.loads(content))


def retryable(error: Exception) -> bool:
    """A broken connection, a timeout, throttling or a 5xx passes; a refusal does not."""
    if isinstance(error, httpx.TransportError):
        return True
    if isinstance(error, PplaneError):
        return error.status >= 500 or error.status in (408, 429)
    return False


def outcome_body(result: Any, error: Any) -> dict[str, Any]:
    return {"error": error} if error is not None else {"result": result}


def describe(error: BaseException) -> dict[str, str]:
    """An exception as JSON a tool call's ``error`` can hold."""
    return {"name": type(error).__name__, "message": str(error)}
