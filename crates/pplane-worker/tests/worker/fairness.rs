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

/// A quiet tenant whose receiver never answers holds only its own entry:
/// the loop that claimed it with the backlog's batch claims the backlog
/// again at once, instead of waiting out the delivery's timeout.
#[tokio::test]
async fn a_tenants_silent_receiver_does_not_hold_back_another_tenants_backlog() {
    let plane = Plane::new().await;
    let receiver = Receiver::start().await.unwrap();
    // Accepts connections and never answers: each delivery to it lasts the
    // whole timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}/hook", silent.local_addr().unwrap());
    let holding = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            open.push(stream);
        }
    });
    plane
        .destination("hooks", Target::Webhook(receiver.url("/noisy")))
        .await;
    let quiet = plane.neighbour("hooks", silent_url).await;
    plane.request_in(&quiet, "hooks", &keys("quiet", 1)).await;
    plane.request("hooks", &keys("noisy", 200)).await;
    let timeout = Duration::from_secs(10);
    let (stop, worker) = plane
        .spawn(WorkerConfig {
            concurrency: 1,
            timeout,
            lease: timeout * 3,
            ..quick(3)
        })
        .await;
    let started = Instant::now();
    assert!(
        eventually(timeout, async || receiver.count_keyed("noisy-") == 200).await,
        "the backlog waited for the silent receiver: {} of 200 in {:?}",
        receiver.count_keyed("noisy-"),
        started.elapsed()
    );
    // Its entry is still being delivered: the backlog went on beside it.
    assert_eq!(plane.count("IN_FLIGHT").await, 1);
    assert!(started.elapsed() < timeout);
    stop.send(true).unwrap();
    let tally = worker.await.unwrap();
    // Stopping waits for the silent delivery to time out and be settled.
    assert_eq!(tally.delivered, 200, "{tally:?}");
    assert_eq!(tally.retried, 1, "{tally:?}");
    assert_eq!(plane.count("IN_FLIGHT").await, 0);
    holding.abort();
}
