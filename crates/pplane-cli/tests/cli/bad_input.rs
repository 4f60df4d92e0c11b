//! Bad input gets one clear error with the contract's exit code (2 for bad
//! input, 1 for a refused operation), nothing written and nothing echoed
//! back whole; stored text reaches a terminal escaped; secrets in URLs stay
//! masked; JSON arguments of any size arrive through `@FILE` or `-`; a
//! closed stdout ends a command quietly.

use std::io::Write;
use std::process::{Command, Stdio};

use pplane_store::testing::TestDb;

use crate::support::{pplane, Home, Started, BINARY};

#[tokio::test]
async fn out_of_range_step_indexes_are_refused_and_appending_still_works() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let url = Some(db.url());
    let p = Started::new(home.path(), url);
    for index in ["2147483647", "1000001", "-1"] {
        let index = format!("--index={index}");
        let add = p.run(
            home.path(),
            url,
            &["run", "step", "add", &p.run, "--type", "t", &index],
        );
        assert_eq!(add.code, 2, "{index}: {add:?}");
        assert!(
            add.stderr.contains("step_index must be 0 to 1000000"),
            "{add:?}"
        );
    }
    let last = p.run(
        home.path(),
        url,
        &[
            "run", "step", "add", &p.run, "--type", "t", "--index", "1000000",
        ],
    );
    assert_eq!(last.code, 0, "{last:?}");
    let after = p.run(
        home.path(),
        url,
        &["run", "step", "add", &p.run, "--type", "t"],
    );
    assert_eq!(after.code, 1, "a state error: {after:?}");
    assert!(
        after
            .stderr
            .contains("give new steps an index of their own"),
        "{after:?}"
    );
    let chosen = p.run(
        home.path(),
        url,
        &["run", "step", "add", &p.run, "--type", "t", "--index", "7"],
    );
    assert_eq!(chosen.code, 0, "{chosen:?}");
}

#[tokio::test]
async fn nul_characters_are_refused_by_name_and_nothing_is_written() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let url = Some(db.url());
    let p = Started::new(home.path(), url);
    let ingest = |source: &str, payload: &str| {
        p.run(
            home.path(),
            url,
            &[
                "signal",
                "ingest",
                "--channel",
                "c",
                "--source-id",
                source,
                "--payload",
                payload,
            ],
        )
    };
    for payload in [r#"{"a":"x\u0000y"}"#, r#"{"a\u0000":1}"#, r#"["\u0000"]"#] {
        let refused = ingest("nul", payload);
        assert_eq!(refused.code, 2, "{refused:?}");
        assert!(
            refused
                .stderr
                .contains("payload contains the NUL character"),
            "{refused:?}"
        );
    }
    let error = p.run(
        home.path(),
        url,
        &["run", "fail", &p.run, "--error", r#"{"why":"\u0000"}"#],
    );
    assert_eq!(error.code, 2, "{error:?}");
    // Nothing was written: the same source id is still new.
    let fresh = ingest("nul", "{}");
    assert_eq!(fresh.json()["duplicate"], false, "{fresh:?}");
}

#[tokio::test]
async fn oversize_input_is_bad_input_whichever_check_sees_it() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let url = Some(db.url());
    let p = Started::new(home.path(), url);
    // 22,000 entries: compact JSON under 256 KiB, jsonb's text form (a space
    // after each ':' and ',') over it. Both measures now agree: refused.
    let entries: Vec<String> = (0..22_000).map(|i| format!("\"k{i:05}\":1")).collect();
    let wide = format!("{{{}}}", entries.join(","));
    assert!(wide.len() < 256 * 1024 && wide.len() + 2 * 22_000 > 256 * 1024);
    let file = home.path().join("wide.json");
    std::fs::write(&file, &wide).unwrap();
    let at_file = format!("@{}", file.display());
    let refused = p.run(
        home.path(),
        url,
        &[
            "signal",
            "ingest",
            "--channel",
            "c",
            "--source-id",
            "wide",
            "--payload",
            &at_file,
        ],
    );
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains("payload is")
            && refused.stderr.contains("over its limit of 262144"),
        "{refused:?}"
    );
    // Far over: a 2 MiB checkpoint through stdin.
    let big = format!("{{\"blob\":\"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let stdin = with_stdin(
        &["run", "checkpoint", "save", &p.run, "--state", "-"],
        &p,
        url,
        home.path(),
        &big,
    );
    assert_eq!(stdin.0, 2, "{}", stdin.2);
    assert!(stdin.2.contains("over its limit of 1048576"), "{}", stdin.2);
    assert!(
        stdin.2.len() < 300,
        "not echoed back: {} bytes",
        stdin.2.len()
    );
}

#[tokio::test]
async fn payloads_past_the_argument_limit_arrive_through_a_file_or_stdin() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let url = Some(db.url());
    let p = Started::new(home.path(), url);
    // 600 KiB: more than one argument may carry, within a checkpoint's 1 MiB.
    let state = format!("{{\"notes\":\"{}\"}}", "n".repeat(600 * 1024));
    let file = home.path().join("state.json");
    std::fs::write(&file, &state).unwrap();
    let at_file = format!("@{}", file.display());
    let saved = p.run(
        home.path(),
        url,
        &["run", "checkpoint", "save", &p.run, "--state", &at_file],
    );
    assert_eq!(saved.code, 0, "{saved:?}");
    let (code, _, err) = with_stdin(
        &["run", "checkpoint", "save", &p.run, "--state", "-"],
        &p,
        url,
        home.path(),
        &state,
    );
    assert_eq!(code, 0, "{err}");
    let loaded = p.run(home.path(), url, &["run", "checkpoint", "load", &p.run]);
    assert_eq!(
        loaded.json()["state"]["notes"].as_str().map(str::len),
        Some(600 * 1024)
    );
    let missing = p.run(
        home.path(),
        url,
        &[
            "run",
            "checkpoint",
            "save",
            &p.run,
            "--state",
            "@/nonexistent/state.json",
        ],
    );
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(
        missing.stderr.contains("--state @/nonexistent/state.json"),
        "{missing:?}"
    );
}

#[tokio::test]
async fn long_values_are_refused_without_being_echoed_whole() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let url = Some(db.url());
    let p = Started::new(home.path(), url);
    let long = "s".repeat(100_000);
    let ingest = p.run(
        home.path(),
        url,
        &["signal", "ingest", "--channel", "c", "--source-id", &long],
    );
    assert_eq!(ingest.code, 2, "{ingest:?}");
    assert!(
        ingest.stderr.contains("first 40 of 100000 characters") && ingest.stderr.len() < 300,
        "{}",
        &ingest.stderr[..ingest.stderr.len().min(400)]
    );
    let actor = format!("agent:{}", "a".repeat(5_000));
    let step = p.run(
        home.path(),
        url,
        &[
            "run", "step", "add", &p.run, "--type", "t", "--actor", &actor,
        ],
    );
    assert_eq!(step.code, 2, "{step:?}");
    assert!(
        step.stderr.len() < 300,
        "{}",
        &step.stderr[..step.stderr.len().min(400)]
    );
    let status = pplane(home.path(), url, &["outbox", "list", "--status", &long]);
    assert_eq!(status.code, 2);
    assert!(
        status.stderr.len() < 400,
        "{}",
        &status.stderr[..400.min(status.stderr.len())]
    );
}

#[tokio::test]
async fn a_non_member_is_told_so_on_reads_and_writes() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let url = Some(db.url());
    let p = Started::new(home.path(), url);
    let stranger = uuid::Uuid::now_v7().to_string();
    let as_stranger = |first: &[&str]| {
        let args: Vec<&str> = first
            .iter()
            .copied()
            .chain(["--tenant", p.tenant.as_str(), "--user", stranger.as_str()])
            .collect();
        pplane(home.path(), url, &args)
    };
    for attempt in [
        as_stranger(&["run", "show", &p.run]),
        as_stranger(&["run", "step", "add", &p.run, "--type", "t"]),
        as_stranger(&["signal", "ingest", "--channel", "c", "--source-id", "x"]),
        as_stranger(&["trace", &p.run]),
        as_stranger(&["diagnose", "run", &p.run]),
        as_stranger(&["destination", "list"]),
    ] {
        assert_eq!(attempt.code, 1, "{attempt:?}");
        assert!(
            attempt.stderr.contains(&format!(
                "principal {stranger} is not a member of this tenant"
            )),
            "{attempt:?}"
        );
        assert!(
            !attempt.stderr.contains("row-level security"),
            "{attempt:?}"
        );
    }
}

#[tokio::test]
async fn stored_control_characters_reach_the_terminal_escaped() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let url = Some(db.url());
    let p = Started::new(home.path(), url);
    let forged = "x\nrun     00000000-0000-0000-0000-000000000000  COMPLETED";
    let ingest = p.run(
        home.path(),
        url,
        &[
            "signal",
            "ingest",
            "--channel",
            "chat\u{1b}[2J\u{1b}[H",
            "--source-id",
            forged,
        ],
    );
    assert_eq!(ingest.code, 0, "{ingest:?}");
    let run = ingest.json()["run_id"].as_str().unwrap().to_owned();
    let step = p.run(
        home.path(),
        url,
        &["run", "step", "add", &run, "--type", "plan\r\u{202e}evil"],
    );
    assert_eq!(step.code, 0, "{step:?}");
    let trace = p.run(home.path(), url, &["trace", &run]);
    assert_eq!(trace.code, 0, "{trace:?}");
    assert!(
        !trace.stdout.contains('\u{1b}'),
        "no raw escape: {:?}",
        trace.stdout
    );
    assert!(!trace.stdout.contains('\r') && !trace.stdout.contains('\u{202e}'));
    assert!(
        !trace
            .stdout
            .lines()
            .any(|l| l.starts_with("run     00000000")),
        "no forged line: {}",
        trace.stdout
    );
    assert!(
        trace
            .stdout
            .contains(r"chat\u{1b}[2J\u{1b}[H/x\nrun     00000000"),
        "{}",
        trace.stdout
    );
    // JSON output carries the values exactly, escaped by the encoder.
    let json = p.run(home.path(), url, &["trace", &run, "--json"]);
    assert_eq!(json.json()["signal"]["source_id"], forged);
}

#[tokio::test]
async fn a_webhook_password_is_masked_wherever_it_is_printed() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let url = Some(db.url());
    let p = Started::new(home.path(), url);
    let add = p.run(
        home.path(),
        url,
        &[
            "destination",
            "add",
            "crm",
            "--webhook",
            "https://bot:s3cr3t-pass@crm.example.com/hook",
        ],
    );
    assert_eq!(add.code, 0, "{add:?}");
    assert!(!add.stdout.contains("s3cr3t-pass"), "{add:?}");
    let list = p.run(home.path(), url, &["destination", "list"]);
    assert!(!list.stdout.contains("s3cr3t-pass"), "{list:?}");
    assert!(
        list.stdout
            .contains("https://bot:****@crm.example.com/hook"),
        "{list:?}"
    );
    let bad = p.run(
        home.path(),
        url,
        &[
            "destination",
            "add",
            "ftp",
            "--webhook",
            "ftp://bot:s3cr3t-pass@files.example.com/",
        ],
    );
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(!bad.stderr.contains("s3cr3t-pass"), "{bad:?}");
}

#[tokio::test]
async fn a_closed_stdout_ends_the_command_quietly() {
    let db = TestDb::migrated().await;
    let home = Home::new();
    let url = Some(db.url());
    let p = Started::new(home.path(), url);
    // `… --json | head -c 0`: the reader is gone before anything is written.
    let mut child = Command::new(BINARY)
        .args(["run", "step", "add", &p.run, "--type", "t", "--json"])
        .args(p.acting())
        .env("DATABASE_URL", db.url())
        .env("PPLANE_HOME", home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The change itself was made.
    let show = p.run(home.path(), url, &["run", "show", &p.run]);
    assert_eq!(show.json()["steps"].as_array().unwrap().len(), 1);
}

/// Runs `pplane FIRST… --tenant T --user U` with `input` on stdin; returns
/// the exit code, stdout and stderr.
fn with_stdin(
    first: &[&str],
    p: &Started,
    url: Option<&str>,
    home: &std::path::Path,
    input: &str,
) -> (i32, String, String) {
    let mut cmd = Command::new(BINARY);
    cmd.args(first)
        .args(p.acting())
        .env("PPLANE_HOME", home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(url) = url {
        cmd.env("DATABASE_URL", url);
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
