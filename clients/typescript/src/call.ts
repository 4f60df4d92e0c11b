// The two things every request shares: who makes the change (`By`), and how
// an answer becomes a value or a typed exception.

import { errorFrom } from "./errors.js";

/** Who makes a change: sent with every request that changes something. */
export interface By {
  /** `agent:…`, `user:…`, `system:…` or `external:…` (default `user:<the key's principal>`). */
  actor?: string;
  /** An event of the same run that caused this change (default: what it hangs from). */
  causedBy?: string;
  /** The version the caller last saw; a stale one is a `ConflictError`. */
  expectedVersion?: number;
}

/** The `By` fields as the API spells them. */
export function byBody(by: By | undefined) {
  return {
    actor: by?.actor ?? null,
    caused_by: by?.causedBy ?? null,
    expected_version: by?.expectedVersion ?? null,
  };
}

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The answer's body, or the typed exception for its problem document. */
export async function answer<T>(pending: Promise<Answer<T>>): Promise<NonNullable<T>> {
  const { data, error, response } = await pending;
  if (!response.ok) throw errorFrom(response.status, error);
  return data as NonNullable<T>;
}

