//! The runtime refuses to start when its role could bypass row-level
//! security, when a table is unprotected, or when the schema is not the one
//! it was built for. Role attributes are cluster-wide, so the tests that
//! change them run on a cluster of their own.

use pplane_cluster::EphemeralCluster;
use pplane_domain::UserId;
use pplane_store::checks::schema_check;
use pplane_store::testing::TestDb;
use pplane_store::{Admin, MigrationSet, Store, StoreError};

use crate::support::exec;

fn refusal(result: Result<Store, StoreError>) -> String {
    match result {
        Ok(_) => panic!("the store must refuse to start"),
        Err(err) => err.to_string(),
    }
}

#[tokio::test]
async fn refuses_when_a_table_lacks_forced_rls() {
    let db = TestDb::migrated().await;
    let mut admin = db.admin().await;
    exec(
        &mut admin,
        "SET ROLE pplane_owner; ALTER TABLE runs NO FORCE ROW LEVEL SECURITY; RESET ROLE",
    )
    .await;
    let msg = refusal(Store::connect(db.url()).await);
    assert!(
        msg.contains("row-level security is not enabled and forced on runs"),
        "{msg}"
    );
}

#[tokio::test]
async fn refuses_when_the_runtime_role_owns_a_table() {
    let db = TestDb::migrated().await;
    let mut admin = db.admin().await;
    exec(
        &mut admin,
        "CREATE TABLE stray (tenant_id uuid); ALTER TABLE stray OWNER TO pplane_app",
    )
    .await;
    let msg = refusal(Store::connect(db.url()).await);
    assert!(msg.contains("pplane_app owns stray"), "{msg}");
}

#[tokio::test]
async fn refuses_an_outdated_or_unmigrated_schema() {
    let db = TestDb::migrated().await;
    let mut admin = db.admin().await;
    admin
        .migrate_down(&MigrationSet::embedded(), None, |_| {})
        .await
        .unwrap();
    let msg = refusal(Store::connect(db.url()).await);
    assert!(msg.contains("run `pplane migrate up`"), "{msg}");

    let empty = TestDb::empty().await;
    let msg = refusal(Store::connect(empty.url()).await);
    assert!(msg.contains("run `pplane migrate up`"), "{msg}");
}

/// SUPERUSER and BYPASSRLS on the runtime role are refused, and the store
/// starts once they are gone.
#[tokio::test]
async fn refuses_a_superuser_or_bypassrls_runtime_role() {
    let cluster = EphemeralCluster::start().unwrap();
    let mut root = Admin::connect(&cluster.url("postgres")).await.unwrap();
    root.database_ensure("plane").await.unwrap();
    let url = cluster.url("plane");
    Admin::connect(&url)
        .await
        .unwrap()
        .migrate_up(&MigrationSet::embedded(), None, |_| {})
        .await
        .unwrap();

    exec(&mut root, "ALTER ROLE pplane_app BYPASSRLS").await;
    let msg = refusal(Store::connect(&url).await);
    assert!(msg.contains("has BYPASSRLS"), "{msg}");

    exec(&mut root, "ALTER ROLE pplane_app NOBYPASSRLS SUPERUSER").await;
    let msg = refusal(Store::connect(&url).await);
    assert!(msg.contains("is a superuser"), "{msg}");

    exec(&mut root, "ALTER ROLE pplane_app NOSUPERUSER").await;
    let store = Store::connect(&url).await.expect("a safe role starts");
    assert!(
        store.login().superuser,
        "the login itself is a superuser: accepted, with a warning"
    );
    assert!(store.login().switches_role);
}

/// Logging in as pplane_app itself works for runtime work, without a role
/// switch, and cannot do tenant administration.
#[tokio::test]
async fn logging_in_as_pplane_app_itself() {
    let cluster = EphemeralCluster::start().unwrap();
    let mut root = Admin::connect(&cluster.url("postgres")).await.unwrap();
    root.database_ensure("plane").await.unwrap();
    let admin_url = cluster.url("plane");
    Admin::connect(&admin_url)
        .await
        .unwrap()
        .migrate_up(&MigrationSet::embedded(), None, |_| {})
        .await
        .unwrap();
    let admin_store = Store::connect(&admin_url).await.unwrap();
    let user = UserId::new();
    let tenant = admin_store.tenant_create("acme", user).await.unwrap();

    let app_url = admin_url.replacen("postgres@", "pplane_app@", 1);
    let store = Store::connect(&app_url)
        .await
        .expect("pplane_app may log in");
    assert_eq!(store.login().user, "pplane_app");
    assert!(!store.login().switches_role && !store.login().superuser);
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let found = pplane_store::repositories::tenants::tenant_fetch(tx.conn(), tenant)
        .await
        .unwrap();
    assert_eq!(found.map(|t| t.name), Some("acme".to_owned()));
    tx.commit().await.unwrap();

    let err = store.tenant_create("other", user).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::RoleUnavailable {
                role: "pplane_owner",
                ..
            }
        ),
        "{err}"
    );
}

/// An operator's own PostgreSQL: a non-superuser login with CREATEROLE that
/// owns its database can migrate, pass the gate and run the store.
#[tokio::test]
async fn a_non_superuser_operator_login_runs_everything() {
    let cluster = EphemeralCluster::start().unwrap();
    let mut root = Admin::connect(&cluster.url("postgres")).await.unwrap();
    exec(&mut root, "CREATE ROLE operator LOGIN CREATEROLE").await;
    exec(&mut root, "CREATE DATABASE opdb OWNER operator").await;
    let url = cluster.url("opdb").replacen("postgres@", "operator@", 1);

    let mut admin = Admin::connect(&url).await.unwrap();
    let (login, superuser) = admin.login().await.unwrap();
    assert_eq!((login.as_str(), superuser), ("operator", false));
    admin
        .migrate_up(&MigrationSet::embedded(), None, |_| {})
        .await
        .expect("operator migrates");
    let report = schema_check(&mut admin, &MigrationSet::embedded())
        .await
        .unwrap();
    let failures: Vec<_> = report.failures().map(|r| (&r.check, &r.evidence)).collect();
    assert!(report.passed(), "{failures:#?}");

    let store = Store::connect(&url).await.expect("operator runs the store");
    assert!(!store.login().superuser && store.login().switches_role);
    let user = UserId::new();
    let tenant = store.tenant_create("ops", user).await.unwrap();
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    assert!(
        pplane_store::repositories::tenants::tenant_fetch(tx.conn(), tenant)
            .await
            .unwrap()
            .is_some()
    );
}
