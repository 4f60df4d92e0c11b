//! Crash safety: under load, `pplane worker` is killed with SIGKILL again and
//! again and restarted. In the end every effect is delivered, every key
//! reached the receiver, a key arrived twice only where a kill cut an
//! attempt short, and the receiver's dedupe by key sees each effect once.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pplane_domain::{TenantId, UserId};
use pplane_store::operations::destinations::{destination_create, Target};
use pplane_store::operations::effects::{effect_request, EffectInput};
use pplane_store::operations::ingest::SignalInput;
use pplane_store::operations::runs::run_start;
use pplane_store::operations::Origin;
use pplane_store::testing::citus::CitusDb;
use pplane_store::testing::signal_ingest_alone;
use pplane_store::testing::{Scratch, TestDb};
use pplane_store::Store;
use pplane_worker::receiver::Receiver;
use serde_json::json;

const EFFECTS: usize = 600;

fn worker(url: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_pplane"))
        .args([
            "worker",
            "--concurrency",
            "4",
            "--batch",
            "8",
            "--lease-ms",
            "1000",
            "--timeout-ms",
            "400",
            "--poll-ms",
            "100",
            "--retry-base-ms",
            "10",
            "--retry-cap-ms",
            "100",
        ])
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start pplane worker")
}

#[tokio::test]
async fn sigkilled_workers_lose_nothing_and_duplicate_only_cut_attempts() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    kills_under_load(&db, store, tenant, user).await;
}

/// The same on a three-node Citus cluster: the workers claim tenant by
/// tenant there (docs/citus.md), and a kill may land between the read of
/// due tenants and the claim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_citus_sigkilled_workers_lose_nothing_and_duplicate_only_cut_attempts() {
    let db = CitusDb::migrated().await;
    let store = db.store(10).await;
    let (tenant, user) = db.tenant(&store).await;
    kills_under_load(&db, store, tenant, user).await;
}

/// Effects requested while workers are killed six times and restarted;
/// then a last worker finishes, and everything is checked.
async fn kills_under_load(db: &impl Scratch, store: Store, tenant: TenantId, user: UserId) {
    let receiver = Receiver::start().await.unwrap();
    let by = Origin::by("agent:load".parse().unwrap());
    let got = signal_ingest_alone(
        &store,
        tenant,
        user,
        &SignalInput {
            channel: "load".into(),
            source_id: "crash".into(),
            payload: json!({}),
            domain_refs: json!({}),
            actor: "user:load".parse().unwrap(),
        },
    )
    .await
    .unwrap();
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let secret = destination_create(&mut tx, "sink", &Target::Webhook(receiver.url("/in")))
        .await
        .unwrap()
        .signing_secret
        .unwrap();
    run_start(&mut tx, got.run_id, &by).await.unwrap();
    tx.commit().await.unwrap();
    receiver.trust(&secret);

    // The load: effects requested in small transactions while workers die.
    let producer = {
        let store = store.clone();
        let run = got.run_id;
        tokio::spawn(async move {
            for chunk in 0..EFFECTS / 10 {
                let mut tx = store.tenant_tx(tenant, user).await.unwrap();
                for i in 0..10 {
                    let key = format!("crash-{}", chunk * 10 + i);
                    let input = EffectInput {
                        run,
                        step: None,
                        effect_type: "LOAD".into(),
                        idempotency_key: key.clone(),
                        spec: json!({ "destination": "sink", "n": key }),
                    };
                    effect_request(&mut tx, &input, &by).await.unwrap();
                }
                tx.commit().await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    let mut kills = 0;
    for pause in [250u64, 400, 300, 550, 350, 450] {
        let mut child = worker(db.url());
        tokio::time::sleep(Duration::from_millis(pause)).await;
        child.kill().expect("SIGKILL the worker");
        child.wait().unwrap();
        kills += 1;
    }
    producer.await.unwrap();

    // A last worker finishes the job, leases of the killed ones included,
    // and stops gracefully on SIGTERM.
    let mut last = worker(db.url());
    let started = Instant::now();
    let deadline = started + Duration::from_secs(60);
    loop {
        let delivered = db
            .scalar("SELECT count(*) FROM outbox_events WHERE status = 'DELIVERED'")
            .await;
        // Past its start-up too, so that SIGTERM meets its handler.
        if delivered == EFFECTS as i64 && started.elapsed() > Duration::from_secs(1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {delivered} of {EFFECTS} delivered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let term = unsafe_free_sigterm(last.id());
    assert!(term, "send SIGTERM");
    let status = last.wait().unwrap();
    assert!(status.success(), "a SIGTERM stop exits 0: {status:?}");
    assert_eq!(kills, 6);

    assert_eq!(
        db.scalar("SELECT count(*) FROM effects WHERE status = 'COMPLETED'")
            .await,
        EFFECTS as i64
    );
    assert_eq!(
        db.scalar(
            "SELECT count(*) FROM orchestration_events WHERE event_type = 'EFFECT_SUCCEEDED'"
        )
        .await,
        EFFECTS as i64,
        "one success recorded per effect"
    );
    assert_eq!(receiver.keys(), EFFECTS, "every key reached the receiver");
    let received = receiver.received();
    assert!(received.iter().all(|r| r.signature_valid));
    for r in received.iter().filter(|r| r.earlier_with_key > 0) {
        let attempts = db
            .scalar(&format!(
                "SELECT attempt::bigint FROM outbox_events WHERE idempotency_key = '{}'",
                r.idempotency_key
            ))
            .await;
        assert!(
            attempts > r.earlier_with_key as i64,
            "{} arrived {} times but was attempted {attempts} times: a duplicate without a cut attempt",
            r.idempotency_key,
            r.earlier_with_key + 1
        );
    }
    let gate = Command::new(env!("CARGO_BIN_EXE_pplane"))
        .args(["check", "data"])
        .env("DATABASE_URL", db.url())
        .output()
        .unwrap();
    assert!(
        gate.status.success(),
        "the data gate passes after the kills:\n{}",
        String::from_utf8_lossy(&gate.stdout)
    );
    eprintln!(
        "crash test: {kills} kills, {} requests for {EFFECTS} effects ({} duplicates)",
        received.len(),
        received.len() - EFFECTS
    );
}

/// SIGTERM through the `kill` command: the crate forbids unsafe code.
fn unsafe_free_sigterm(pid: u32) -> bool {
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}
