"""pplane_client: the typed client of ``pplane serve``.

Map: ``aio`` (``AsyncPplane``, the asyncio client, and its handles on runs,
steps and tool calls), ``_sync`` (``Pplane``, the blocking twin, generated
from ``aio``), ``_calls`` (each operation as one request), ``errors`` (one
exception class per problem type), ``models`` (generated from openapi.json;
never edited).
"""

from . import models
from ._calls import ByArgs, Call
from ._common import read_answer
from ._sync import Ingested, LangGraph, PendingStep, PendingToolCall, Pplane, Run, Step, ToolCall
from .aio import (
    AsyncIngested,
    AsyncLangGraph,
    AsyncPendingStep,
    AsyncPendingToolCall,
    AsyncPplane,
    AsyncRun,
    AsyncStep,
    AsyncToolCall,
)
from .errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    InvalidTransitionError,
    NotFoundError,
    PayloadTooLargeError,
    PplaneError,
    QuotaExceededError,
    ServerError,
    TooManyRequestsError,
    UnauthorizedError,
)

__all__ = [
    "AsyncIngested",
    "AsyncLangGraph",
    "AsyncPendingStep",
    "AsyncPendingToolCall",
    "AsyncPplane",
    "AsyncRun",
    "AsyncStep",
    "AsyncToolCall",
    "ByArgs",
    "Call",
    "ConflictError",
    "ForbiddenError",
    "Ingested",
    "InvalidInputError",
    "InvalidTransitionError",
    "LangGraph",
    "NotFoundError",
    "PayloadTooLargeError",
    "PendingStep",
    "PendingToolCall",
    "Pplane",
    "PplaneError",
    "QuotaExceededError",
    "Run",
    "ServerError",
    "Step",
    "TooManyRequestsError",
    "ToolCall",
    "UnauthorizedError",
    "models",
    "read_answer",
]
