//! `pplane destination`, `pplane worker --until-idle` and `pplane outbox
//! list|requeue|stats|purge` and `pplane tenant quota`, as an operator uses them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use pplane_store::testing::TestDb;
use pplane_worker::receiver::Receiver;

use crate::support::{assert_contains_all, command, pplane, Home};

// Multi-threaded: the receiver must answer while this thread waits on the
// binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_finds_a_dead_letter_requeues_it_and_purges_what_was_delivered() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let url = Some(db.url());
    let run_cli = |args: &[&str]| pplane(home.path(), url, args);
    let healed = Arc::new(AtomicBool::new(false));
    let answer = healed.clone();
    let receiver = Receiver::start_with(Arc::new(move |_, _| {
        if answer.load(Ordering::SeqCst) {
            (204, None)
        } else {
            (410, None)
        }
    }))
    .await
    .unwrap();

    let created = run_cli(&["tenant", "create", "ops", "--json"]).json();
    let tenant = created["tenant_id"].as_str().unwrap().to_owned();
    let user = created["user_id"].as_str().unwrap().to_owned();
    let who = ["--tenant", tenant.as_str(), "--user", user.as_str()];
    let with =
        |args: &[&str]| -> Vec<String> { args.iter().chain(&who).map(|s| s.to_string()).collect() };
    let run_with = |args: &[&str]| {
        let full = with(args);
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        pplane(home.path(), url, &refs)
    };

    let hook = receiver.url("/hooks");
    let added = run_with(&["destination", "add", "billing", "--webhook", &hook]);
    assert_eq!(added.code, 0, "{added:?}");
    let secret = added.json()["signing_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    receiver.trust(&secret);
    let listed = run_with(&["destination", "list"]).json();
    assert_eq!(listed[0]["name"], "billing");
    assert!(
        listed[0].get("signing_secret").is_none(),
        "the secret is shown once"
    );

    let signal = run_with(&["signal", "ingest", "--channel", "c", "--source-id", "s"]).json();
    let run = signal["run_id"].as_str().unwrap().to_owned();
    assert_eq!(run_with(&["run", "start", &run]).code, 0);
    let no_destination = run_with(&["run", "effect", &run, "--type", "BILL", "--key", "k0"]);
    assert_eq!(no_destination.code, 2, "{no_destination:?}");
    assert!(
        no_destination.stderr.contains("destination"),
        "{no_destination:?}"
    );
    let billed = |key: &str| {
        run_with(&[
            "run",
            "effect",
            &run,
            "--type",
            "BILL",
            "--key",
            key,
            "--destination",
            "billing",
        ])
    };
    let effect = billed("k1");
    assert_eq!(effect.code, 0, "{effect:?}");
    // The plane's operator sees who waits: this tenant, one entry due.
    let waiting = run_cli(&["outbox", "stats", "--top", "5"]).json();
    let tenants = waiting["tenants"].as_array().unwrap();
    assert_eq!(tenants.len(), 1, "{waiting}");
    assert_eq!(tenants[0]["tenant_id"], tenant.as_str());
    assert_eq!(
        (tenants[0]["pending"].as_i64(), tenants[0]["due"].as_i64()),
        (Some(1), Some(1))
    );
    assert!(tenants[0]["oldest_due_age_s"].as_f64().unwrap() >= 0.0);
    assert_eq!(run_cli(&["outbox", "stats", "--top", "0"]).code, 2);

    // The operator holds this tenant to one pending effect: a second is
    // refused, with nothing written.
    let quota = run_cli(&[
        "tenant",
        "quota",
        &tenant,
        "--pending-effects",
        "1",
        "--json",
    ]);
    assert_eq!(quota.code, 0, "{quota:?}");
    let q = &quota.json()["quota"];
    assert_eq!(
        (
            q["pending_effects"].as_i64(),
            q["max_pending_effects"].as_i64()
        ),
        (Some(1), Some(1))
    );
    let over = billed("k2");
    assert_eq!(over.code, 1, "{over:?}");
    assert!(over.stderr.contains("over its quota of 1"), "{over:?}");
    let zero = run_cli(&["tenant", "quota", &tenant, "--pending-effects", "0"]);
    assert_eq!(zero.code, 2, "{zero:?}");
    let shown = run_cli(&["tenant", "quota", &tenant, "--pending-effects", "100"]);
    assert_contains_all(
        &shown.stdout,
        &["pending effects  1 of 100", "pending bytes"],
    );

    // 410 Gone is permanent: dead-lettered on the first attempt.
    let worked = run_cli(&["worker", "--until-idle", "--json"]);
    assert_eq!(worked.code, 0, "{worked:?}");
    assert_eq!(worked.json()["dead_lettered"], 1);
    let dead = run_with(&["outbox", "list", "--status", "DEAD_LETTER"]).json();
    assert_eq!(dead.as_array().unwrap().len(), 1);
    assert_eq!(dead[0]["error_details"]["last"]["message"], "HTTP 410");
    let entry = dead[0]["id"].as_str().unwrap().to_owned();
    let effect_id = dead[0]["effect_id"].as_str().unwrap().to_owned();
    let diagnosis = run_with(&["diagnose", "effect", &effect_id]);
    assert_eq!(diagnosis.code, 0, "{diagnosis:?}");
    assert_contains_all(
        &diagnosis.stdout,
        &[
            "DEAD_LETTER",
            "last failure: HTTP 410 (permanent)",
            "EFFECT_DEAD_LETTERED",
        ],
    );
    let requeue = format!("pplane outbox requeue {entry} --tenant {tenant} --user {user}");
    assert!(
        diagnosis.stdout.contains(&requeue),
        "the exact requeue command:\n{}",
        diagnosis.stdout
    );
    let stats = run_with(&["outbox", "stats"]).json();
    assert_eq!(stats["stats"]["dead_letter"], 1);
    let plane = run_cli(&["outbox", "stats"]).json();
    assert_eq!(
        (
            plane["scope"].as_str(),
            plane["stats"]["dead_letter"].as_i64()
        ),
        (Some("plane"), Some(1))
    );

    // The receiver is fixed; the operator pastes the requeue command that
    // the diagnosis printed (read as the plane's service principal, without
    // --user), and a worker delivers.
    healed.store(true, Ordering::SeqCst);
    let operator_view = run_cli(&["diagnose", "effect", &effect_id, "--tenant", &tenant]);
    let printed = operator_view
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("$ "))
        .expect("a requeue command")
        .to_owned();
    let requeued = command(home.path(), url, "bash", &["-c", &printed], true);
    assert_eq!(requeued.code, 0, "{printed}: {requeued:?}");
    assert_eq!(requeued.json()["entry"]["status"], "PENDING");
    let again = run_with(&["outbox", "requeue", &entry]);
    assert_eq!(
        again.code, 1,
        "only a dead letter can be requeued, a state error: {again:?}"
    );
    let worked = run_cli(&["worker", "--until-idle", "--json"]);
    assert_eq!(worked.json()["delivered"], 1, "{worked:?}");
    assert_eq!(receiver.received().len(), 2);
    assert!(receiver.received().iter().all(|r| r.signature_valid));

    // Retention removes delivered entries, never the events.
    let bad = run_cli(&["outbox", "purge", "--delivered-before", "yesterday"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    let later = (chrono::Utc::now() + chrono::Duration::minutes(1)).to_rfc3339();
    let purged = run_cli(&["outbox", "purge", "--delivered-before", &later]).json();
    assert_eq!(purged["purged"], 1);
    assert_eq!(db.scalar("SELECT count(*) FROM outbox_events").await, 0);
    assert_eq!(
        db.scalar(
            "SELECT count(*) FROM orchestration_events
             WHERE event_type IN ('EFFECT_DEAD_LETTERED', 'EFFECT_REQUEUED', 'EFFECT_SUCCEEDED')"
        )
        .await,
        3
    );
}
