//! Repositories: one module per aggregate, each a set of noun-first functions
//! (`run_insert`, `event_append`, ...) that take `&mut PgConnection`, so they
//! join whatever transaction the caller holds. Every query filters by
//! `tenant_id` explicitly even though row-level security would: it keeps the
//! tenant index in use, it is a second line of defence, and on Citus it is
//! what routes a query to one shard. Repositories only read and write rows;
//! the rules (legal transitions, which event a change emits) live in
//! `operations`.

pub mod api_keys;
pub mod checkpoints;
pub mod destinations;
pub mod effects;
pub mod events;
pub mod langgraph;
pub mod langgraph_retention;
pub mod outbox;
pub mod outbox_depth;
pub mod runs;
pub mod signals;
pub mod steps;
pub mod tenants;
pub mod tool_calls;

use chrono::{DateTime, Utc};
use pplane_domain::{Actor, EventId, TenantId};
use sqlx::PgConnection;

use crate::Result;

/// Holds one of the tenant's idempotency keys (`effect/<key>`,
/// `signal/<channel>/<source id>`) until the transaction ends: a
/// transaction-level advisory lock on a hash of tenant and key, so that
/// requests with the same key run one after another and the later one finds
/// what the earlier one wrote. Keys that hash alike only wait for each other.
pub async fn idempotency_lock(conn: &mut PgConnection, tenant: TenantId, key: &str) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text || '/' || $2, 0))")
        .bind(tenant.as_uuid())
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}

/// A versioned status change: applied only if the row is still at
/// `expected_version`, and then recorded as caused by `causation`.
#[derive(Debug, Clone, Copy)]
pub struct StatusChange<'a> {
    pub expected_version: i32,
    pub status: &'a str,
    /// Output or result, where the entity has one.
    pub output: Option<&'a serde_json::Value>,
    pub error: Option<&'a serde_json::Value>,
    /// For a step going back to PENDING: when the retry is due.
    pub next_retry_at: Option<DateTime<Utc>>,
    pub causation: EventId,
    pub actor: &'a Actor,
}

/// A repository's column list qualified by a table alias, for joins.
/// The SQL for a timestamp that follows a status: `now()` when the move
/// sets it, the column unchanged otherwise. Chosen here from the bound
/// status rather than by a CASE in the statement: Citus refuses a
/// non-immutable function inside CASE in an UPDATE of a distributed table.
pub(crate) fn stamp_when(stamps: bool, column: &'static str) -> &'static str {
    if stamps {
        "now()"
    } else {
        column
    }
}

pub(crate) fn qualified(columns: &str, alias: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A nullable id column as read, before it becomes its typed id: sqlx's
/// `try_from` needs a type of this crate to convert from, since neither
/// `Option<Uuid>` nor `Option<RunId>` is one.
pub(crate) struct MaybeId(Option<uuid::Uuid>);

impl sqlx::Type<sqlx::Postgres> for MaybeId {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <uuid::Uuid as sqlx::Type<sqlx::Postgres>>::type_info()
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for MaybeId {
    fn decode(
        value: sqlx::postgres::PgValueRef<'r>,
    ) -> std::result::Result<Self, sqlx::error::BoxDynError> {
        <Option<uuid::Uuid> as sqlx::Decode<sqlx::Postgres>>::decode(value).map(MaybeId)
    }
}

macro_rules! maybe_id {
    ($($id:ident),*) => {$(
        impl From<MaybeId> for Option<pplane_domain::$id> {
            fn from(raw: MaybeId) -> Self {
                raw.0.map(pplane_domain::$id::from_uuid)
            }
        }
    )*};
}

maybe_id!(EventId, StepId);
