SET LOCAL ROLE pplane_owner;

DROP INDEX tool_calls_step_idx;
DROP INDEX outbox_events_correlation_idx;
DROP INDEX orchestration_events_correlation_idx;
DROP INDEX runs_correlation_idx;
DROP INDEX signals_correlation_idx;
