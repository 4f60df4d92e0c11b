//! The persistence layer's specification, on a real PostgreSQL: one module
//! per feature, a fresh database per test.

mod api_keys;
mod causation;
mod check_data;
mod check_schema;
mod checkpoint_retention;
mod connections;
mod cross_tenant;
mod debugging_indexes;
mod event_log;
mod example;
mod finished_runs;
mod gate_plans;
mod gate_readiness;
mod group_commit;
mod ingestion;
mod langgraph;
mod layering;
mod lifecycles;
mod migrations;
mod outbox;
mod outbox_turns;
mod projections;
mod quotas;
mod returned_events;
mod runtime_guard;
mod support;
mod tenant_isolation;
mod trace;
