//! The persistence plane's vocabulary, with no SQL and no I/O.
//!
//! Everything here is checked when it is made (parse, don't validate), so the
//! layers above can hold a value and trust it.
//!
//! # Layout
//! - [`ids`]: typed UUIDv7 identifiers (`TenantId`, `RunId`, ...), made by the application.
//! - [`actor`]: who acted: `agent:{id}`, `user:{id}`, `system:{component}`, `external:{name}`.
//! - [`lifecycle`]: the state machines (legal transitions) and the retry policy.
//! - [`delivery`]: what a receiver's answer means for an outbox entry, and the backoff.
//! - [`events`]: the event taxonomy and its schema version.
//! - [`text`]: how values callers sent appear in error messages (short, printable).
//! - [`api_key`]: the text of an API key: what it names, and its secret.
//! - `openapi` (feature `openapi`): the JSON Schemas of ids, state sets and actors.
//! - [`status`]: the lifecycle state sets of runs, steps, tool calls, effects and outbox
//!   entries, the aggregate types of the event log, and the scheduled jobs and their
//!   results, as the database spells them.

/// A value was not one of its enum's spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} must be one of {allowed}, got {}", text::preview(input))]
pub struct StatusParseError {
    pub kind: &'static str,
    pub allowed: String,
    pub input: String,
}

/// An enum whose values are spelled as the database stores them, with
/// `ALL`, `as_str`, `Display`, `FromStr` and serde as that same text.
macro_rules! state_set {
    ($(#[$doc:meta])* $name:ident => $label:literal { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($variant),*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),*
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::openapi::enum_schema($label, &[$($text),*])
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        impl TryFrom<String> for $name {
            type Error = $crate::StatusParseError;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::StatusParseError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)*
                    _ => Err($crate::StatusParseError {
                        kind: $label,
                        allowed: [$($text),*].join(", "),
                        input: s.to_owned(),
                    }),
                }
            }
        }
    };
}

pub mod actor;
pub mod api_key;
pub mod delivery;
pub mod events;
pub mod ids;
pub mod lifecycle;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod status;
pub mod text;

pub use actor::{Actor, ActorError};
pub use events::{EventType, EVENT_SCHEMA_VERSION};
pub use ids::*;
pub use lifecycle::{Lifecycle, RetryPolicy, TransitionError};
pub use status::{
    AggregateType, ApiScope, EffectStatus, Job, JobResult, OutboxStatus, RunStatus, StepStatus,
    ToolCallStatus,
};
