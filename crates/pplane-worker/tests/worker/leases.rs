//! Leases: a dead worker's entries come back after the lease; concurrent
//! workers never deliver one entry twice.

use std::time::Duration;

use pplane_store::operations::destinations::Target;
use pplane_store::repositories::outbox::{outbox_claim, ClaimSize, Rotation};
use pplane_worker::receiver::Receiver;
use pplane_worker::WorkerConfig;

use crate::support::{keys, quick, Plane};

#[tokio::test]
async fn an_expired_lease_is_reclaimed_as_the_next_attempt() {
    let plane = Plane::new().await;
    let receiver = Receiver::start().await.unwrap();
    plane
        .destination("orders", Target::Webhook(receiver.url("/h")))
        .await;
    plane.request("orders", &keys("orphan", 1)).await;

    // A worker claims the entry for 300 ms and dies.
    let mut tx = plane.store.dispatch_tx().await.unwrap();
    let taken = outbox_claim(
        tx.conn(),
        &Rotation::default(),
        "worker:dead",
        ClaimSize::one_tenant(10),
        300,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(taken.len(), 1);
    let tally = plane.drain(quick(3)).await;
    assert_eq!(tally.claimed, 0, "nothing is due while the lease holds");

    tokio::time::sleep(Duration::from_millis(400)).await;
    let tally = plane.drain(quick(3)).await;
    assert_eq!((tally.claimed, tally.delivered), (1, 1));
    assert_eq!(
        plane
            .db
            .scalar("SELECT attempt::bigint FROM outbox_events WHERE status = 'DELIVERED'")
            .await,
        2
    );
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn parallel_workers_deliver_each_entry_exactly_once() {
    let plane = Plane::new().await;
    let receiver = Receiver::start().await.unwrap();
    plane
        .destination("orders", Target::Webhook(receiver.url("/h")))
        .await;
    plane.request("orders", &keys("fan", 300)).await;
    let config = WorkerConfig {
        concurrency: 4,
        batch: 5,
        ..quick(3)
    };
    let (a, b) = tokio::join!(plane.drain(config.clone()), plane.drain(config));
    assert_eq!(a.delivered + b.delivered, 300);
    assert!(
        a.delivered > 0 && b.delivered > 0,
        "both workers took part: {a:?} {b:?}"
    );
    let got = receiver.received();
    assert_eq!(got.len(), 300, "no entry was delivered twice");
    assert!(got.iter().all(|r| r.earlier_with_key == 0));
}
