//! `pplane demo`: the whole plane, ending with a passing production gate;
//! `--webhook` sends every effect to another receiver; `--no-worker` leaves
//! them for a separately started worker.

use std::sync::Arc;

use pplane_store::testing::TestDb;
use pplane_worker::receiver::Receiver;

use crate::support::{assert_contains_all, pplane, Home};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_delivers_effects_and_ends_with_a_passing_gate() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let run = pplane(
        home.path(),
        Some(db.url()),
        &["demo", "--tenants", "2", "--runs", "2"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_contains_all(
        &run.stdout,
        &[
            "2 tenants, 4 signals (2 duplicate ignored), 4 runs, 5 effects",
            "outbox: 4 delivered, 1 dead letters, 0 waiting",
            "$ pplane trace ",
            "$ pplane diagnose run ",
            "$ pplane diagnose effect ",
            "pplane outbox requeue ",
            "# Production gate",
            " 0 FAIL, ",
        ],
    );
    assert!(
        run.stderr.contains("demo: delivering effects"),
        "progress on stderr"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn effects_go_to_the_given_webhook_or_wait_for_a_worker() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let elsewhere = Receiver::start_with(Arc::new(|_, _| (204, None)))
        .await
        .unwrap();
    let url = elsewhere.url("/mine");
    let run = pplane(
        home.path(),
        Some(db.url()),
        &["demo", "--tenants", "1", "--runs", "1", "--webhook", &url],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        elsewhere.keys(),
        3,
        "notify, flaky and broken all went to --webhook"
    );

    let waiting = TestDb::migrated().await;
    let run = pplane(
        home.path(),
        Some(waiting.url()),
        &["demo", "--tenants", "1", "--runs", "1", "--no-worker"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("0 delivered, 0 dead letters, 3 waiting"),
        "{}",
        run.stdout
    );
    let worked = pplane(
        home.path(),
        Some(waiting.url()),
        &[
            "worker",
            "--until-idle",
            "--retry-base-ms",
            "50",
            "--retry-cap-ms",
            "100",
            "--json",
        ],
    );
    assert_eq!(worked.code, 0, "{worked:?}");
    assert!(worked.json()["claimed"].as_u64().unwrap() >= 3);
}
