//! Errors as the user sees them: what went wrong, what to do, and the exit
//! code of the contract (1 a failed operation, 2 bad input).

use std::process::ExitCode;

use pplane_store::StoreError;

#[derive(Debug)]
pub enum Failure {
    /// Bad input: exit 2.
    Usage(String),
    /// A failed operation: exit 1.
    Operation(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(err: anyhow::Error) -> Self {
        Failure::Operation(err)
    }
}

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Invalid { .. }
            | StoreError::InvalidInput(_)
            | StoreError::PayloadTooLarge { .. }
            | StoreError::CauseUnknown { .. }
            | StoreError::CauseElsewhere { .. }
            | StoreError::DatabaseName(_) => Failure::Usage(err.to_string()),
            other => Failure::Operation(other.into()),
        }
    }
}

impl From<pplane_cluster::ClusterError> for Failure {
    fn from(err: pplane_cluster::ClusterError) -> Self {
        Failure::Operation(err.into())
    }
}

pub fn report(failure: Failure) -> ExitCode {
    match failure {
        Failure::Usage(msg) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
        Failure::Operation(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
