//! The one error type of the persistence layer.
//!
//! Database errors are translated here, by SQLSTATE and constraint name, into
//! errors the layers above can act on: a unique violation on
//! `signals_source_key` is `Conflict { constraint: Constraint::SignalSource }`,
//! not an opaque driver error. [`Constraint`] is the one place where the
//! schema's constraint names meet the code; nothing else compares them.
//!
//! Refused state changes (a finished run, a step that is not running, an
//! entry that is not a dead letter) are their own variants, distinct from
//! bad input ([`StoreError::InvalidInput`], [`StoreError::Invalid`]) and from
//! faults of the plane itself ([`StoreError::Internal`]).

use crate::migrations::MigrationError;

/// The constraints the code acts on, by the names the migrations give them;
/// any other is `Other` with its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// `signals_source_key`: one signal per (tenant, channel, source id).
    SignalSource,
    /// `orchestration_events_aggregate_version_key`: one event per aggregate version.
    EventAggregateVersion,
    /// `effects_idempotency_key`: one effect per (tenant, key).
    EffectIdempotencyKey,
    /// `outbox_events_idempotency_key`: one outbox entry per (tenant, key).
    OutboxIdempotencyKey,
    /// `steps_run_index_key`: one step per (run, index).
    StepRunIndex,
    /// `effect_destinations_name_key`: one destination per (tenant, name).
    DestinationName,
    Other(String),
}

impl Constraint {
    const NAMED: [(Constraint, &'static str); 6] = [
        (Constraint::SignalSource, "signals_source_key"),
        (
            Constraint::EventAggregateVersion,
            "orchestration_events_aggregate_version_key",
        ),
        (Constraint::EffectIdempotencyKey, "effects_idempotency_key"),
        (
            Constraint::OutboxIdempotencyKey,
            "outbox_events_idempotency_key",
        ),
        (Constraint::StepRunIndex, "steps_run_index_key"),
        (Constraint::DestinationName, "effect_destinations_name_key"),
    ];

    pub fn from_name(name: &str) -> Constraint {
        Constraint::NAMED
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(c, _)| c.clone())
            .unwrap_or_else(|| Constraint::Other(name.to_owned()))
    }

    pub fn name(&self) -> &str {
        match self {
            Constraint::Other(name) => name,
            known => Constraint::NAMED
                .iter()
                .find(|(c, _)| c == known)
                .map(|(_, n)| *n)
                .unwrap_or("?"),
        }
    }
}

impl std::fmt::Display for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a tenant's quota counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    /// Effects requested and not yet delivered or dead-lettered.
    PendingEffects,
    /// The payload bytes of those effects, as stored.
    PendingBytes,
}

fn quota_detail(quota: Quota, limit: i64, would_be: i64) -> String {
    let what = match quota {
        Quota::PendingEffects => "pending effects",
        Quota::PendingBytes => "bytes of pending effect payloads",
    };
    format!(
        "this request would take the tenant to {would_be} {what}, over its quota of {limit}: \
         wait for deliveries, or ask an operator to raise it (pplane tenant quota)"
    )
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique or exclusion constraint refused the write.
    #[error("conflict: {constraint} already holds this value")]
    Conflict { constraint: Constraint },

    /// The database rolled the transaction back to break a deadlock or a
    /// serialization conflict (on Citus also while a shard group moves);
    /// nothing of it was written, and running it again may succeed.
    #[error("the database rolled the transaction back ({reason}); nothing was written: retry it")]
    Retry { reason: String },

    /// A foreign key found no parent row in this tenant.
    #[error("missing reference: {constraint} found no parent row in the active tenant")]
    MissingReference { constraint: Constraint },

    /// pg_dump or pg_restore failed, or could not be found (operator tools).
    #[cfg(feature = "operator")]
    #[error(transparent)]
    Tool(#[from] pplane_cluster::ClusterError),

    /// A CHECK or NOT NULL constraint refused the value.
    #[error("invalid value: {constraint} refused it")]
    Invalid { constraint: String },

    /// No row with this id in the active tenant (or not visible to this principal).
    #[error("{entity} {id} not found in this tenant")]
    NotFound { entity: &'static str, id: String },

    /// The state machine does not allow the move; nothing was written.
    #[error(transparent)]
    Transition(#[from] pplane_domain::TransitionError),

    /// Another writer changed the aggregate first (optimistic concurrency).
    #[error(
        "{entity} {id} was changed concurrently (expected version {expected}{}); reload and retry",
        current.map(|c| format!(", now at {c}")).unwrap_or_default()
    )]
    VersionConflict {
        entity: &'static str,
        id: String,
        expected: i32,
        /// The version it is at, where the refusal read it.
        current: Option<i32>,
    },

    /// The idempotency key was used before with different content.
    #[error("{what} {key:?} was already used with different content; nothing was written")]
    IdempotencyConflict { what: &'static str, key: String },

    /// The run has ended: nothing under it changes any more.
    #[error("run {run} is {status} and takes no more {what}")]
    RunFinished {
        run: String,
        status: &'static str,
        what: &'static str,
    },

    /// Completing a run needs every step and tool call under it ended.
    #[error(
        "run {run} still has {live}: complete, skip or cancel them first \
         (failing or cancelling the run cancels them)"
    )]
    RunUnsettled { run: String, live: String },

    /// Tool calls belong to a RUNNING step.
    #[error("step {step} is {status}: tool calls belong to a RUNNING step")]
    StepNotRunning {
        step: String,
        status: pplane_domain::StepStatus,
    },

    /// The caller's cause is no event of this tenant.
    #[error("caused_by {event} is not an event of this tenant; nothing was written")]
    CauseUnknown { event: String },

    /// The caller's cause belongs to another correlation (another run's story).
    #[error(
        "caused_by {event} belongs to correlation {correlation}, not this one; nothing was written"
    )]
    CauseElsewhere { event: String, correlation: String },

    /// Only a DEAD_LETTER outbox entry can be requeued.
    #[error("outbox entry {entry} is {status}: only a DEAD_LETTER entry can be requeued")]
    NotDeadLetter {
        entry: String,
        status: pplane_domain::OutboxStatus,
    },

    /// The run has a step at the last index; new steps need their own index.
    #[error("run {run} has a step at the last index, {max}: give new steps an index of their own")]
    RunFull { run: String, max: i32 },

    /// An API key that opens nothing: no such key in its tenant, a wrong
    /// secret, or a key revoked or past its expiry.
    #[error("the API key is {reason}")]
    ApiKeyRefused { reason: &'static str },

    /// A fault of the plane itself, not of the caller's input: a status the
    /// domain does not know read back, a stopped appender, a document that
    /// does not decode.
    #[error("internal error: {0}")]
    Internal(String),

    /// A failed step has used all its retries.
    #[error("step {step} has used all {max_retries} of its retries")]
    RetriesExhausted { step: String, max_retries: u32 },

    /// An opaque payload is larger than its limit.
    #[error("{field} is {actual} bytes, over its limit of {limit} bytes")]
    PayloadTooLarge {
        field: &'static str,
        limit: usize,
        actual: usize,
    },

    /// The tenant is at one of its quotas (migration 20); nothing was
    /// written.
    #[error("{}", quota_detail(*.quota, *.limit, *.would_be))]
    QuotaExceeded {
        quota: Quota,
        limit: i64,
        /// What the count would be with the request.
        would_be: i64,
    },

    /// Input the store refuses before it reaches the database.
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// Row-level security refused a row outside the active tenant, or a
    /// privilege the active role does not have.
    #[error("refused by tenant isolation: {0}")]
    TenantIsolation(String),

    /// The principal is not a member of the tenant it acts in (migration 10).
    #[error("{0}")]
    NotMember(String),

    /// An UPDATE, DELETE or TRUNCATE reached the append-only event log.
    #[error("orchestration_events is append-only: {0}")]
    AppendOnly(String),

    /// The runtime role is unsafe to work as, or the schema is unprotected.
    #[error("refusing to run: {}", .0.join("; "))]
    UnsafeRuntime(Vec<String>),

    /// Work across every tenant, which only a login past row-level security
    /// may do.
    #[error("{0} span every tenant: run it as a superuser or a BYPASSRLS (operator) login")]
    OperatorLoginRequired(&'static str),

    /// The login cannot act as a role the operation needs.
    #[error("the login role {login} cannot act as {role}: {hint}")]
    RoleUnavailable {
        login: String,
        role: &'static str,
        hint: &'static str,
    },

    #[error(transparent)]
    Migration(#[from] MigrationError),

    #[error("invalid database name {0:?}: use lower-case letters, digits and underscores")]
    DatabaseName(String),

    #[error("database error: {0}")]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        let Some(db) = err.as_database_error() else {
            return StoreError::Database(err);
        };
        let named = || Constraint::from_name(db.constraint().unwrap_or("unnamed constraint"));
        match db.code().as_deref() {
            Some("23505") | Some("23P01") => StoreError::Conflict {
                constraint: named(),
            },
            Some("23503") => StoreError::MissingReference {
                constraint: named(),
            },
            Some("23514") | Some("23502") => StoreError::Invalid {
                constraint: match db.constraint() {
                    Some(name) => name.to_owned(),
                    None => db.message().to_owned(),
                },
            },
            Some("42501") => StoreError::TenantIsolation(db.message().to_owned()),
            Some("40001") | Some("40P01") => StoreError::Retry {
                reason: db.message().to_owned(),
            },
            Some("PA001") => StoreError::AppendOnly(db.message().to_owned()),
            Some("PA002") => StoreError::NotMember(db.message().to_owned()),
            // A NUL character: text and jsonb cannot hold one.
            Some("22021") | Some("22P05") => StoreError::InvalidInput(
                "text and JSON values cannot contain the NUL character (\\u0000)".into(),
            ),
            _ => StoreError::Database(err),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A status read back from the database that the domain does not know:
/// the schema's CHECK and the domain's enum disagree.
impl From<pplane_domain::StatusParseError> for StoreError {
    fn from(e: pplane_domain::StatusParseError) -> Self {
        StoreError::Internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::Constraint;

    #[test]
    fn constraint_names_round_trip_in_one_place() {
        for (constraint, name) in Constraint::NAMED {
            assert_eq!(Constraint::from_name(name), constraint);
            assert_eq!(constraint.name(), name);
        }
        let other = Constraint::from_name("tenants_pkey");
        assert_eq!(other, Constraint::Other("tenants_pkey".into()));
        assert_eq!(other.to_string(), "tenants_pkey");
    }

    #[test]
    fn every_named_constraint_is_in_the_migrations() {
        let sql: String = crate::MigrationSet::embedded()
            .migrations
            .iter()
            .map(|m| m.up.clone())
            .collect();
        for (_, name) in Constraint::NAMED {
            assert!(sql.contains(&format!("CONSTRAINT {name} ")), "{name}");
        }
    }
}
