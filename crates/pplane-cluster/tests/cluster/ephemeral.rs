//! The throwaway test cluster stops and deletes itself with its process.

use std::net::{Ipv4Addr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use pplane_cluster::EphemeralCluster;

const CHILD_ENV: &str = "PPLANE_EPHEMERAL_CHILD";

/// Not a test of its own: `vanishes_when_its_process_is_killed` runs it in a
/// child process, where it starts a cluster, says where it is, and waits.
#[test]
#[ignore = "helper process of vanishes_when_its_process_is_killed"]
fn ephemeral_child_process() {
    assert!(
        std::env::var_os(CHILD_ENV).is_some(),
        "run only as a child process"
    );
    let cluster = EphemeralCluster::start().expect("start");
    println!("PORT={} DIR={}", cluster.port(), cluster.dir().display());
    std::thread::sleep(Duration::from_secs(120));
}

/// SIGKILL gives the process no chance to clean up; the server must still
/// stop and its directory disappear.
#[test]
fn vanishes_when_its_process_is_killed() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "ephemeral::ephemeral_child_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let (port, dir) = loop {
        let mut line = String::new();
        assert!(
            std::io::BufRead::read_line(&mut stdout, &mut line).unwrap() > 0,
            "child ended early"
        );
        // libtest prints "test name ... " without a newline before our output.
        if let Some((_, rest)) = line.trim().split_once("PORT=") {
            let (port, dir) = rest.split_once(" DIR=").unwrap();
            break (port.parse::<u16>().unwrap(), PathBuf::from(dir));
        }
    };
    assert!(
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok(),
        "server is up"
    );
    assert!(dir.is_dir());

    child.kill().unwrap();
    child.wait().unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    while (dir.exists() || TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok())
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!dir.exists(), "directory {} was not removed", dir.display());
    assert!(
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(),
        "server still listens"
    );
}

/// Two clusters in one process are independent.
#[test]
fn clusters_are_independent() {
    let a = EphemeralCluster::start().unwrap();
    let b = EphemeralCluster::start().unwrap();
    assert_ne!(a.port(), b.port());
    assert_ne!(a.dir(), b.dir());
    let dir = a.dir().to_owned();
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(20);
    while dir.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !dir.exists(),
        "dropping the handle stops and removes the cluster"
    );
    assert!(
        TcpStream::connect((Ipv4Addr::LOCALHOST, b.port())).is_ok(),
        "the other one still runs"
    );
}
