//! The outbox on Citus: the dispatcher claims across tenants (one statement
//! over every shard), deliveries are recorded in each tenant's shard, and
//! the commit of a request wakes a waiting worker through the coordinator.

use std::time::{Duration, Instant};

use pplane_store::operations::destinations::Target;
use pplane_store::testing::Scratch;
use pplane_worker::receiver::Receiver;

use crate::support::{eventually, keys, notified_only, quick, Plane};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_effect_arrives_once_and_the_data_gate_passes() {
    let plane = Plane::on_citus().await;
    let receiver = Receiver::start().await.unwrap();
    let secret = plane
        .destination("orders", Target::Webhook(receiver.url("/hooks/orders")))
        .await
        .unwrap();
    receiver.trust(&secret);
    let keys = keys("ship", 20);
    plane.request("orders", &keys).await;

    let tally = plane.drain(quick(3)).await;
    assert_eq!((tally.claimed, tally.delivered), (20, 20));
    assert_eq!(receiver.keys(), 20);
    assert!(receiver.received().iter().all(|r| r.signature_valid));
    assert_eq!(plane.count("DELIVERED").await, 20);
    assert_eq!(
        plane
            .db
            .scalar("SELECT count(*) FROM effects WHERE status = 'COMPLETED'")
            .await,
        20
    );
    plane.assert_data_gate_passes().await;
}

/// The request's NOTIFY is sent by the coordinator's own transaction, so
/// the worker's LISTEN (on the coordinator) hears it: delivered well before
/// a poll that comes once a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_wakes_a_waiting_worker_through_the_coordinator() {
    let plane = Plane::on_citus().await;
    let receiver = Receiver::start().await.unwrap();
    plane
        .destination("orders", Target::Webhook(receiver.url("/h")))
        .await;
    let (stop, handle) = plane.spawn(notified_only(quick(3))).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let requested = Instant::now();
    plane.request("orders", &keys("wake", 1)).await;
    let delivered = eventually(Duration::from_secs(5), async || receiver.keys() == 1).await;
    let took = requested.elapsed();
    stop.send(true).unwrap();
    handle.await.unwrap();
    assert!(
        delivered,
        "the notification woke the worker before its poll"
    );
    eprintln!(
        "citus wake-up: request to delivery in {} ms",
        took.as_millis()
    );
}
