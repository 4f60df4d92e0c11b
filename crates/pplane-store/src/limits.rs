//! Explicit size limits on opaque payloads. The store checks them before
//! writing and names the field; migration 5 enforces the same limits in the
//! database as a backstop. The store measures compact JSON, while PostgreSQL
//! measures jsonb's text form (a space after each `:` and `,`), so a value
//! just under a limit here can still be refused there, by constraint name.

use crate::{Result, StoreError};

/// A signal's payload.
pub const SIGNAL_PAYLOAD_MAX: usize = 256 * 1024;
/// A checkpoint's opaque state.
pub const CHECKPOINT_STATE_MAX: usize = 1024 * 1024;
/// An effect's spec.
pub const EFFECT_SPEC_MAX: usize = 64 * 1024;
/// An event's data: events describe changes; bulky state goes in checkpoints.
pub const EVENT_DATA_MAX: usize = 64 * 1024;
/// Tool arguments and results, step inputs and outputs.
pub const DETAIL_MAX: usize = 256 * 1024;
/// Error details: copied into the failure's event, so they must fit in one.
pub const ERROR_MAX: usize = 16 * 1024;

/// Fails when `value`, as JSON text, is over `limit` bytes.
pub fn check_size(field: &'static str, value: &serde_json::Value, limit: usize) -> Result<()> {
    let actual = value.to_string().len();
    if actual > limit {
        Err(StoreError::PayloadTooLarge {
            field,
            limit,
            actual,
        })
    } else {
        Ok(())
    }
}
