//! `pplane bench api`: a whole run (ingest, start, three steps each with a
//! tool call, a checkpoint, an effect, complete: 20 requests) over HTTP with
//! 1, 8 and 32 concurrent clients, against the same run driven through the
//! library in the same process, on the same server, in the same run. Each
//! library call is its own transaction, as each request is.
//!
//! The rows' latencies are per request (per call on the library side);
//! `per_s` and `raw_per_s` are whole runs per second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pplane_domain::{ApiScope, TenantId, UserId};
use pplane_store::bench::{concurrently, BenchRow, ScratchDb};
use pplane_store::operations::api_keys::api_key_create;
use pplane_store::operations::checkpoints::checkpoint_save;
use pplane_store::operations::destinations::{destination_create, Target};
use pplane_store::operations::effects::{effect_request, EffectInput};
use pplane_store::operations::ingest::{signal_ingest, SignalInput};
use pplane_store::operations::runs::{run_finish, run_start, RunOutcome};
use pplane_store::operations::steps::{step_add, step_move, StepInput, StepMove};
use pplane_store::operations::tool_calls::{tool_call_finish, tool_call_start};
use pplane_store::operations::Origin;
use pplane_store::{Result, Store, StoreError, StoreOptions};
use serde_json::{json, Value};

/// Requests (or library calls) in one whole run.
pub const CALLS_PER_RUN: usize = 20;

#[derive(Debug, Clone)]
pub struct ApiBench {
    pub clients: Vec<u32>,
    /// How long each side of each scenario runs.
    pub seconds: f64,
    /// Tenants the clients are spread over.
    pub tenants: u32,
}

impl Default for ApiBench {
    fn default() -> Self {
        ApiBench {
            clients: vec![1, 8, 32],
            seconds: 3.0,
            tenants: 8,
        }
    }
}

struct Member {
    tenant: TenantId,
    user: UserId,
    key: String,
}

pub async fn run(url: &str, cfg: &ApiBench, progress: impl Fn(&str)) -> Result<Vec<BenchRow>> {
    progress("creating a scratch database");
    let scratch = ScratchDb::create(url).await?;
    let result = measure(&scratch.url, cfg, &progress).await;
    scratch.drop_now().await?;
    result
}

async fn measure(url: &str, cfg: &ApiBench, progress: &impl Fn(&str)) -> Result<Vec<BenchRow>> {
    let most = cfg.clients.iter().copied().max().unwrap_or(1);
    let store = Store::connect_with(
        url,
        StoreOptions {
            max_connections: most + 4,
        },
    )
    .await?;
    let mut members = Vec::new();
    for i in 0..cfg.tenants.max(1) {
        let user = UserId::new();
        let tenant = store.tenant_create(&format!("bench api {i}"), user).await?;
        let mut tx = store.tenant_tx(tenant, user).await?;
        destination_create(&mut tx, "sink", &Target::Nats("bench.sink".into())).await?;
        let key = api_key_create(&mut tx, "bench", ApiScope::Runtime, None).await?;
        tx.commit().await?;
        members.push(Member {
            tenant,
            user,
            key: key.text,
        });
    }
    let members = Arc::new(members);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| StoreError::Internal(format!("bench: cannot listen: {e}")))?;
    let base = format!(
        "http://{}",
        listener
            .local_addr()
            .map_err(|e| StoreError::Internal(e.to_string()))?
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // The API measured, not its rate limits.
    let app = crate::router_with(
        store.clone(),
        crate::Options {
            limits: crate::limits::Limits::unlimited(),
            ..Default::default()
        },
    );
    let server = tokio::spawn(crate::serve_router(app, listener, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let duration = Duration::from_secs_f64(cfg.seconds);

    let mut rows = Vec::new();
    for &clients in &cfg.clients {
        let name = format!("api: whole runs, {clients} clients");
        progress(&name);
        let (b, h, m) = (base.clone(), http.clone(), members.clone());
        let over_http = concurrently(clients, duration, move |c, i| {
            let (base, http, members) = (b.clone(), h.clone(), m.clone());
            async move {
                let key = &members[c as usize % members.len()].key;
                run_over_http(&http, &base, key, &format!("h{clients}-{c}-{i}")).await
            }
        })
        .await?;
        let (s, m) = (store.clone(), members.clone());
        let in_process = concurrently(clients, duration, move |c, i| {
            let (store, members) = (s.clone(), m.clone());
            async move {
                let member = &members[c as usize % members.len()];
                run_in_process(&store, member, &format!("l{clients}-{c}-{i}")).await
            }
        })
        .await?;
        let mut row = BenchRow::new(name, clients, Some(cfg.tenants), &over_http, &in_process);
        row.per_s /= CALLS_PER_RUN as f64;
        row.raw_per_s /= CALLS_PER_RUN as f64;
        rows.push(row);
    }
    let _ = stop.send(());
    let _ = server.await;
    store.close().await;
    Ok(rows)
}

/// One whole run over HTTP: the latency of each of its requests.
async fn run_over_http(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    source: &str,
) -> Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(CALLS_PER_RUN);
    let call = |path: String, body: Value| {
        let request = http
            .post(format!("{base}{path}"))
            .bearer_auth(key)
            .json(&body);
        async move {
            let t = Instant::now();
            let response = request
                .send()
                .await
                .map_err(|e| StoreError::Internal(format!("bench request: {e}")))?;
            let status = response.status();
            let answer: Value = response
                .json()
                .await
                .map_err(|e| StoreError::Internal(format!("bench answer: {e}")))?;
            if !status.is_success() {
                return Err(StoreError::Internal(format!("bench: {status} {answer}")));
            }
            Ok::<_, StoreError>((t.elapsed(), answer))
        }
    };
    let mut take = |r: (Duration, Value)| {
        times.push(r.0);
        r.1
    };
    let got = take(
        call(
            "/v1/signals".into(),
            json!({ "channel": "bench", "source_id": source }),
        )
        .await?,
    );
    let run = got["run_id"].as_str().unwrap_or_default().to_owned();
    take(call(format!("/v1/runs/{run}/start"), json!({})).await?);
    for i in 0..3 {
        let step = take(
            call(
                format!("/v1/runs/{run}/steps"),
                json!({ "step_type": format!("s{i}") }),
            )
            .await?,
        );
        let step = step["id"].as_str().unwrap_or_default().to_owned();
        take(call(format!("/v1/steps/{step}/start"), json!({})).await?);
        let tool = take(
            call(
                format!("/v1/steps/{step}/tool-calls"),
                json!({ "tool_name": "lookup", "args": { "i": i } }),
            )
            .await?,
        );
        let tool = tool["id"].as_str().unwrap_or_default().to_owned();
        take(
            call(
                format!("/v1/tool-calls/{tool}/finish"),
                json!({ "result": { "ok": true } }),
            )
            .await?,
        );
        take(
            call(
                format!("/v1/steps/{step}/complete"),
                json!({ "output": { "i": i } }),
            )
            .await?,
        );
    }
    take(
        call(
            format!("/v1/runs/{run}/checkpoints"),
            json!({ "state": { "at": 3 }, "last_step_index": 2 }),
        )
        .await?,
    );
    take(call(
        format!("/v1/runs/{run}/effects"),
        json!({ "effect_type": "NOTIFY", "idempotency_key": format!("{source}-mail"), "destination": "sink" }),
    )
    .await?);
    take(call(format!("/v1/runs/{run}/complete"), json!({})).await?);
    Ok(times)
}

/// The same run through the library: each call its own transaction.
async fn run_in_process(store: &Store, m: &Member, source: &str) -> Result<Vec<Duration>> {
    let by = Origin::by(pplane_domain::Actor::User(m.user.to_string()));
    let mut times = Vec::with_capacity(CALLS_PER_RUN);
    let input = SignalInput {
        channel: "bench".into(),
        source_id: source.into(),
        payload: Value::Null,
        domain_refs: json!({}),
        actor: "external:bench".parse().expect("an actor"),
    };
    macro_rules! timed {
        ($tx:ident => $body:expr) => {{
            let t = Instant::now();
            let mut $tx = store.tenant_tx(m.tenant, m.user).await?;
            let out = $body;
            $tx.commit().await?;
            times.push(t.elapsed());
            out
        }};
    }
    let run = timed!(tx => signal_ingest(&mut tx, &input).await?).run_id;
    timed!(tx => run_start(&mut tx, run, &by).await?);
    for i in 0..3 {
        let input = StepInput {
            step_type: format!("s{i}"),
            step_index: None,
            input: None,
        };
        let step = timed!(tx => step_add(&mut tx, run, &input, &by).await?).id;
        timed!(tx => step_move(&mut tx, step, &StepMove::Start, &by).await?);
        let args = json!({ "i": i });
        let tool = timed!(tx => tool_call_start(&mut tx, step, "lookup", &args, &by).await?).id;
        let result = json!({ "ok": true });
        timed!(tx => tool_call_finish(&mut tx, tool, Ok(&result), &by).await?);
        let done = StepMove::Complete {
            output: Some(json!({ "i": i })),
        };
        timed!(tx => step_move(&mut tx, step, &done, &by).await?);
    }
    let state = json!({ "at": 3 });
    timed!(tx => checkpoint_save(&mut tx, run, &state, Some(2), &by).await?);
    let effect = EffectInput {
        run,
        step: None,
        effect_type: "NOTIFY".into(),
        idempotency_key: format!("{source}-mail"),
        spec: json!({ "destination": "sink" }),
    };
    timed!(tx => effect_request(&mut tx, &effect, &by).await?);
    timed!(tx => run_finish(&mut tx, run, &RunOutcome::Completed, &by).await?);
    Ok(times)
}
