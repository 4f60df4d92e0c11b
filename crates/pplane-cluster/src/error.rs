use std::path::PathBuf;

/// Everything that can go wrong while finding, creating or running a cluster.
/// Each message says what to do next, because the person reading it is usually
/// a newcomer who just typed their first command.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "no PostgreSQL server binaries found (looked at $PPLANE_PG_BINDIR, `pg_config --bindir`, \
         PATH and /usr/lib/postgresql/*/bin); install them with `apt-get install postgresql` \
         or set PPLANE_PG_BINDIR to the directory holding initdb and pg_ctl"
    )]
    BinariesNotFound,

    #[error(
        "PPLANE_PG_BINDIR={} holds no initdb, pg_ctl and postgres; point it at a PostgreSQL \
         bin directory (e.g. /usr/lib/postgresql/15/bin) or unset it",
        dir.display()
    )]
    BinDirInvalid { dir: PathBuf },

    #[error(
        "data directory {data_dir} was made by PostgreSQL {found} but the binaries in {bindir} \
         are PostgreSQL {expected}; nothing was changed. Point PPLANE_PG_BINDIR at the \
         PostgreSQL {found} binaries, upgrade the cluster with pg_upgrade, or move the \
         directory away to start afresh"
    )]
    VersionMismatch {
        data_dir: PathBuf,
        found: String,
        expected: String,
        bindir: PathBuf,
    },

    #[error(
        "running as root, but there is no unprivileged `postgres` OS user to run PostgreSQL as \
         (initdb and postgres refuse to run as root); the Debian package `postgresql` creates it"
    )]
    NoUnprivilegedUser,

    #[error(
        "{path} cannot be reached by the OS user `{user}` that runs PostgreSQL; \
         make its parent directories searchable (chmod o+x) or set PPLANE_HOME elsewhere"
    )]
    NotReachable { path: PathBuf, user: String },

    #[error(
        "Citus is not installed for the PostgreSQL in {bindir} (no {library}); \
         `scripts/citus-install` builds it from the vendored source and installs it"
    )]
    CitusMissing { bindir: PathBuf, library: PathBuf },

    #[error(
        "the embedded cluster in {home} is {have}, not {asked}; nothing was changed. \
         Start it without --citus-workers (or with its own count), or set PPLANE_HOME \
         elsewhere for a cluster of the other shape"
    )]
    TopologyMismatch {
        home: PathBuf,
        have: String,
        asked: String,
    },

    #[error(
        "port {port} of {node} is taken by another process; a Citus node keeps its port \
         (the other nodes know it by that port), so stop that process and start again"
    )]
    PortTaken { node: String, port: u16 },

    #[error("`{command}` failed ({status}): {output}")]
    CommandFailed {
        command: String,
        status: String,
        output: String,
    },

    #[error("PostgreSQL did not become ready within {seconds} s; its log is at {log}:\n{tail}")]
    StartTimeout {
        seconds: u64,
        log: PathBuf,
        tail: String,
    },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl ClusterError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| ClusterError::Io { context, source }
    }
}
