//! Benchmarks print our figure, the raw baseline's and the ratio, and leave
//! no scratch database behind.

use pplane_store::testing::TestDb;

use crate::support::{pplane, Home};

#[tokio::test]
async fn bench_rls_reports_each_scenario_against_its_baseline() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let args = [
        "bench",
        "rls",
        "--tenants",
        "2",
        "--rows-per-tenant",
        "200",
        "--iterations",
        "10",
        "--json",
    ];
    let run = pplane(home.path(), Some(db.url()), &args);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("bench: loading 2 tenants"),
        "progress goes to stderr: {run:?}"
    );
    let rows = run.json();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for row in rows {
        for field in [
            "p50_ms",
            "p99_ms",
            "per_s",
            "raw_p99_ms",
            "raw_per_s",
            "ratio",
        ] {
            assert!(row[field].as_f64().unwrap() > 0.0, "{field} in {row}");
        }
        assert_eq!(row["concurrency"], 1);
        assert_eq!(row["tenants"], 2);
        let ratio = row["per_s"].as_f64().unwrap() / row["raw_per_s"].as_f64().unwrap();
        assert!((ratio - row["ratio"].as_f64().unwrap()).abs() < 1e-9);
    }
    let zero = pplane(
        home.path(),
        Some(db.url()),
        &["bench", "rls", "--iterations", "0"],
    );
    assert_eq!(zero.code, 2, "{zero:?}");
}

#[tokio::test]
async fn bench_append_reports_every_scenario_with_p999() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let run = pplane(
        home.path(),
        Some(db.url()),
        &["bench", "append", "--seconds", "0.2", "--json"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let rows = run.json();
    let rows = rows.as_array().unwrap();
    let scenarios: Vec<(u64, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["concurrency"].as_u64().unwrap(),
                r["tenants"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        scenarios,
        [(1, 50), (8, 50), (32, 50), (1, 1), (8, 1), (16, 1), (32, 1)]
    );
    for row in rows {
        for field in [
            "p50_ms",
            "p99_ms",
            "p999_ms",
            "per_s",
            "raw_p99_ms",
            "raw_per_s",
            "ratio",
        ] {
            assert!(row[field].as_f64().unwrap() > 0.0, "{field} in {row}");
        }
        assert!(
            row["p50_ms"].as_f64() <= row["p99_ms"].as_f64()
                && row["p99_ms"].as_f64() <= row["p999_ms"].as_f64()
        );
    }
    let bad = pplane(
        home.path(),
        Some(db.url()),
        &["bench", "append", "--seconds", "-1"],
    );
    assert_eq!(bad.code, 2, "{bad:?}");
}

#[tokio::test]
async fn bench_outbox_drains_with_1_and_4_workers_and_holds_a_steady_load() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let args = [
        "bench",
        "outbox",
        "--backlog",
        "200",
        "--rate",
        "100",
        "--seconds",
        "0.5",
        "--tenants",
        "3",
        "--noisy-backlog",
        "300",
        "--json",
    ];
    let run = pplane(home.path(), Some(db.url()), &args);
    assert_eq!(run.code, 0, "{run:?}");
    let rows = run.json();
    let rows = rows.as_array().unwrap();
    let shape: Vec<(u64, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["concurrency"].as_u64().unwrap(),
                r["tenants"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(shape, [(1, 3), (4, 3), (4, 3), (4, 4), (4, 4)]);
    for row in rows {
        for field in [
            "p50_ms",
            "p99_ms",
            "per_s",
            "raw_p99_ms",
            "raw_per_s",
            "ratio",
        ] {
            assert!(row[field].as_f64().unwrap() > 0.0, "{field} in {row}");
        }
    }
    assert!(rows[2]["scenario"].as_str().unwrap().contains("100/s"));
    // The noisy neighbour: the quiet tenants' latencies, and the backlog's
    // drain beside them over its drain alone; then the same beside their
    // requests only, against the same drain alone.
    let (noisy, apart) = (&rows[3], &rows[4]);
    for (row, begins) in [
        (
            noisy,
            "outbox noisy neighbour: backlog 300 beside 3 tenants",
        ),
        (
            apart,
            "outbox noisy neighbour, their requests only: backlog 300 beside 3 tenants' requests",
        ),
    ] {
        assert!(
            row["scenario"].as_str().unwrap().starts_with(begins),
            "{row}"
        );
        let ratio = row["per_s"].as_f64().unwrap() / row["raw_per_s"].as_f64().unwrap();
        assert!(
            (ratio - row["ratio"].as_f64().unwrap()).abs() < 1e-9,
            "{row}"
        );
    }
    assert_eq!(noisy["raw_per_s"], apart["raw_per_s"], "one drain alone");
    let bad = pplane(
        home.path(),
        Some(db.url()),
        &["bench", "outbox", "--rate", "0"],
    );
    assert_eq!(bad.code, 2, "{bad:?}");
}

#[tokio::test]
async fn bench_trace_reports_p95_against_a_plain_select() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let args = [
        "bench",
        "trace",
        "--background-events",
        "5000",
        "--steps",
        "20",
        "--iterations",
        "5",
        "--json",
    ];
    let run = pplane(home.path(), Some(db.url()), &args);
    assert_eq!(run.code, 0, "{run:?}");
    let rows = run.json();
    let row = &rows[0];
    assert!(
        row["scenario"]
            .as_str()
            .unwrap()
            .contains("a run of 63 events among 5063"),
        "{row}"
    );
    for field in ["p50_ms", "p95_ms", "p99_ms", "per_s", "raw_per_s", "ratio"] {
        assert!(row[field].as_f64().unwrap() > 0.0, "{field} in {row}");
    }
    assert!(row["p50_ms"].as_f64() <= row["p95_ms"].as_f64());
}

/// The cleanup benchmark purges every loaded entry and prunes the thread and
/// the run to their newest 20, appending beside it; the row says how many of
/// each went.
#[tokio::test]
async fn bench_jobs_appends_beside_the_purge_and_the_prune() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let args = [
        "bench",
        "jobs",
        "--rows",
        "12000",
        "--checkpoints",
        "50",
        "--seconds",
        "0.3",
        "--json",
    ];
    let run = pplane(home.path(), Some(db.url()), &args);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("bench: purged 12000 entries in "),
        "{run:?}"
    );
    let rows = run.json();
    let row = &rows[0];
    assert_eq!(
        row["scenario"],
        "append beside the cleanup jobs: purge 12000 delivered entries, prune 30 checkpoints and 30 run checkpoint states"
    );
    for field in [
        "p50_ms",
        "p99_ms",
        "per_s",
        "raw_p99_ms",
        "raw_per_s",
        "ratio",
    ] {
        assert!(row[field].as_f64().unwrap() > 0.0, "{field} in {row}");
    }
    let zero = pplane(
        home.path(),
        Some(db.url()),
        &["bench", "jobs", "--rows", "0"],
    );
    assert_eq!(zero.code, 2, "{zero:?}");
}

/// With `--peer message-db` the append benchmark installs Message DB from
/// its npm package in a scratch database on the same server, runs its
/// `write_message` with the same writers, and prints a row whose ratio is
/// ours over the peer's; no scratch database is left behind.
#[tokio::test]
async fn bench_append_against_message_db_prints_ours_over_the_peers() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    // Other tests make databases on this server meanwhile: count the peer's.
    let peers = "SELECT count(*) FROM pg_database WHERE datname LIKE 'pplane\\_peer\\_%'";
    let run = pplane(
        home.path(),
        Some(db.url()),
        &[
            "bench",
            "append",
            "--writers",
            "2",
            "--tenants",
            "3",
            "--seconds",
            "0.3",
            "--peer",
            "message-db",
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("installing @eventide/message-db@1.3.1 (npm)"),
        "{run:?}"
    );
    let rows = run.json();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let (ours, peer) = (&rows[0], &rows[1]);
    assert_eq!(ours["scenario"], "append: 2 writers, 3 tenants");
    assert_eq!(
        peer["scenario"],
        "peer message-db: append: 2 writers, 3 tenants"
    );
    // The peer row carries our figures, the peer's as its baseline, and
    // their ratio.
    assert_eq!(peer["per_s"], ours["per_s"]);
    let peer_rate = peer["raw_per_s"].as_f64().unwrap();
    assert!(peer_rate > 0.0, "{peer}");
    let ratio = ours["per_s"].as_f64().unwrap() / peer_rate;
    assert!(
        (ratio - peer["ratio"].as_f64().unwrap()).abs() < 1e-9,
        "{peer}"
    );
    assert_eq!(
        db.scalar(peers).await,
        0,
        "the peer's scratch database is dropped"
    );
}
