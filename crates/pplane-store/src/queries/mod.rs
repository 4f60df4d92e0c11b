//! Read-side queries. Unlike repositories, these read across aggregates.
//!
//! - [`debugging`]: the walkthrough's section 8, query by query, as written.
//! - [`trace`]: the whole story of one correlation in one round trip.

pub mod debugging;
pub mod trace;
