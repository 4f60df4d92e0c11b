//! `pplane serve` with a key from `pplane apikey create`: the key is printed
//! once and works; `apikey list` shows its prefix, never its secret; a
//! revoked key is refused on its next request; SIGTERM stops the server
//! cleanly (exit 0), and under load it loses no request it acknowledged.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pplane_store::testing::TestDb;

use crate::support::{Home, Started, BINARY};

async fn get(base: &str, path: &str, key: &str) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn a_created_key_drives_the_server_until_it_is_revoked() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let url = Some(db.url());
    let started = Started::new(home.path(), url);
    let created = key_create(
        &started,
        home.path(),
        url,
        &["--scope", "read", "--name", "dashboard"],
    );
    let key = created["key"].as_str().unwrap().to_owned();
    let key_id = created["id"].as_str().unwrap().to_owned();

    let listed = started.run(home.path(), url, &["apikey", "list"]);
    assert!(listed.stdout.contains(created["prefix"].as_str().unwrap()));
    assert!(
        !listed.stdout.contains(&key[key.len() - 64..]),
        "{listed:?}"
    );

    let (mut server, base) = serve(db.url()).await;

    let (status, view) = get(&base, &format!("/v1/runs/{}", started.run), &key).await;
    assert_eq!(
        (status, view["run"]["status"].as_str()),
        (200, Some("RUNNING"))
    );
    let revoked = started.run(home.path(), url, &["apikey", "revoke", &key_id]);
    assert_eq!(revoked.code, 0, "{revoked:?}");
    let (status, _) = get(&base, &format!("/v1/runs/{}", started.run), &key).await;
    assert_eq!(status, 401);

    terminate(&server);
    let exit = server.wait().unwrap();
    assert!(exit.success(), "serve exited with {exit}");
}

#[tokio::test]
async fn sigterm_under_load_loses_no_acknowledged_request() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let url = Some(db.url());
    let started = Started::new(home.path(), url);
    let key = key_create(&started, home.path(), url, &["--scope", "runtime"])["key"]
        .as_str()
        .unwrap()
        .to_owned();
    // Load, not its rate limits: eight clients on one key.
    let unlimited = [
        "--key-rate",
        "1000000",
        "--key-burst",
        "1000000",
        "--tenant-rate",
        "1000000",
        "--tenant-burst",
        "1000000",
    ];
    let (mut server, base) = serve_with(db.url(), &unlimited).await;

    let clients: Vec<_> = (0..8)
        .map(|w| {
            let (base, key) = (base.clone(), key.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut acknowledged = Vec::new();
                for i in 0.. {
                    let source = format!("w{w}-{i}");
                    let sent = http
                        .post(format!("{base}/v1/signals"))
                        .bearer_auth(&key)
                        .json(&serde_json::json!({ "channel": "load", "source_id": source }))
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status().as_u16() == 201 => acknowledged.push(source),
                        Ok(r) => panic!("unexpected answer {}", r.status()),
                        // The server has stopped accepting: done.
                        Err(_) => break,
                    }
                }
                acknowledged
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(800)).await;
    terminate(&server);
    let mut acknowledged = Vec::new();
    for c in clients {
        acknowledged.extend(c.await.unwrap());
    }
    let exit = server.wait().unwrap();
    assert!(exit.success(), "serve exited with {exit}");
    assert!(
        acknowledged.len() > 20,
        "too little load: {}",
        acknowledged.len()
    );
    let stored = db
        .text("SELECT coalesce(string_agg(source_id, ','), '') FROM signals")
        .await;
    let stored: std::collections::HashSet<&str> = stored.split(',').collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|s| !stored.contains(s.as_str()))
        .collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
}

/// `pplane apikey create ARGS --json` for the started tenant's member.
fn key_create(
    started: &Started,
    home: &std::path::Path,
    url: Option<&str>,
    args: &[&str],
) -> serde_json::Value {
    let all: Vec<&str> = ["apikey", "create"]
        .into_iter()
        .chain(args.iter().copied())
        .chain(["--json"])
        .collect();
    let created = started.run(home, url, &all);
    assert_eq!(created.code, 0, "{created:?}");
    created.json()
}

/// `pplane serve` on a free port, once it is ready.
async fn serve(url: &str) -> (std::process::Child, String) {
    serve_with(url, &[]).await
}

/// `pplane serve ARGS` on a free port, once it is ready.
pub(crate) async fn serve_with(url: &str, args: &[&str]) -> (std::process::Child, String) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let server = spawn(url, &listen, args);
    let base = format!("http://{listen}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let ready = reqwest::get(format!("{base}/readyz")).await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(Instant::now() < deadline, "the server never became ready");
    (server, base)
}

/// A loopback port nothing listens on now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(url: &str, listen: &str, args: &[&str]) -> std::process::Child {
    Command::new(BINARY)
        .args(["serve", "--listen", listen])
        .args(args)
        .env("DATABASE_URL", url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

pub(crate) fn terminate(server: &std::process::Child) {
    let term = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
}
