//! A webhook receiver on loopback, for benchmarks, demos and tests: it
//! verifies each request's Standard Webhooks signature, deduplicates by
//! `Idempotency-Key` the way a careful receiver would, records every
//! request, and answers as its [`Answer`] function says.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::signing;

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub idempotency_key: String,
    pub webhook_id: String,
    pub timestamp: i64,
    /// Whether the signature verified against the receiver's secret.
    pub signature_valid: bool,
    pub body: serde_json::Value,
    pub at: Instant,
    /// How many requests with this key came before this one.
    pub earlier_with_key: usize,
}

/// The answer to the n-th request (from 1) carrying a key: a status and an
/// optional `Retry-After` in seconds.
pub type Answer = Arc<dyn Fn(&str, usize) -> (u16, Option<u64>) + Send + Sync>;

struct Inner {
    secret: Mutex<Option<String>>,
    answer: Answer,
    received: Mutex<Vec<Received>>,
    per_key: Mutex<HashMap<String, usize>>,
}

pub struct Receiver {
    addr: SocketAddr,
    inner: Arc<Inner>,
    server: JoinHandle<()>,
}

impl Receiver {
    /// Answers 204 to everything.
    pub async fn start() -> std::io::Result<Receiver> {
        Receiver::start_with(Arc::new(|_, _| (204, None))).await
    }

    pub async fn start_with(answer: Answer) -> std::io::Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner {
            secret: Mutex::new(None),
            answer,
            received: Mutex::new(Vec::new()),
            per_key: Mutex::new(HashMap::new()),
        });
        let app = Router::new()
            .route("/{*path}", post(receive))
            .with_state(inner.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver {
            addr,
            inner,
            server,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    /// The secret to verify signatures with: known only once the
    /// destination pointing here is registered.
    pub fn trust(&self, secret: &str) {
        *self.inner.secret.lock().expect("receiver state") = Some(secret.to_owned());
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().expect("receiver state").clone()
    }

    /// Requests whose idempotency key starts with `prefix`, counted in
    /// place: a poll that copied every request (bodies included) would
    /// hold the lock every delivery needs and take a core from the worker
    /// it is measuring.
    pub fn count_keyed(&self, prefix: &str) -> usize {
        let received = self.inner.received.lock().expect("receiver state");
        received
            .iter()
            .filter(|r| r.idempotency_key.starts_with(prefix))
            .count()
    }

    /// Distinct idempotency keys seen.
    pub fn keys(&self) -> usize {
        self.inner.per_key.lock().expect("receiver state").len()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let key = header("idempotency-key");
    let webhook_id = header("webhook-id");
    let timestamp = header("webhook-timestamp").parse::<i64>().unwrap_or(0);
    let secret = inner.secret.lock().expect("receiver state").clone();
    let signature_valid = secret.as_deref().is_some_and(|secret| {
        signing::verify(
            secret,
            &webhook_id,
            timestamp,
            &body,
            &header("webhook-signature"),
        )
    });
    let earlier_with_key = {
        let mut per_key = inner.per_key.lock().expect("receiver state");
        let n = per_key.entry(key.clone()).or_insert(0);
        *n += 1;
        *n - 1
    };
    let (status, retry_after) = (inner.answer)(&key, earlier_with_key + 1);
    inner
        .received
        .lock()
        .expect("receiver state")
        .push(Received {
            idempotency_key: key,
            webhook_id,
            timestamp,
            signature_valid,
            body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
            at: Instant::now(),
            earlier_with_key,
        });
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match retry_after {
        Some(s) => (status, [("retry-after", s.to_string())]).into_response(),
        None => status.into_response(),
    }
}
