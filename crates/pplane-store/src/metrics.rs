//! What the store reports through the `metrics` facade (rendered by
//! whatever recorder the program installed: `pplane serve`'s `/metrics`;
//! nothing when there is none). Label values are fixed words, never ids.

use std::time::Duration;

/// Events appended by one call: `path` is `statement` (inside a caller's
/// transaction, so the time is the statement's) or `group_commit` (the
/// appender's own transaction, so the time includes its commit).
pub(crate) fn appended(path: &'static str, events: usize, took: Duration) {
    metrics::counter!("pplane_event_appends_total", "path" => path).increment(events as u64);
    metrics::histogram!("pplane_event_append_duration_seconds", "path" => path)
        .record(took.as_secs_f64());
}
