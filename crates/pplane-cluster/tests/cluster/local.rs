//! `pplane db start|stop|status|url` behaviour of the persistent cluster.

use std::fs;
use std::net::{Ipv4Addr, TcpListener, TcpStream};

use pplane_cluster::{ClusterError, LocalCluster, Status};

fn fresh_home() -> tempfile::TempDir {
    // In the system temp dir, opened to other users, so that the `postgres`
    // OS user can reach it whatever the checkout's own permissions are.
    let dir = tempfile::Builder::new()
        .prefix("pplane-home-")
        .tempdir()
        .unwrap();
    make_traversable(dir.path());
    dir
}

fn make_traversable(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

fn connectable(port: u16) -> bool {
    TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// First start creates the cluster; a second start reuses it; stop stops it;
/// a start after stop brings the same data back on the same port.
#[test]
fn start_reuse_stop_and_restart() {
    let home = fresh_home();
    let cluster = LocalCluster::at(home.path());
    assert_eq!(cluster.status(), Status::NotInitialized);
    assert!(
        cluster.url("pplane").is_none(),
        "no url before the first start"
    );

    let first = cluster.start().expect("first start");
    assert!(first.initialized && !first.reused);
    assert!(matches!(cluster.status(), Status::Running { port, .. } if port == first.port));
    assert!(connectable(first.port));
    let url = cluster.url("pplane").unwrap();
    assert!(
        url.starts_with("postgres://postgres:")
            && url.contains(&format!("@127.0.0.1:{}/pplane", first.port))
    );

    let again = cluster.start().expect("second start");
    assert!(again.reused && !again.initialized);
    assert_eq!(again.port, first.port);

    assert!(cluster.stop().unwrap(), "it was running");
    assert_eq!(cluster.status(), Status::Stopped);
    assert!(!cluster.stop().unwrap(), "stopping twice is a no-op");

    let third = cluster.start().expect("restart");
    assert!(!third.initialized && !third.reused);
    assert_eq!(third.port, first.port);
    cluster.stop().unwrap();
}

/// A lock file left by a crash is recognised as stale and removed; the data
/// directory itself is untouched.
#[test]
fn stale_lock_file_is_recovered() {
    let home = fresh_home();
    let cluster = LocalCluster::at(home.path());
    cluster.start().unwrap();
    cluster.stop().unwrap();
    let pidfile = cluster.data_dir().join("postmaster.pid");
    // pid 999999 is above the default pid_max, so no process has it.
    fs::write(
        &pidfile,
        "999999\n/nowhere\n0\n5432\n\n127.0.0.1\n0 0\nready\n",
    )
    .unwrap();
    assert_eq!(
        cluster.status(),
        Status::Stopped,
        "a dead pid is not a running server"
    );

    let report = cluster.start().expect("start over a stale lock file");
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("stale postmaster.pid")),
        "{:?}",
        report.notes
    );
    assert!(matches!(cluster.status(), Status::Running { .. }));
    cluster.stop().unwrap();
}

/// When another program took the recorded port while the cluster was down,
/// the cluster moves to a free port and says so.
#[test]
fn taken_port_moves_the_cluster() {
    let home = fresh_home();
    let cluster = LocalCluster::at(home.path());
    let first = cluster.start().unwrap();
    cluster.stop().unwrap();
    let squatter = TcpListener::bind((Ipv4Addr::LOCALHOST, first.port)).expect("grab the old port");

    let report = cluster.start().expect("start with its port taken");
    assert_ne!(report.port, first.port);
    assert!(
        report.notes.iter().any(|n| n.contains("was taken")),
        "{:?}",
        report.notes
    );
    assert_eq!(cluster.port(), Some(report.port));
    assert!(connectable(report.port));
    drop(squatter);
    cluster.stop().unwrap();
}

/// A data directory of another major version is refused with a clear error and
/// left exactly as it was.
#[test]
fn other_major_version_is_refused_untouched() {
    let home = fresh_home();
    let cluster = LocalCluster::at(home.path());
    cluster.start().unwrap();
    cluster.stop().unwrap();
    let version_file = cluster.data_dir().join("PG_VERSION");
    fs::write(&version_file, "9\n").unwrap();
    let before: Vec<_> = fs::read_dir(cluster.data_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();

    let err = cluster.start().expect_err("must refuse");
    assert!(
        matches!(err, ClusterError::VersionMismatch { ref found, .. } if found == "9"),
        "{err}"
    );
    assert!(err.to_string().contains("nothing was changed"));
    let after: Vec<_> = fs::read_dir(cluster.data_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after);
    assert_eq!(fs::read_to_string(&version_file).unwrap(), "9\n");
}
