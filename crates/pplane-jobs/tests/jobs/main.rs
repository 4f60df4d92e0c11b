//! The scheduled jobs, against a fresh database per spec: leases that let
//! one process run a job at a time and pass on when a holder dies, runs
//! once an interval and each recorded, what each job does, and the
//! policies an operator may set.

mod leases;
mod policies;
mod support;
mod work;
