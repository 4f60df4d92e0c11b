//! NATS JetStream delivery against a real nats-server (Debian's
//! `nats-server`, started here with JetStream on a free loopback port).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use futures::StreamExt;
use pplane_domain::delivery::Backoff;
use pplane_store::operations::destinations::Target;
use pplane_worker::WorkerConfig;

use crate::support::{keys, quick, Plane};

/// A nats-server with JetStream in a temporary directory, stopped on drop.
struct NatsServer {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl NatsServer {
    async fn start() -> NatsServer {
        let binary = [
            "nats-server",
            "/usr/sbin/nats-server",
            "/usr/bin/nats-server",
        ]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok())
        .expect("nats-server is not installed: run scripts/test, which installs what the tests need, or apt-get install nats-server");
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(binary)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        let url = format!("nats://127.0.0.1:{port}");
        for _ in 0..100 {
            if async_nats::connect(&url).await.is_ok() {
                return NatsServer {
                    child,
                    url,
                    _dir: dir,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("nats-server did not come up on {url}");
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn orders_stream(url: &str) -> jetstream::Context {
    let js = jetstream::new(async_nats::connect(url).await.unwrap());
    js.create_stream(stream::Config {
        name: "ORDERS".into(),
        subjects: vec!["orders.>".into()],
        duplicate_window: Duration::from_secs(3600),
        ..Default::default()
    })
    .await
    .unwrap();
    js
}

#[tokio::test]
async fn effects_are_published_once_with_their_message_id() {
    let nats = NatsServer::start().await;
    let js = orders_stream(&nats.url).await;
    let plane = Plane::new().await;
    plane
        .destination("orders-bus", Target::Nats("orders.shipped".into()))
        .await;
    let keys = keys("js", 3);
    plane.request("orders-bus", &keys).await;

    let config = WorkerConfig {
        nats_url: Some(nats.url.clone()),
        ..quick(3)
    };
    let tally = plane.drain(config).await;
    assert_eq!(tally.delivered, 3);

    let mut stream = js.get_stream("ORDERS").await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 3);
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::Config::default())
        .await
        .unwrap();
    let mut messages = consumer.fetch().max_messages(3).messages().await.unwrap();
    let mut seen = Vec::new();
    while let Some(message) = messages.next().await {
        let message = message.unwrap();
        let headers = message.headers.clone().unwrap();
        let key = headers.get("Idempotency-Key").unwrap().to_string();
        let msg_id = headers
            .get(async_nats::header::NATS_MESSAGE_ID)
            .unwrap()
            .to_string();
        assert_eq!(msg_id, format!("{}:{key}", plane.tenant));
        let body: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        assert_eq!(body["idempotency_key"], key);
        seen.push(key);
    }
    seen.sort();
    assert_eq!(seen, keys);
}

#[tokio::test]
async fn a_duplicate_acknowledgement_counts_as_delivered() {
    let nats = NatsServer::start().await;
    let js = orders_stream(&nats.url).await;
    let plane = Plane::new().await;
    plane
        .destination("orders-bus", Target::Nats("orders.shipped".into()))
        .await;
    plane.request("orders-bus", &keys("dup", 1)).await;

    // An earlier attempt got the message in, but its acknowledgement was
    // lost: the stream already holds this message id.
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", format!("{}:dup-0", plane.tenant).as_str());
    js.publish_with_headers("orders.shipped", headers, "earlier".into())
        .await
        .unwrap()
        .await
        .unwrap();

    let config = WorkerConfig {
        nats_url: Some(nats.url.clone()),
        ..quick(3)
    };
    let tally = plane.drain(config).await;
    assert_eq!(tally.delivered, 1);
    let stream = js.get_stream("ORDERS").await.unwrap();
    assert_eq!(
        stream.cached_info().state.messages,
        1,
        "the stream kept one copy"
    );
    let detail = plane
        .db
        .scalar(
            "SELECT count(*) FROM orchestration_events
             WHERE event_type = 'EFFECT_SUCCEEDED' AND event_data->>'detail' LIKE '%(duplicate)'",
        )
        .await;
    assert_eq!(detail, 1, "the outcome says it was a duplicate");
}

#[tokio::test]
async fn a_missing_stream_is_a_transient_failure() {
    let nats = NatsServer::start().await;
    let plane = Plane::new().await;
    plane
        .destination("nowhere", Target::Nats("nobody.listens".into()))
        .await;
    plane.request("nowhere", &keys("lost", 1)).await;
    let config = WorkerConfig {
        nats_url: Some(nats.url.clone()),
        backoff: Backoff {
            base: Duration::from_secs(60),
            cap: Duration::from_secs(60),
            max_attempts: 3,
        },
        ..quick(3)
    };
    let tally = plane.drain(config).await;
    assert_eq!((tally.delivered, tally.retried), (0, 1));
    assert_eq!(
        plane.count("PENDING").await,
        1,
        "kept for a retry, not lost"
    );
}
