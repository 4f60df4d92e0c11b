//! Commands that destroy or abandon work say so first: a rollback that
//! drops tables lists them with their rows and needs --yes; a worker told to
//! stop when idle says when other workers still hold entries, and with
//! --wait-leases waits for them.

use std::sync::Arc;

use pplane_store::repositories::outbox::{outbox_claim, ClaimSize, Rotation};
use pplane_store::testing::TestDb;
use pplane_worker::receiver::Receiver;

use crate::support::{pplane, Home, Started};

#[tokio::test]
async fn a_rollback_that_drops_data_says_what_and_needs_yes() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let url = Some(db.url());
    let p = Started::new(home.path(), url);
    let events = db.scalar("SELECT count(*) FROM orchestration_events").await;
    assert!(events >= 3);

    let refused = pplane(home.path(), url, &["migrate", "down", "--to", "0"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    for part in [
        "refusing to roll back: it would drop",
        &format!("table orchestration_events ({events} rows)"),
        "table runs (1 row)",
        "table tenants (1 row)",
        "Nothing was changed; run again with --yes",
    ] {
        assert!(refused.stderr.contains(part), "{part:?} in {refused:?}");
    }
    let status = pplane(home.path(), url, &["migrate", "status", "--json"]).json();
    assert!(status
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["state"] == "applied"));
    let still = p.run(home.path(), url, &["run", "show", &p.run]);
    assert_eq!(still.code, 0, "nothing was dropped: {still:?}");

    // The newest counts pending effects again (no question asked); the
    // next drops the outbox entries' sizes: asked. The next drops run
    // checkpoints' pruned marks: asked, even of no rows. The next drops
    // the scheduled jobs' policies and history: asked.
    // The next counts pending effects on Citus (nothing on one server,
    // nothing to undo): no question asked. The next drops the tenants'
    // quotas and their counts: asked. The next replaces the claim
    // function: no question asked.
    let recount = pplane(home.path(), url, &["migrate", "down"]);
    assert_eq!(recount.code, 0, "{recount:?}");
    assert!(
        recount.stdout.contains("size open outbox entries"),
        "{recount:?}"
    );
    let sizes = pplane(home.path(), url, &["migrate", "down"]);
    assert_eq!(sizes.code, 1, "{sizes:?}");
    assert!(
        sizes
            .stderr
            .contains("column outbox_events.payload_bytes (of"),
        "{sizes:?}"
    );
    let sizes = pplane(home.path(), url, &["migrate", "down", "--yes"]);
    assert_eq!(sizes.code, 0, "{sizes:?}");
    let pruned = pplane(home.path(), url, &["migrate", "down"]);
    assert_eq!(pruned.code, 1, "{pruned:?}");
    assert!(
        pruned
            .stderr
            .contains("column run_checkpoints.pruned_at (of 0 rows)"),
        "{pruned:?}"
    );
    let pruned = pplane(home.path(), url, &["migrate", "down", "--yes"]);
    assert_eq!(pruned.code, 0, "{pruned:?}");
    let jobs = pplane(home.path(), url, &["migrate", "down"]);
    assert_eq!(jobs.code, 1, "{jobs:?}");
    assert!(
        jobs.stderr
            .contains("table pplane_meta.job_policies (4 rows)"),
        "{jobs:?}"
    );
    let jobs = pplane(home.path(), url, &["migrate", "down", "--yes"]);
    assert_eq!(jobs.code, 0, "{jobs:?}");
    let citus = pplane(home.path(), url, &["migrate", "down"]);
    assert_eq!(citus.code, 0, "{citus:?}");
    assert!(
        citus.stdout.contains("count pending effects on citus"),
        "{citus:?}"
    );
    let quotas = pplane(home.path(), url, &["migrate", "down"]);
    assert_eq!(quotas.code, 1, "{quotas:?}");
    for part in [
        "column tenants.max_pending_effects (of 1 row)",
        "column tenant_event_heads.pending_effects (of 1 row)",
    ] {
        assert!(quotas.stderr.contains(part), "{part:?} in {quotas:?}");
    }
    let quotas = pplane(home.path(), url, &["migrate", "down", "--yes"]);
    assert_eq!(quotas.code, 0, "{quotas:?}");
    let claim = pplane(home.path(), url, &["migrate", "down"]);
    assert_eq!(claim.code, 0, "{claim:?}");
    assert!(
        claim.stdout.contains("claim outbox tenants together"),
        "{claim:?}"
    );
    // The next drops the API keys' rate columns: asked even when no key
    // has a rate. The next replaces an index and drops a function, and the
    // three before it change (on Citus only) the member policies, a trigger
    // function and (on Citus only) the tables' placement: no question
    // asked. The next drops indexes only: no question either. The one before drops LangGraph's
    // tables, the one before that the API keys' table: each asked even when
    // empty; the one before those drops a function only: no question asked.
    let rates = pplane(home.path(), url, &["migrate", "down"]);
    assert_eq!(rates.code, 1, "{rates:?}");
    assert!(
        rates
            .stderr
            .contains("column api_keys.rate_per_s (of 0 rows)"),
        "{rates:?}"
    );
    let rates = pplane(home.path(), url, &["migrate", "down", "--yes"]);
    assert_eq!(rates.code, 0, "{rates:?}");
    for newest in [
        "claim outbox by tenant turns",
        "check membership once per statement",
        "stamp deliveries in schedule",
        "distribute by tenant",
    ] {
        let down = pplane(home.path(), url, &["migrate", "down"]);
        assert_eq!(down.code, 0, "{down:?}");
        assert!(down.stdout.contains(newest), "{down:?}");
    }
    let indexes = pplane(home.path(), url, &["migrate", "down"]);
    assert_eq!(indexes.code, 0, "{indexes:?}");
    assert!(
        indexes.stdout.contains("add console indexes"),
        "{indexes:?}"
    );
    let langgraph = pplane(home.path(), url, &["migrate", "down"]);
    assert_eq!(langgraph.code, 1, "{langgraph:?}");
    assert!(
        langgraph
            .stderr
            .contains("table langgraph_checkpoints (0 rows)"),
        "{langgraph:?}"
    );
    let langgraph = pplane(home.path(), url, &["migrate", "down", "--yes"]);
    assert_eq!(langgraph.code, 0, "{langgraph:?}");
    let keys = pplane(home.path(), url, &["migrate", "down"]);
    assert_eq!(keys.code, 1, "{keys:?}");
    assert!(keys.stderr.contains("table api_keys (0 rows)"), "{keys:?}");
    let keys = pplane(home.path(), url, &["migrate", "down", "--yes"]);
    assert_eq!(keys.code, 0, "{keys:?}");
    let newest = pplane(home.path(), url, &["migrate", "down"]);
    assert_eq!(newest.code, 0, "{newest:?}");
    let up = pplane(home.path(), url, &["migrate", "up"]);
    assert_eq!(up.code, 0, "{up:?}");

    let yes = pplane(home.path(), url, &["migrate", "down", "--to", "0", "--yes"]);
    assert_eq!(yes.code, 0, "{yes:?}");
    assert_eq!(
        db.scalar("SELECT count(*) FROM pg_tables WHERE tablename = 'orchestration_events'")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_names_leases_held_elsewhere_and_can_wait_for_them() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let url = Some(db.url());
    let p = Started::new(home.path(), url);
    let receiver = Receiver::start_with(Arc::new(|_, _| (204, None)))
        .await
        .unwrap();
    let hook = receiver.url("/hook");
    let add = p.run(
        home.path(),
        url,
        &["destination", "add", "hook", "--webhook", &hook],
    );
    assert_eq!(add.code, 0, "{add:?}");
    let effect = p.run(
        home.path(),
        url,
        &[
            "run",
            "effect",
            &p.run,
            "--type",
            "N",
            "--key",
            "k",
            "--destination",
            "hook",
            "--spec",
            "{}",
        ],
    );
    assert_eq!(effect.code, 0, "{effect:?}");

    // Another worker holds the entry for three seconds.
    let store = db.store().await;
    let mut tx = store.dispatch_tx().await.unwrap();
    let held = outbox_claim(
        tx.conn(),
        &Rotation::default(),
        "elsewhere",
        ClaimSize::one_tenant(10),
        3_000,
    )
    .await
    .unwrap();
    assert_eq!(held.len(), 1);
    tx.commit().await.unwrap();

    let quick = pplane(home.path(), url, &["worker", "--until-idle", "--json"]);
    assert_eq!(quick.code, 0, "{quick:?}");
    assert_eq!(quick.json()["leased_elsewhere"], 1);
    assert!(
        quick
            .stderr
            .contains("other workers hold 1 entries IN_FLIGHT")
            && quick.stderr.contains("--wait-leases"),
        "{quick:?}"
    );

    let started = std::time::Instant::now();
    let patient = pplane(
        home.path(),
        url,
        &[
            "worker",
            "--until-idle",
            "--wait-leases",
            "--poll-ms",
            "100",
            "--json",
        ],
    );
    assert_eq!(patient.code, 0, "{patient:?}");
    let tally = patient.json();
    assert_eq!(
        (
            tally["leased_elsewhere"].clone(),
            tally["delivered"].clone()
        ),
        (0.into(), 1.into())
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(2_000),
        "it waited for the lease to expire, then took the entry over"
    );
    assert_eq!(receiver.keys(), 1);
}
