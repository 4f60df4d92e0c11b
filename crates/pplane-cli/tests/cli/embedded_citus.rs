//! `pplane db start --citus-workers N`: the embedded default as a Citus
//! coordinator with workers on this machine, on which the whole demo, its
//! gates and the cross-tenant commands run as on one server.

use crate::support::{pplane, Home};

#[test]
fn the_demo_and_every_gate_run_on_an_embedded_citus_cluster() {
    let home = Home::new();
    let start = pplane(
        home.path(),
        None,
        &["db", "start", "--citus-workers", "2", "--json"],
    );
    assert_eq!(start.code, 0, "{start:?}");
    let started = start.json();
    assert_eq!(started["topology"], "citus", "{start:?}");
    let workers: Vec<u64> = started["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64().unwrap())
        .collect();
    assert_eq!(workers.len(), 2, "{start:?}");

    // The nodes log in to each other with passwords, never by trust: a
    // login without one is refused by a worker.
    let bare = format!("postgres://postgres@127.0.0.1:{}/pplane", workers[0]);
    let refused = pplane(home.path(), Some(&bare), &["migrate", "status"]);
    assert_ne!(refused.code, 0, "{refused:?}");
    assert!(refused.stderr.contains("password"), "{refused:?}");

    let demo = pplane(home.path(), None, &["demo"]);
    // Every item passes but one this cluster of three nodes on one machine
    // does not meet: event appends under 10 ms at p99 (docs/citus.md, "Not
    // on Citus yet"). The gate says so, and the demo exits 1 for it.
    let failed: Vec<&str> = demo
        .stdout
        .lines()
        .filter(|l| l.starts_with("| FAIL |"))
        .collect();
    assert!(
        failed.iter().all(|l| l.contains("event append latency")),
        "{failed:#?}"
    );
    assert_eq!(demo.code, i32::from(!failed.is_empty()), "{demo:?}");
    for evidence in [
        "routes to one shard: reconstruct 1: locate signal",
        "every tenant table distributed by tenant_id",
        "up again on a scratch database on Citus (2 workers)",
        "pg_dump through the Citus coordinator",
    ] {
        assert!(demo.stdout.contains(evidence), "{evidence}: {demo:?}");
    }

    // Work across tenants, as an operator runs it.
    for args in [
        &["projections", "refresh"][..],
        &["projections", "rebuild"],
        &[
            "outbox",
            "purge",
            "--delivered-before",
            "2999-01-01T00:00:00Z",
        ],
        &["checkpoints", "prune", "--keep-latest", "1"],
        &["outbox", "stats"],
    ] {
        let run = pplane(home.path(), None, args);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
    }

    let other = pplane(home.path(), None, &["db", "start", "--citus-workers", "3"]);
    assert_eq!(other.code, 1, "{other:?}");
    assert!(
        other
            .stderr
            .contains("with 2 worker(s), not a Citus coordinator with 3"),
        "{other:?}"
    );

    // Stop takes every node down; a start without the flag brings the same
    // cluster back, the nodes logging in to each other again.
    let stop = pplane(home.path(), None, &["db", "stop"]);
    assert_eq!(stop.stdout.trim(), "stopped", "{stop:?}");
    let status = pplane(home.path(), None, &["db", "status", "--json"]).json();
    assert_eq!(status["status"], "stopped", "{status}");
    assert!(
        status["workers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["status"] == "stopped"),
        "{status}"
    );
    let again = pplane(home.path(), None, &["check", "data"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains(" 0 FAIL"), "{again:?}");
    let status = pplane(home.path(), None, &["db", "status", "--json"]).json();
    let ports: Vec<u64> = status["workers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["status"] == "running")
        .map(|w| w["port"].as_u64().unwrap())
        .collect();
    assert_eq!(ports, workers, "{status}");
}

#[test]
fn a_single_server_is_never_turned_into_a_citus_cluster() {
    let home = Home::new();
    let start = pplane(home.path(), None, &["db", "start"]);
    assert_eq!(start.code, 0, "{start:?}");
    let refused = pplane(home.path(), None, &["db", "start", "--citus-workers", "2"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains(
            "is a single server, not a Citus coordinator with 2 worker(s); nothing was changed"
        ),
        "{refused:?}"
    );
    let status = pplane(home.path(), None, &["db", "status", "--json"]).json();
    assert_eq!(status["topology"], "single_node", "{status}");
    assert_eq!(status["workers"].as_array().unwrap().len(), 0, "{status}");
    let zero = pplane(home.path(), None, &["db", "start", "--citus-workers", "0"]);
    assert_eq!(zero.code, 2, "at least one worker: {zero:?}");
}
