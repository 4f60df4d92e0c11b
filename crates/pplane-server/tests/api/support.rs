//! A served plane on a free port, and a client holding one key.

use pplane_domain::delivery::{http_attempt, Backoff};
use pplane_domain::{Actor, ApiScope, TenantId, UserId};
use pplane_server::Options;
use pplane_store::operations::api_keys::api_key_create;
use pplane_store::operations::delivery::{delivery_settle, effect_dispatch};
use pplane_store::repositories::outbox::{outbox_claim, ClaimSize, Rotation};
use pplane_store::testing::TestDb;
use pplane_store::Store;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;

pub struct Served {
    pub db: TestDb,
    pub store: Store,
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Served {
    pub async fn start() -> Served {
        Served::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Served {
        let db = TestDb::migrated().await;
        let store = db.store().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let app = pplane_server::router_with(store.clone(), options);
        let task = tokio::spawn(pplane_server::serve_router(app, listener, async {
            let _ = stopped.await;
        }));
        Served {
            db,
            store,
            base,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// An operator of a new tenant with one effect requested (key `k`, to
    /// destination `d`), waiting in the outbox.
    pub async fn operator_with_effect(&self) -> Client {
        let op = self.tenant(ApiScope::Operator).await;
        let run = op.started_run_with_destination().await;
        op.post(
            &format!("/v1/runs/{run}/effects"),
            serde_json::json!({ "effect_type": "E", "idempotency_key": "k", "destination": "d" }),
        )
        .await
        .expect(201);
        op
    }

    /// A new tenant with a member, and a client with a key of `scope` for it.
    pub async fn tenant(&self, scope: ApiScope) -> Client {
        let (tenant, user) = self.db.tenant(&self.store).await;
        self.client(tenant, user, scope).await
    }

    pub async fn client(&self, tenant: TenantId, user: UserId, scope: ApiScope) -> Client {
        let mut tx = self.store.tenant_tx(tenant, user).await.unwrap();
        let created = api_key_create(&mut tx, "test", scope, None).await.unwrap();
        tx.commit().await.unwrap();
        Client {
            base: self.base.clone(),
            key: Some(created.text),
            key_id: created.key.id,
            tenant,
            user,
            http: reqwest::Client::new(),
        }
    }

    /// Settles every waiting outbox entry as delivered, as the worker does
    /// after a 204 from the receiver; returns how many.
    pub async fn deliver_all(&self) -> usize {
        self.settle_all(204).await
    }

    /// Settles every waiting outbox entry as a receiver's `status` decides
    /// (a 400 makes each a dead letter at once); returns how many.
    pub async fn settle_all(&self, status: u16) -> usize {
        let mut settled = 0;
        loop {
            let n = self.settle_claimed(status).await;
            if n == 0 {
                return settled;
            }
            settled += n;
        }
    }

    async fn settle_claimed(&self, status: u16) -> usize {
        let worker: Actor = "system:outbox-worker".parse().unwrap();
        let principal = self.store.delivery_principal().await.unwrap();
        let mut tx = self.store.dispatch_tx().await.unwrap();
        let claimed = outbox_claim(
            tx.conn(),
            &Rotation::default(),
            "test",
            ClaimSize::one_tenant(100),
            30_000,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        for entry in &claimed {
            let mut tx = self
                .store
                .tenant_tx(entry.tenant_id, principal)
                .await
                .unwrap();
            effect_dispatch(&mut tx, entry, &worker).await.unwrap();
            let answer = http_attempt(status, None);
            let verdict = answer.verdict(1, &Backoff::default(), 0.5);
            delivery_settle(&mut tx, entry, &answer, &verdict, &worker)
                .await
                .unwrap()
                .expect("the current attempt settles");
            tx.commit().await.unwrap();
        }
        claimed.len()
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub key: Option<String>,
    pub key_id: pplane_domain::ApiKeyId,
    pub tenant: TenantId,
    pub user: UserId,
    pub http: reqwest::Client,
}

/// A response: its status, and its body as JSON (Null when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    /// Asserts the status and returns the body.
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        self.body
    }

    /// Asserts a problem document of this status and type slug.
    pub fn problem(self, status: u16, slug: &str) -> Value {
        assert_eq!(
            self.content_type, "application/problem+json",
            "{:#}",
            self.body
        );
        assert_eq!(
            self.body["type"],
            format!("urn:pplane:problem:{slug}"),
            "{:#}",
            self.body
        );
        self.expect(status)
    }
}

impl Client {
    pub fn without_key(&self) -> Client {
        Client {
            key: None,
            ..self.clone()
        }
    }

    pub fn with_key(&self, key: &str) -> Client {
        Client {
            key: Some(key.to_owned()),
            ..self.clone()
        }
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(body)).await
    }

    /// A new run, from a signal with this source id: the run's id.
    pub async fn run(&self, source: &str) -> String {
        let got = self
            .post(
                "/v1/signals",
                serde_json::json!({ "channel": "c", "source_id": source }),
            )
            .await
            .expect(201);
        got["run_id"].as_str().unwrap().to_owned()
    }

    /// A started run in a tenant with a destination named `d`: the run's id.
    pub async fn started_run_with_destination(&self) -> String {
        self.post(
            "/v1/destinations",
            serde_json::json!({ "name": "d", "nats": "d.out" }),
        )
        .await
        .expect(201);
        let run = self.run("s").await;
        self.post(&format!("/v1/runs/{run}/start"), serde_json::json!({}))
            .await
            .expect(200);
        run
    }

    /// POSTs a creation (201) and returns the created thing's id.
    pub async fn create(&self, path: &str, body: Value) -> String {
        let created = self.post(path, body).await.expect(201);
        created["id"].as_str().unwrap().to_owned()
    }
}

/// `key` with its last hex digit changed: the same key's form, another
/// secret (a fixed digit would be the key itself one time in sixteen).
pub fn forged(key: &str) -> String {
    let other = if key.ends_with('0') { '1' } else { '0' };
    format!("{}{other}", &key[..key.len() - 1])
}

pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Answer {
        status,
        content_type,
        headers,
        body,
    }
}
