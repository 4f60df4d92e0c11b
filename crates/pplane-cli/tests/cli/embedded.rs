//! With DATABASE_URL unset, the README's quickstart works from nothing:
//! the first command creates and starts a project-local cluster.

use crate::support::{pplane, Home};

#[test]
fn quickstart_on_the_embedded_default() {
    let home = Home::new();
    let status = pplane(home.path(), None, &["db", "status", "--json"]);
    assert_eq!(status.json()["status"], "not_initialized", "{status:?}");
    let url = pplane(home.path(), None, &["db", "url"]);
    assert_eq!(url.code, 1, "no url before the cluster exists: {url:?}");
    assert!(url.stderr.contains("pplane db start"));

    let up = pplane(home.path(), None, &["migrate", "up"]);
    assert_eq!(up.code, 0, "{up:?}");
    assert!(
        up.stderr
            .contains("created the embedded PostgreSQL cluster"),
        "{up:?}"
    );
    assert_eq!(
        up.stdout.lines().filter(|l| l.starts_with("up ")).count(),
        pplane_store::MigrationSet::embedded().migrations.len(),
        "each step is printed: {up:?}"
    );

    let check = pplane(home.path(), None, &["check", "schema"]);
    assert_eq!(check.code, 0, "{check:?}");
    assert!(
        check.stdout.contains("0 FAIL") && !check.stdout.contains("FAIL  "),
        "{check:?}"
    );

    let status = pplane(home.path(), None, &["db", "status", "--json"]).json();
    assert_eq!(status["status"], "running");
    let port = status["port"].as_u64().unwrap();
    let url = pplane(home.path(), None, &["db", "url"]);
    assert!(
        url.stdout
            .trim()
            .ends_with(&format!("@127.0.0.1:{port}/pplane")),
        "{url:?}"
    );

    let again = pplane(home.path(), None, &["migrate", "up"]);
    assert_eq!(again.code, 0);
    assert!(
        again.stdout.contains("up to date"),
        "the cluster and schema are reused: {again:?}"
    );

    let stop = pplane(home.path(), None, &["db", "stop"]);
    assert_eq!(stop.stdout.trim(), "stopped");
    let status = pplane(home.path(), None, &["db", "status", "--json"]).json();
    assert_eq!(status["status"], "stopped");
}

#[test]
fn tenant_create_prints_both_ids() {
    let home = Home::new();
    assert_eq!(pplane(home.path(), None, &["migrate", "up"]).code, 0);
    let user = "0190f1a2-0000-7000-8000-000000000001";
    let created = pplane(
        home.path(),
        None,
        &["tenant", "create", "Acme Support", "--user", user, "--json"],
    );
    assert_eq!(created.code, 0, "{created:?}");
    let value = created.json();
    assert_eq!(value["user_id"], user);
    assert_eq!(value["name"], "Acme Support");
    assert_eq!(value["tenant_id"].as_str().unwrap().len(), 36);

    let plain = pplane(home.path(), None, &["tenant", "create", "Beta"]);
    assert!(
        plain.stdout.starts_with("tenant ") && plain.stdout.contains("\nuser "),
        "{plain:?}"
    );
}

#[test]
fn a_named_scratch_database_sits_beside_the_default_one() {
    let home = Home::new();
    let started = pplane(
        home.path(),
        None,
        &["db", "start", "--database", "scratch_1", "--json"],
    );
    assert_eq!(started.code, 0, "{started:?}");
    let url = started.json()["url"].as_str().unwrap().to_owned();
    assert!(url.ends_with("/scratch_1"), "{url}");

    let up = pplane(home.path(), Some(&url), &["migrate", "up"]);
    assert_eq!(up.code, 0, "the scratch database takes the schema: {up:?}");
    let named = pplane(home.path(), None, &["db", "url", "--database", "scratch_1"]);
    assert_eq!(named.stdout.trim(), url);
    let default = pplane(home.path(), None, &["migrate", "status"]);
    assert_eq!(default.code, 0, "{default:?}");
    assert!(
        default.stdout.contains("pending"),
        "the default database is untouched by the scratch one's migration: {default:?}"
    );

    let bad = pplane(
        home.path(),
        None,
        &["db", "start", "--database", "Bad-Name"],
    );
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("invalid database name"), "{bad:?}");
    pplane(home.path(), None, &["db", "stop"]);
}
