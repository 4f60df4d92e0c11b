//! Explicit limits on what callers send: sizes of opaque payloads, and the
//! one character PostgreSQL cannot store. The store checks them before
//! writing and names the field; migration 5 enforces the same sizes in the
//! database as a backstop. Sizes are measured as PostgreSQL measures them,
//! on jsonb's text form (a space after each `:` and `,`), so a value the
//! store accepts is not refused by the database's CHECK.

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

/// The largest step index: far beyond any real run, and far enough below
/// `i32::MAX` that appending after it cannot overflow.
pub const STEP_INDEX_MAX: i32 = 1_000_000;

/// Fails when `value`, as jsonb text, is over `limit` bytes, or when it holds
/// a NUL character, which jsonb cannot store; otherwise returns its size
/// (what an effect's spec counts against its tenant's quota: measured once).
pub fn check_size(field: &'static str, value: &serde_json::Value, limit: usize) -> Result<usize> {
    if json_has_nul(value) {
        return Err(StoreError::InvalidInput(format!(
            "{field} contains the NUL character (\\u0000), which PostgreSQL cannot store"
        )));
    }
    let actual = jsonb_text_len(value);
    if actual > limit {
        Err(StoreError::PayloadTooLarge {
            field,
            limit,
            actual,
        })
    } else {
        Ok(actual)
    }
}

/// The length of `value` as jsonb prints it: compact JSON plus one space
/// after every `:` and `,`.
pub fn jsonb_text_len(value: &serde_json::Value) -> usize {
    fn separators(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::Array(items) => {
                items.len().saturating_sub(1) + items.iter().map(separators).sum::<usize>()
            }
            serde_json::Value::Object(map) => {
                2 * map.len() - usize::from(!map.is_empty())
                    + map.values().map(separators).sum::<usize>()
            }
            _ => 0,
        }
    }
    value.to_string().len() + separators(value)
}

fn json_has_nul(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(json_has_nul),
        serde_json::Value::Object(map) => {
            map.iter().any(|(k, v)| k.contains('\0') || json_has_nul(v))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_are_measured_as_jsonb_prints_them() {
        // What PostgreSQL prints for each: {"a": 1, "b": [1, 2, {"c": "x"}]} and so on.
        for (value, printed) in [
            (
                json!({"a": 1, "b": [1, 2, {"c": "x"}]}),
                r#"{"a": 1, "b": [1, 2, {"c": "x"}]}"#,
            ),
            (json!([]), "[]"),
            (json!({}), "{}"),
            (json!([[], {}, [1]]), "[[], {}, [1]]"),
            (json!("a,b:c"), r#""a,b:c""#),
        ] {
            assert_eq!(jsonb_text_len(&value), printed.len(), "{value}");
        }
    }

    #[test]
    fn a_nul_anywhere_is_refused_by_name() {
        for value in [
            json!("a\u{0}"),
            json!({"k": ["x", "\u{0}"]}),
            json!({"\u{0}": 1}),
        ] {
            let err = check_size("payload", &value, 1000).unwrap_err().to_string();
            assert!(err.contains("payload") && err.contains("NUL"), "{err}");
        }
        assert!(check_size("payload", &json!({"k": "\u{1b}[2J"}), 1000).is_ok());
    }
}
