//! Running the real binary.

use std::path::Path;
use std::process::{Command, Output};

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `pplane ARGS` with DATABASE_URL set to `url`, or unset when None, and
/// `$PPLANE_HOME` at `home`; the binary is on `PATH`, as after `cargo
/// install`, so the commands it prints begin with `pplane`.
pub fn pplane(home: &Path, url: Option<&str>, args: &[&str]) -> Run {
    command(home, url, BINARY, args, true)
}

/// The binary under test.
pub const BINARY: &str = env!("CARGO_BIN_EXE_pplane");

/// `program ARGS` in `home` as [`pplane`] runs it; with `on_path` the
/// binary's folder leads `PATH`, and `program` may be `pplane`.
pub fn command(home: &Path, url: Option<&str>, program: &str, args: &[&str], on_path: bool) -> Run {
    let program = if program == "pplane" && on_path {
        BINARY
    } else {
        program
    };
    let mut cmd = Command::new(program);
    cmd.args(args).env("PPLANE_HOME", home).current_dir(home);
    if on_path {
        let dir = Path::new(BINARY).parent().unwrap().to_path_buf();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let paths = std::iter::once(dir).chain(std::env::split_paths(&path));
        cmd.env("PATH", std::env::join_paths(paths).unwrap());
    }
    match url {
        Some(url) => cmd.env("DATABASE_URL", url),
        None => cmd.env_remove("DATABASE_URL"),
    };
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run pplane");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// A `$PPLANE_HOME` that the `postgres` OS user can reach, whose embedded
/// cluster (if any) is stopped when the test ends, pass or fail.
pub struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        use std::os::unix::fs::PermissionsExt;
        // The system temp dir, opened to other users: the `postgres` OS user
        // must reach it whatever the checkout's own permissions are.
        let dir = tempfile::Builder::new()
            .prefix("pplane-cli-home-")
            .tempdir()
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        Home { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        pplane(self.path(), None, &["db", "stop"]);
    }
}

/// Runs examples/drive-a-run.sh against `url`; returns the `name=value`
/// pairs of its last line (tenant, user, run, correlation).
pub fn drive_example_run(url: &str) -> std::collections::HashMap<String, String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/drive-a-run.sh");
    let out = Command::new("bash")
        .arg(script)
        .env("PPLANE", env!("CARGO_BIN_EXE_pplane"))
        .env("DATABASE_URL", url)
        .output()
        .expect("run the example script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Asserts `text` contains every one of `parts`, showing the text if not.
pub fn assert_contains_all(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part:?} in\n{text}");
    }
}

/// A tenant with a member and a started run, made through the CLI.
pub struct Started {
    pub tenant: String,
    pub user: String,
    pub run: String,
}

impl Started {
    pub fn new(home: &Path, url: Option<&str>) -> Started {
        let created = pplane(home, url, &["tenant", "create", "t", "--json"]).json();
        let tenant = created["tenant_id"].as_str().unwrap().to_owned();
        let user = created["user_id"].as_str().unwrap().to_owned();
        let source = uuid::Uuid::now_v7().to_string();
        let signal = pplane(
            home,
            url,
            &[
                "signal",
                "ingest",
                "--tenant",
                &tenant,
                "--user",
                &user,
                "--channel",
                "c",
                "--source-id",
                &source,
            ],
        );
        assert_eq!(signal.code, 0, "{signal:?}");
        let run = signal.json()["run_id"].as_str().unwrap().to_owned();
        let started = pplane(
            home,
            url,
            &["run", "start", &run, "--tenant", &tenant, "--user", &user],
        );
        assert_eq!(started.code, 0, "{started:?}");
        Started { tenant, user, run }
    }

    /// `--tenant T --user U` for this tenant's member.
    pub fn acting(&self) -> [&str; 4] {
        ["--tenant", &self.tenant, "--user", &self.user]
    }

    /// `pplane FIRST… --tenant T --user U`.
    pub fn run(&self, home: &Path, url: Option<&str>, first: &[&str]) -> Run {
        let args: Vec<&str> = first.iter().copied().chain(self.acting()).collect();
        pplane(home, url, &args)
    }
}

/// `args` of a gate's run (`demo`, `check all`) held to generous latency
/// targets: the gate's live latency items are the benchmarks' business (and
/// specified in pplane-store's gate_readiness), while these specs share two
/// cores with every other suite running beside them.
pub fn at_any_speed<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend(["--query-p95-ms", "1000", "--append-p99-ms", "1000"]);
    all
}
