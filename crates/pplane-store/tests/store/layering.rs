//! "No direct database access in feature code": only this crate may depend on
//! the database driver, read from `cargo metadata`.

use std::process::Command;

const DRIVERS: [&str; 5] = [
    "sqlx",
    "sqlx-core",
    "sqlx-postgres",
    "tokio-postgres",
    "postgres",
];

#[test]
fn only_the_persistence_crate_depends_on_the_driver() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = meta["packages"].as_array().unwrap();
    assert!(packages.len() >= 4, "the whole workspace is listed");

    let mut offenders = Vec::new();
    let mut store_has_driver = false;
    for package in packages {
        let name = package["name"].as_str().unwrap();
        for dep in package["dependencies"].as_array().unwrap() {
            let dep_name = dep["name"].as_str().unwrap();
            if DRIVERS.contains(&dep_name) {
                if name == "pplane-store" {
                    store_has_driver = true;
                } else {
                    offenders.push(format!("{name} -> {dep_name}"));
                }
            }
        }
    }
    assert!(
        store_has_driver,
        "the check would pass vacuously if the store had no driver"
    );
    assert!(
        offenders.is_empty(),
        "feature crates must go through pplane-store: {offenders:?}"
    );
}

#[test]
fn sqlx_is_pinned_to_0_8_6() {
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml")).unwrap();
    assert!(
        manifest.contains("sqlx = { version = \"=0.8.6\""),
        "0.9.0 drops TCP_NODELAY"
    );
}

/// What an orchestrator compiles when it embeds the runtime (the store, the
/// worker, the demo, the HTTP server, with their default features) does not include the
/// cluster launcher, the benchmarks or the production gate.
#[test]
fn the_runtime_does_not_compile_the_operator_tools() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for package in [
        "pplane-store",
        "pplane-worker",
        "pplane-demo",
        "pplane-server",
    ] {
        let out = Command::new(&cargo)
            .args([
                "tree",
                "-p",
                package,
                "-e",
                "normal",
                "--prefix",
                "none",
                "--offline",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run cargo tree");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let tree = String::from_utf8_lossy(&out.stdout);
        assert!(tree.contains("pplane-store"), "{tree}");
        assert!(
            !tree.contains("pplane-cluster"),
            "{package} pulls in the cluster launcher:\n{tree}"
        );
    }
}

/// The runtime spawns no processes: only the operator tools (gates,
/// benchmarks) and the test harness may.
#[test]
fn only_operator_tools_spawn_processes() {
    let allowed = [
        "pplane-store/src/checks/",
        "pplane-store/src/bench/",
        "pplane-store/src/testing.rs",
        "pplane-worker/src/bench.rs",
    ];
    let mut offenders = Vec::new();
    for (path, text) in sources(&[
        "pplane-store",
        "pplane-worker",
        "pplane-demo",
        "pplane-server",
    ]) {
        let shown = path.display().to_string();
        if !allowed.iter().any(|a| shown.contains(a)) && text.contains("process::Command") {
            offenders.push(shown);
        }
    }
    assert!(
        offenders.is_empty(),
        "runtime code spawns processes: {offenders:?}"
    );
}

/// The crates above the store use its operations and queries only: no
/// repository, no raw connection. (Without the `testing` feature neither is
/// public; this names the rule where it is read.)
#[test]
fn feature_crates_use_only_the_sealed_api() {
    let mut offenders = Vec::new();
    for (path, text) in sources(&[
        "pplane-cli",
        "pplane-worker",
        "pplane-demo",
        "pplane-server",
    ]) {
        for needle in ["pplane_store::repositories", ".conn()"] {
            if text.contains(needle) {
                offenders.push(format!("{} uses {needle}", path.display()));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

/// Every source file under `src/` of the given workspace crates, with its text.
fn sources(crates: &[&str]) -> Vec<(std::path::PathBuf, String)> {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let mut stack: Vec<_> = crates.iter().map(|c| root.join(c).join("src")).collect();
    let mut files = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let text = std::fs::read_to_string(&path).unwrap();
                files.push((path, text));
            }
        }
    }
    assert!(files.len() > crates.len(), "the crates' sources were found");
    files
}
