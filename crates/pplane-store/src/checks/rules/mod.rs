//! The rules of the schema gate, each a pure function of a catalog snapshot.
//! The expected model (tables, keys, cascades, state sets) is written here
//! once; docs/schema.md explains each choice.
//!
//! # Layout
//! - [`schema`]: Schema Compliance (columns, keys, cascades, state sets).
//! - [`tenancy`]: Multi-Tenancy (row-level security, policies, roles, views).
//! - [`integrity`]: Append-Only, Idempotency, Migrations and Performance.

mod integrity;
mod schema;
mod tenancy;

use super::catalog::Catalog;
use super::CheckResult;
use crate::migrations::{AppliedMigration, MigrationSet};

/// Every table of the contract.
pub const TABLES: [&str; 10] = [
    "tenants",
    "user_tenants",
    "signals",
    "runs",
    "steps",
    "effects",
    "tool_calls",
    "run_checkpoints",
    "orchestration_events",
    "outbox_events",
];

/// The orchestration (runtime) tables: keyed (tenant_id, id), audited.
pub const ORCHESTRATION_TABLES: [&str; 8] = [
    "signals",
    "runs",
    "steps",
    "effects",
    "tool_calls",
    "run_checkpoints",
    "orchestration_events",
    "outbox_events",
];

pub(super) struct ForeignKey {
    pub(super) table: &'static str,
    pub(super) columns: &'static [&'static str],
    pub(super) parent: &'static str,
    /// The designed ON DELETE action: r (restrict) or c (cascade).
    pub(super) on_delete: &'static str,
}

const fn fk(
    table: &'static str,
    columns: &'static [&'static str],
    parent: &'static str,
    on_delete: &'static str,
) -> ForeignKey {
    ForeignKey {
        table,
        columns,
        parent,
        on_delete,
    }
}

/// The designed references. RESTRICT wherever a delete would erase history;
/// CASCADE only for memberships of a deleted tenant, the API keys of a
/// removed membership and the outbox entry of a deleted effect.
pub(super) const FOREIGN_KEYS: &[ForeignKey] = &[
    fk("user_tenants", &["tenant_id"], "tenants", "c"),
    fk("signals", &["tenant_id"], "tenants", "r"),
    fk("runs", &["tenant_id"], "tenants", "r"),
    fk("runs", &["tenant_id", "signal_id"], "signals", "r"),
    fk("steps", &["tenant_id"], "tenants", "r"),
    fk("steps", &["tenant_id", "run_id"], "runs", "r"),
    fk("effects", &["tenant_id"], "tenants", "r"),
    fk("effects", &["tenant_id", "run_id"], "runs", "r"),
    fk("effects", &["tenant_id", "step_id"], "steps", "r"),
    fk("tool_calls", &["tenant_id"], "tenants", "r"),
    fk("tool_calls", &["tenant_id", "step_id"], "steps", "r"),
    fk("run_checkpoints", &["tenant_id"], "tenants", "r"),
    fk("run_checkpoints", &["tenant_id", "run_id"], "runs", "r"),
    fk("orchestration_events", &["tenant_id"], "tenants", "r"),
    fk("outbox_events", &["tenant_id"], "tenants", "r"),
    fk("tenant_event_heads", &["tenant_id"], "tenants", "r"),
    fk("effect_destinations", &["tenant_id"], "tenants", "r"),
    fk("run_summary", &["tenant_id"], "tenants", "r"),
    fk("api_keys", &["tenant_id"], "tenants", "r"),
    fk("api_keys", &["tenant_id", "user_id"], "user_tenants", "c"),
    fk("langgraph_threads", &["tenant_id"], "tenants", "r"),
    fk("langgraph_threads", &["tenant_id", "id"], "runs", "r"),
    fk("langgraph_checkpoints", &["tenant_id"], "tenants", "r"),
    fk(
        "langgraph_checkpoints",
        &["tenant_id", "thread_id"],
        "langgraph_threads",
        "r",
    ),
    fk(
        "langgraph_checkpoints",
        &["tenant_id", "run_checkpoint_id"],
        "run_checkpoints",
        "r",
    ),
    fk("langgraph_blobs", &["tenant_id"], "tenants", "r"),
    fk(
        "langgraph_blobs",
        &["tenant_id", "thread_id"],
        "langgraph_threads",
        "r",
    ),
    fk("langgraph_writes", &["tenant_id"], "tenants", "r"),
    fk(
        "langgraph_writes",
        &["tenant_id", "thread_id"],
        "langgraph_threads",
        "r",
    ),
    fk(
        "outbox_events",
        &["tenant_id", "destination_id"],
        "effect_destinations",
        "r",
    ),
    fk(
        "outbox_events",
        &["tenant_id", "aggregate_id"],
        "effects",
        "c",
    ),
];

/// Tables that only members of the active tenant may read and write: the
/// runtime tables, the per-tenant event heads, the effect destinations and
/// the projections, the API keys, the LangGraph documents.
pub const MEMBER_TABLES: [&str; 16] = [
    "signals",
    "runs",
    "steps",
    "effects",
    "tool_calls",
    "run_checkpoints",
    "orchestration_events",
    "outbox_events",
    "tenant_event_heads",
    "effect_destinations",
    "run_summary",
    "api_keys",
    "langgraph_threads",
    "langgraph_checkpoints",
    "langgraph_blobs",
    "langgraph_writes",
];

/// Tables the runtime may delete rows from: delivered outbox entries
/// (retention), and LangGraph's documents (a thread deleted or pruned; the
/// runs, run checkpoints and events that recorded them stay).
pub const DELETABLE_TABLES: [&str; 4] = [
    "outbox_events",
    "langgraph_checkpoints",
    "langgraph_blobs",
    "langgraph_writes",
];

/// On Citus, the tables copied to every node rather than distributed: every
/// policy asks them who is a member, on the worker where it runs.
pub const REFERENCE_TABLES: [&str; 2] = ["tenants", "user_tenants"];

/// Tables the outbox dispatcher reads across tenants (migration 7); their
/// fences let `pplane_dispatcher` through, and nothing else may.
pub const DISPATCH_TABLES: [&str; 2] = ["outbox_events", "effect_destinations"];

/// Keys that make ingestion and delivery idempotent.
pub(super) const UNIQUE_KEYS: &[(&str, &[&str])] = &[
    ("signals", &["tenant_id", "source_channel", "source_id"]),
    ("outbox_events", &["tenant_id", "idempotency_key"]),
    ("effects", &["tenant_id", "idempotency_key"]),
    ("steps", &["tenant_id", "run_id", "step_index"]),
];

pub fn evaluate(
    cat: &Catalog,
    set: &MigrationSet,
    history: &[AppliedMigration],
) -> Vec<CheckResult> {
    let mut results = vec![
        schema::tables_present(cat),
        schema::tenant_id_column(cat),
        schema::timestamps(cat),
        schema::updated_at_triggers(cat),
        schema::audit_columns(cat),
        schema::uuid_primary_keys(cat),
        schema::foreign_keys(cat),
        schema::status_sets(cat),
        tenancy::rls_enabled_forced(cat),
        tenancy::tenant_fences(cat),
        tenancy::membership_policies(cat),
        tenancy::runtime_role(cat),
        tenancy::owner_role(cat),
        tenancy::views_respect_rls(cat),
        tenancy::app_least_privilege(cat),
        integrity::events_privileges(cat),
        integrity::events_triggers(cat),
        integrity::unique_keys(cat),
        integrity::effect_spec_key(cat),
        integrity::migrations_applied(set, history),
        integrity::migration_versions(set),
        integrity::migration_rollbacks(set),
        integrity::migration_atomic(set),
        integrity::debugging_indexes(cat),
        integrity::outbox_claim_index(cat),
    ];
    if let Some(citus) = &cat.citus {
        results.push(tenancy::distribution(cat, citus));
    }
    results
}
