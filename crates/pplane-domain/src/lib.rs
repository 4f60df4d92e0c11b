//! The persistence plane's vocabulary, with no SQL and no I/O.
//!
//! Everything here is checked when it is made (parse, don't validate), so the
//! layers above can hold a value and trust it.
//!
//! # Layout
//! - [`ids`]: typed UUIDv7 identifiers (`TenantId`, `RunId`, ...), made by the application.
//! - [`actor`]: who acted: `agent:{id}`, `user:{id}`, `system:{component}`, `external:{name}`.
//! - [`status`]: the lifecycle state sets of runs, steps, tool calls, effects and outbox
//!   entries, and the aggregate types of the event log, as the database spells them.

pub mod actor;
pub mod ids;
pub mod status;

pub use actor::{Actor, ActorError};
pub use ids::*;
pub use status::{
    AggregateType, EffectStatus, OutboxStatus, RunStatus, StepStatus, ToolCallStatus,
};
