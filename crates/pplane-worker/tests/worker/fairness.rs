//! Tenants never wait for each other at the outbox: a tenant that requests
//! one effect while another's backlog drains has it delivered within a
//! turn, not after the backlog.

use std::time::{Duration, Instant};

use pplane_store::operations::destinations::Target;
use pplane_worker::receiver::Receiver;
use pplane_worker::WorkerConfig;

use crate::support::{eventually, keys, quick, Plane};

#[tokio::test]
async fn a_quiet_tenants_effect_overtakes_a_noisy_tenants_backlog() {
    let plane = Plane::new().await;
    let receiver = Receiver::start().await.unwrap();
    // 1,000 entries in batches of 8 on one loop: 125 rounds to drain.
    plane
        .destination("hooks", Target::Webhook(receiver.url("/noisy")))
        .await;
    let quiet = plane.neighbour("hooks", receiver.url("/quiet")).await;
    plane.request("hooks", &keys("noisy", 1_000)).await;
    let (stop, worker) = plane
        .spawn(WorkerConfig {
            concurrency: 1,
            ..quick(3)
        })
        .await;
    assert!(
        eventually(Duration::from_secs(10), async || receiver.keys() >= 16).await,
        "the backlog started draining"
    );
    let asked = Instant::now();
    plane.request_in(&quiet, "hooks", &keys("quiet", 1)).await;
    assert!(
        eventually(Duration::from_secs(10), async || receiver
            .received()
            .iter()
            .any(|r| r.idempotency_key == "quiet-0"))
        .await
    );
    let waited = asked.elapsed();
    let noisy_done = receiver
        .received()
        .iter()
        .filter(|r| r.idempotency_key.starts_with("noisy-"))
        .count();
    assert!(
        noisy_done < 500,
        "the quiet effect waited for {noisy_done} of the backlog's 1,000 ({waited:?})"
    );
    stop.send(true).unwrap();
    worker.await.unwrap();
    let tally = plane.drain(quick(3)).await;
    assert_eq!(receiver.keys(), 1_001, "{tally:?}");
    plane.assert_data_gate_passes().await;
}
