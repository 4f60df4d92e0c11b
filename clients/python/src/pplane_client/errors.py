"""Every refusal of the plane is an RFC 9457 problem document with a stable
``type``; each type is one exception class, so callers catch the kind they
handle and still hold the whole document (``error.problem``)."""

from __future__ import annotations

from typing import Any

from .models import Problem

_PREFIX = "urn:pplane:problem:"


class PplaneError(Exception):
    """Any refusal by the plane: the HTTP status and the problem document."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(f"{problem.title}: {problem.detail}")
        self.problem = problem
        self.status = problem.status

    @property
    def kind(self) -> str:
        """The problem's kind without its URN prefix, e.g. ``not-found``."""
        return self.problem.type.removeprefix(_PREFIX)


class UnauthorizedError(PplaneError):
    """401: no key, or a malformed, unknown, revoked or expired one."""


class ForbiddenError(PplaneError):
    """403: the key's scope is below the operation's."""


class NotFoundError(PplaneError):
    """404: nothing with this id in the key's tenant (another tenant's ids included)."""


class ConflictError(PplaneError):
    """409: a version conflict or a reused idempotency key."""

    @property
    def current_version(self) -> int | None:
        """For a version conflict: the version the thing is at now."""
        return self.problem.current_version


class InvalidTransitionError(PplaneError):
    """409: the state machine refuses the change (a finished run takes no steps)."""


class InvalidInputError(PplaneError):
    """400, 415 or 422: the request is malformed; the detail names the field."""


class PayloadTooLargeError(PplaneError):
    """413: the body or one of its fields is over the plane's limit."""


class TooManyRequestsError(PplaneError):
    """429: over the key's or the tenant's request rate; retry after ``Retry-After``."""


class QuotaExceededError(PplaneError):
    """429 or 413: the tenant is at a quota on what waits in its outbox (pending
    effects, or their payload bytes); nothing was written. Retrying helps only
    once deliveries have drained some."""


class ServerError(PplaneError):
    """5xx: the plane could not complete the request; nothing is half-written."""


_BY_KIND: dict[str, type[PplaneError]] = {
    "unauthorized": UnauthorizedError,
    "forbidden": ForbiddenError,
    "not-found": NotFoundError,
    "conflict": ConflictError,
    "invalid-transition": InvalidTransitionError,
    "invalid-input": InvalidInputError,
    "payload-too-large": PayloadTooLargeError,
    "too-many-requests": TooManyRequestsError,
    "quota-exceeded": QuotaExceededError,
    "internal": ServerError,
}

_BY_STATUS: dict[int, type[PplaneError]] = {
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    429: TooManyRequestsError,
}


def error_from(status: int, body: Any) -> PplaneError:
    """The exception for a failed response whose body was ``body``."""
    try:
        problem = Problem.model_validate(body)
    except ValueError:
        detail = body[:200] if isinstance(body, str) and body else "no problem document"
        problem = Problem(type="about:blank", title=f"HTTP {status}", status=status, detail=detail)
    kind = problem.type.removeprefix(_PREFIX) if problem.type.startswith(_PREFIX) else ""
    cls = _BY_KIND.get(kind) or _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else InvalidInputError
    return cls(problem)
