-- Indexes for the walkthrough's Standard Debugging Procedure (section 8), so
-- that "what happened in this run?" is answered from indexes on a table of any
-- size. Each leads with tenant_id: the row-level security policy supplies
-- tenant_id = current_tenant_id() to every query, so these serve the queries
-- exactly as the walkthrough writes them, without a tenant filter of their own.
-- The other queries of section 8 are served by keys made in the first
-- migration: steps_run_index_key (steps of a run in order), the primary keys
-- (lookups by id), orchestration_events_aggregate_version_key (events of a
-- failed step), effects_run_idx (effects of a run) and outbox_events_effect_idx
-- (the outbox entry of an effect), orchestration_events_causation_idx (the
-- recursive causation walk).
SET LOCAL ROLE pplane_owner;

-- Step 1: locate the signal of a correlation id.
CREATE INDEX signals_correlation_idx ON signals (tenant_id, correlation_id);
-- Steps 2 and 5: locate the run(s) of a correlation id.
CREATE INDEX runs_correlation_idx ON runs (tenant_id, correlation_id);
-- Steps 4 and 7: the events of a correlation id in sequence order.
CREATE INDEX orchestration_events_correlation_idx
    ON orchestration_events (tenant_id, correlation_id, sequence_number);
-- Step 6: the outbox entries of a correlation id.
CREATE INDEX outbox_events_correlation_idx ON outbox_events (tenant_id, correlation_id);
-- Diagnose a failed run, step 3: the tool calls of a step.
CREATE INDEX tool_calls_step_idx ON tool_calls (tenant_id, step_id);
