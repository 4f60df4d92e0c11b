//! Read-side queries. Unlike repositories, these read across aggregates.
//!
//! - [`debugging`]: the walkthrough's section 8, query by query, as written.
//! - [`diagnose`]: why a run failed, where an effect stands.
//! - [`trace`]: the whole story of one correlation in one round trip.

pub mod debugging;
pub mod diagnose;
pub mod trace;
