// @pplane/client: the typed client of `pplane serve`.
//
// Map: client.ts (Pplane, the entry point; signals, destinations, outbox),
// runs.ts (handles on runs, steps and tool calls), events.ts (pages and the
// live tail), langgraph.ts (LangGraph's checkpointer protocol), errors.ts (one exception class per problem type),
// generated/schema.ts (types generated from openapi.json; never edited).

export { Pplane, type PplaneOptions, type By, type IngestInput, type Ingested, type Schemas } from "./client.js";
export { Run, Step, ToolCall, PendingStep, PendingToolCall, type StepOptions, type EffectInput, type RetryPolicy, type Outcome } from "./runs.js";
export { Events, type TailOptions } from "./events.js";
export { LangGraph, type CheckpointPut, type WritesPut, type CheckpointSearch } from "./langgraph.js";
export {
  PplaneError,
  UnauthorizedError,
  ForbiddenError,
  NotFoundError,
  ConflictError,
  InvalidTransitionError,
  InvalidInputError,
  PayloadTooLargeError,
  QuotaExceededError,
  TooManyRequestsError,
  ServerError,
  type Problem,
} from "./errors.js";
export type { components, paths, operations } from "./generated/schema.js";
