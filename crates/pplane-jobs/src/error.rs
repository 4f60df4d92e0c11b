//! What keeps a job from being run at all. A job that runs and fails is not
//! an error here: its run is recorded FAILED with the reason.

use pplane_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    /// Taking a lease or recording a run failed (the database is away, or
    /// the schema predates the jobs).
    #[error(transparent)]
    Store(#[from] StoreError),
}
