//! `pplane demo`: the whole plane, ending with a passing production gate;
//! every command it prints works when pasted afterwards, on the embedded
//! default and on `DATABASE_URL`; running it again adds to what is there;
//! `--webhook` sends every effect to another receiver; `--no-worker` leaves
//! them for a separately started worker.

use std::sync::Arc;

use pplane_store::testing::TestDb;
use pplane_worker::receiver::Receiver;

use crate::serve::{serve_with, terminate};
use crate::support::{assert_contains_all, at_any_speed, command, pplane, Home, BINARY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_delivers_effects_and_ends_with_a_passing_gate() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let run = pplane(
        home.path(),
        Some(db.url()),
        &at_any_speed(&["demo", "--tenants", "2", "--runs", "2"]),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_contains_all(
        &run.stdout,
        &[
            "2 tenants, 4 signals (2 duplicate ignored), 4 runs, 5 effects",
            "outbox: 4 delivered, 1 dead letters, 0 waiting",
            "$ pplane trace ",
            "$ pplane diagnose run ",
            "$ pplane diagnose effect ",
            "pplane outbox requeue ",
            "# Production gate",
            " 0 FAIL, ",
            // The causation tree: two steps side by side under RUN_STARTED,
            // a tool call under its step's start.
            "   2    └─ RUN_STARTED",
            "   3       ├─ STEP_SCHEDULED",
            "   3       └─ STEP_SCHEDULED",
            "   5       │     ├─ TOOL_CALL_STARTED",
        ],
    );
    assert!(
        run.stderr.contains("demo: delivering effects"),
        "progress on stderr"
    );

    // Its last lines say how to see it in the console, with an operator key
    // of its first tenant that signs in there.
    assert!(run.stdout.contains("See it in the console"));
    let key = run
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("ppk_"))
        .map(|k| format!("ppk_{k}"))
        .expect("a key in the demo's output");
    let (server, base) = serve_with(db.url(), &[]).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = http
        .post(format!("{base}/sign-in"))
        .form(&[("key", key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let runs = http
        .get(format!("{base}/runs?status=FAILED"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(runs.status(), 200);
    assert!(runs
        .text()
        .await
        .unwrap()
        .contains("data-status=\"FAILED\""));
    terminate(&server);
    let mut server = server;
    assert!(server.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn effects_go_to_the_given_webhook_or_wait_for_a_worker() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let elsewhere = Receiver::start_with(Arc::new(|_, _| (204, None)))
        .await
        .unwrap();
    let url = elsewhere.url("/mine");
    let run = pplane(
        home.path(),
        Some(db.url()),
        &at_any_speed(&["demo", "--tenants", "1", "--runs", "1", "--webhook", &url]),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        elsewhere.keys(),
        3,
        "notify, flaky and broken all went to --webhook"
    );

    let waiting = TestDb::migrated().await;
    let run = pplane(
        home.path(),
        Some(waiting.url()),
        &at_any_speed(&["demo", "--tenants", "1", "--runs", "1", "--no-worker"]),
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("0 delivered, 0 dead letters, 3 waiting"),
        "{}",
        run.stdout
    );
    let worked = pplane(
        home.path(),
        Some(waiting.url()),
        &[
            "worker",
            "--until-idle",
            "--retry-base-ms",
            "50",
            "--retry-cap-ms",
            "100",
            "--json",
        ],
    );
    assert_eq!(worked.code, 0, "{worked:?}");
    assert!(worked.json()["claimed"].as_u64().unwrap() >= 3);
}

/// The commands a demo printed (`$ pplane …` lines, wherever they stand),
/// each as its words, in order, without repeats.
fn printed_commands(stdout: &str) -> Vec<Vec<String>> {
    let mut found: Vec<Vec<String>> = Vec::new();
    for line in stdout.lines() {
        let Some(cmd) = line.trim_start().strip_prefix("$ ") else {
            continue;
        };
        let words: Vec<String> = cmd.split_whitespace().map(str::to_owned).collect();
        if !found.contains(&words) {
            found.push(words);
        }
    }
    found
}

/// Runs the demo, then every command it printed, as a user pasting them
/// into the same shell would: each exits 0 and shows the demo's data.
fn demo_then_paste(home: &Home, url: Option<&str>, on_path: bool) -> Vec<Vec<String>> {
    let program = if on_path { "pplane" } else { BINARY };
    let demo = command(
        home.path(),
        url,
        program,
        &at_any_speed(&["demo", "--tenants", "1", "--runs", "2"]),
        on_path,
    );
    assert_eq!(demo.code, 0, "{demo:?}");
    let commands = printed_commands(&demo.stdout);
    let verbs: Vec<&str> = commands.iter().map(|c| c[1].as_str()).collect();
    assert_eq!(
        verbs,
        ["trace", "diagnose", "diagnose", "outbox", "outbox", "check"],
        "{commands:?}"
    );
    // The gate is printed as the demo ran it, with the targets it was given.
    let gate = commands.last().expect("the gate's command");
    assert!(
        gate.ends_with(
            &["all", "--query-p95-ms", "1000", "--append-p99-ms", "1000"].map(String::from)
        ),
        "{gate:?}"
    );
    for words in &commands {
        assert_eq!(
            words[0], program,
            "printed as it is reached from here: {words:?}"
        );
        let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        let pasted = command(home.path(), url, &words[0], &args, on_path);
        assert_eq!(pasted.code, 0, "{words:?}: {pasted:?}");
        // Each shows the demo's data: the id it is about comes back.
        let subjects = words
            .windows(2)
            .filter(|w| !w[0].starts_with("--") && w[1].len() == 36)
            .map(|w| &w[1]);
        for id in subjects {
            assert!(
                pasted.stdout.contains(id.as_str()),
                "{id} in {words:?}: {pasted:?}"
            );
        }
    }
    commands
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_printed_command_works_when_pasted_on_the_embedded_default() {
    let home = Home::new();
    let commands = demo_then_paste(&home, None, true);
    let requeue = commands
        .iter()
        .find(|c| c[1] == "outbox" && c[2] == "requeue")
        .unwrap();
    assert!(
        requeue.iter().all(|w| !w.contains('<')),
        "no placeholders: {requeue:?}"
    );

    // Again: the demo adds new tenants next to the first run's, says so,
    // and its gate still passes.
    let again = pplane(
        home.path(),
        None,
        &at_any_speed(&["demo", "--tenants", "1", "--runs", "1"]),
    );
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again
            .stderr
            .contains("already migrated: adding new tenants"),
        "{}",
        again.stderr
    );
    let trace = &commands[0];
    let args: Vec<&str> = trace[1..].iter().map(String::as_str).collect();
    assert_eq!(
        pplane(home.path(), None, &args).code,
        0,
        "the first run's data is still there"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_printed_command_works_when_pasted_on_database_url() {
    let db = TestDb::empty().await;
    let home = Home::new();
    // pplane is not on PATH here: the demo prints the binary's own path.
    demo_then_paste(&home, Some(db.url()), false);
    assert!(
        !home.path().join("pg").exists(),
        "no embedded cluster was made"
    );
}
