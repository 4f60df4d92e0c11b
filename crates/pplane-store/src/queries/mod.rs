//! Read-side queries. Unlike repositories, these read across aggregates.

pub mod debugging;
