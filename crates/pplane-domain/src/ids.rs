//! Typed identifiers. A `RunId` cannot be passed where a `StepId` is expected,
//! and every id is a UUIDv7 made here, in the application: time-ordered, so
//! index inserts stay at the right edge, and no database sequence is needed
//! (sequences are per node on Citus and allocate out of commit order).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The text was not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} must be a UUID, got {}", crate::text::preview(input))]
pub struct IdParseError {
    pub kind: &'static str,
    pub input: String,
}

macro_rules! typed_id {
    ($($(#[$doc:meta])* $name:ident => $label:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim()).map(Self).map_err(|_| IdParseError {
                    kind: $label,
                    input: s.to_owned(),
                })
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                crate::openapi::uuid_schema($label)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
    )*};
}

typed_id! {
    /// A tenant: the unit of isolation. Every row belongs to exactly one.
    TenantId => "tenant id";
    /// A principal acting in a tenant: a user or a service account.
    UserId => "user id";
    /// Ties together everything that one signal set in motion.
    CorrelationId => "correlation id";
    SignalId => "signal id";
    RunId => "run id";
    StepId => "step id";
    ToolCallId => "tool call id";
    CheckpointId => "checkpoint id";
    EffectId => "effect id";
    EventId => "event id";
    OutboxId => "outbox id";
    /// Where a tenant's effects are delivered: a webhook or a JetStream subject.
    DestinationId => "destination id";
    /// A key that lets a program act in one tenant through `pplane serve`.
    ApiKeyId => "API key id";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_version_7_and_time_ordered() {
        let a = RunId::new();
        let b = RunId::new();
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert!(a < b, "a later id sorts after an earlier one");
    }

    #[test]
    fn parsing_names_the_kind_of_id_on_error() {
        let err = "not-a-uuid".parse::<TenantId>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "tenant id must be a UUID, got \"not-a-uuid\""
        );
        let id = TenantId::new();
        assert_eq!(id.to_string().parse::<TenantId>().unwrap(), id);
        let long = "x"
            .repeat(100_000)
            .parse::<RunId>()
            .unwrap_err()
            .to_string();
        assert!(
            long.len() < 120 && long.contains("first 40 of 100000"),
            "{long}"
        );
    }
}
