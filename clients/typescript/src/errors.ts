// Every refusal of the plane arrives as an RFC 9457 problem document with a
// stable `type`; each type is one exception class, so callers match with
// `instanceof` and still hold the whole document.

import type { components } from "./generated/schema.js";

/** The problem document the server sent. */
export type Problem = components["schemas"]["Problem"];

const PREFIX = "urn:pplane:problem:";

/** Any refusal by the plane: the HTTP status and the problem document. */
export class PplaneError extends Error {
  readonly status: number;
  readonly problem: Problem;

  constructor(problem: Problem) {
    super(`${problem.title}: ${problem.detail}`);
    this.name = new.target.name;
    this.status = problem.status;
    this.problem = problem;
  }

  /** The problem's kind without its URN prefix, e.g. `not-found`. */
  get kind(): string {
    return this.problem.type.startsWith(PREFIX)
      ? this.problem.type.slice(PREFIX.length)
      : this.problem.type;
  }
}

/** 401: no key, or a malformed, unknown, revoked or expired one. */
export class UnauthorizedError extends PplaneError {}
/** 403: the key's scope is below the operation's. */
export class ForbiddenError extends PplaneError {}
/** 404: nothing with this id in the key's tenant (another tenant's ids included). */
export class NotFoundError extends PplaneError {}
/** 409: a version conflict or a reused idempotency key. */
export class ConflictError extends PplaneError {
  /** For a version conflict: the version the thing is at now. */
  get currentVersion(): number | undefined {
    return this.problem.current_version ?? undefined;
  }
}
/** 409: the state machine refuses the change (e.g. a finished run takes no steps). */
export class InvalidTransitionError extends PplaneError {}
/** 400, 415 or 422: the request is malformed; the detail names the field. */
export class InvalidInputError extends PplaneError {}
/** 413: the body or one of its fields is over the plane's limit. */
export class PayloadTooLargeError extends PplaneError {}
/** 429: over the key's or the tenant's request rate; retry after the answer's `Retry-After`. */
export class TooManyRequestsError extends PplaneError {}
/**
 * 429 or 413: the tenant is at a quota on what waits in its outbox (pending effects, or their
 * payload bytes); nothing was written. Retrying helps only once deliveries have drained some.
 */
export class QuotaExceededError extends PplaneError {}
/** 5xx: the plane could not complete the request; nothing of it is half-written. */
export class ServerError extends PplaneError {}

const BY_KIND: Record<string, new (problem: Problem) => PplaneError> = {
  unauthorized: UnauthorizedError,
  forbidden: ForbiddenError,
  "not-found": NotFoundError,
  conflict: ConflictError,
  "invalid-transition": InvalidTransitionError,
  "invalid-input": InvalidInputError,
  "payload-too-large": PayloadTooLargeError,
  "too-many-requests": TooManyRequestsError,
  "quota-exceeded": QuotaExceededError,
  internal: ServerError,
};

/** The exception for a failed response; `body` is what it carried, if anything. */
export function errorFrom(status: number, body: unknown): PplaneError {
  const problem = isProblem(body)
    ? body
    : {
        type: "about:blank",
        title: `HTTP ${status}`,
        status,
        detail: typeof body === "string" && body.length > 0 ? body.slice(0, 200) : "no problem document",
      };
  const kind = problem.type.startsWith(PREFIX) ? problem.type.slice(PREFIX.length) : "";
  const byKind = BY_KIND[kind];
  if (byKind) return new byKind(problem);
  if (status === 401) return new UnauthorizedError(problem);
  if (status === 403) return new ForbiddenError(problem);
  if (status === 404) return new NotFoundError(problem);
  if (status === 409) return new ConflictError(problem);
  if (status === 413) return new PayloadTooLargeError(problem);
  if (status === 429) return new TooManyRequestsError(problem);
  if (status >= 500) return new ServerError(problem);
  return new InvalidInputError(problem);
}

function isProblem(body: unknown): body is Problem {
  if (typeof body !== "object" || body === null) return false;
  const b = body as Record<string, unknown>;
  return typeof b.type === "string" && typeof b.title === "string" && typeof b.status === "number";
}
