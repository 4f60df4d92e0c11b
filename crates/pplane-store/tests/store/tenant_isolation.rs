//! Row-level security: tenant A never sees or writes tenant B's rows, and the
//! event log cannot be rewritten by anyone.

use pplane_domain::{TenantId, UserId};
use pplane_store::checks::probe::RowIds;
use pplane_store::checks::rules::TABLES;
use pplane_store::repositories::tenants;
use pplane_store::testing::TestDb;
use pplane_store::StoreError;
use uuid::Uuid;

use crate::support::{as_app, run_as, scalar_as};

/// Two tenants, each with one member, and B's rows in every runtime table.
struct TwoTenants {
    db: TestDb,
    a: TenantId,
    user_a: UserId,
    b: TenantId,
    user_b: UserId,
    b_rows: RowIds,
}

async fn two_tenants() -> TwoTenants {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (a, user_a) = db.tenant(&store).await;
    let (b, user_b) = db.tenant(&store).await;
    let b_rows = db.seed_each_table(b, user_b).await;
    TwoTenants {
        db,
        a,
        user_a,
        b,
        user_b,
        b_rows,
    }
}

/// With tenant A's context, no table shows a row of tenant B, while B sees
/// its own: the filter is the policy, not an empty database.
#[tokio::test]
async fn no_table_shows_another_tenants_rows() {
    let TwoTenants {
        db,
        a,
        user_a,
        b,
        user_b,
        ..
    } = two_tenants().await;
    let mut admin = db.admin().await;

    for table in TABLES {
        let sql = format!("SELECT count(*) FROM {table} WHERE tenant_id = '{b}'");
        assert_eq!(
            scalar_as(&mut admin, "pplane_app", Some((b, user_b)), &sql).await,
            1,
            "B sees its {table} row"
        );
        assert_eq!(
            scalar_as(&mut admin, "pplane_app", Some((a, user_a)), &sql).await,
            0,
            "A sees B's {table}"
        );
        let all = format!("SELECT count(*) FROM {table}");
        let expected_for_a = if table == "tenants" || table == "user_tenants" {
            1
        } else {
            0
        };
        assert_eq!(
            scalar_as(&mut admin, "pplane_app", Some((a, user_a)), &all).await,
            expected_for_a,
            "{table} as A"
        );
    }
}

/// Inserting a row that carries tenant B's id while acting as tenant A fails
/// on every table; so do UPDATE and DELETE of B's rows (they are invisible).
#[tokio::test]
async fn writes_into_another_tenant_are_refused() {
    let TwoTenants {
        db,
        a,
        user_a,
        b,
        user_b,
        b_rows: ids,
    } = two_tenants().await;
    let mut admin = db.admin().await;

    let signal = format!(
        "INSERT INTO signals (tenant_id, id, source_channel, source_id, correlation_id, actor)
         VALUES ('{b}', '{}', 'chat', 'x', '{}', 'agent:intruder')",
        Uuid::now_v7(),
        Uuid::now_v7()
    );
    assert_eq!(
        as_app(&mut admin, a, user_a, &signal).await,
        Err("42501".into())
    );
    let tenant = format!("INSERT INTO tenants (tenant_id, name) VALUES ('{b}', 'x')");
    assert_eq!(
        as_app(&mut admin, a, user_a, &tenant).await,
        Err("42501".into())
    );
    let member =
        format!("INSERT INTO user_tenants (tenant_id, user_id) VALUES ('{b}', '{user_a}')");
    assert_eq!(
        as_app(&mut admin, a, user_a, &member).await,
        Err("42501".into()),
        "no self-enrolment"
    );

    for (table, id) in ids.by_table() {
        if table == "orchestration_events" {
            continue; // covered by the append-only test
        }
        let update = format!("UPDATE {table} SET updated_at = now() WHERE id = '{id}'");
        assert_eq!(
            as_app(&mut admin, a, user_a, &update).await,
            Ok(0),
            "{table}: B's row is invisible to A"
        );
        assert_eq!(
            as_app(&mut admin, b, user_b, &update).await,
            Ok(1),
            "{table}: B may update its own row"
        );
        let moved = format!("UPDATE {table} SET tenant_id = '{a}' WHERE id = '{id}'");
        assert_eq!(
            as_app(&mut admin, b, user_b, &moved).await,
            Err("42501".into()),
            "{table}: rows cannot change tenant"
        );
    }
    let delete = format!("DELETE FROM outbox_events WHERE id = '{}'", ids.outbox);
    assert_eq!(as_app(&mut admin, a, user_a, &delete).await, Ok(0));
}

/// A composite foreign key keeps a row from pointing at another tenant's
/// parent, even though constraint checks ignore row-level security.
#[tokio::test]
async fn references_cannot_cross_tenants() {
    let TwoTenants {
        db,
        a,
        user_a,
        b_rows: ids,
        ..
    } = two_tenants().await;
    let mut admin = db.admin().await;
    let b_signal = ids.signal;

    let run = format!(
        "INSERT INTO runs (tenant_id, id, signal_id, correlation_id, actor)
         VALUES ('{a}', '{}', '{b_signal}', '{}', 'agent:x')",
        Uuid::now_v7(),
        Uuid::now_v7()
    );
    assert_eq!(
        as_app(&mut admin, a, user_a, &run).await,
        Err("23503".into())
    );
}

/// No context, or a principal who is not a member of the active tenant,
/// sees nothing at all.
#[tokio::test]
async fn without_membership_or_context_nothing_is_visible() {
    let TwoTenants { db, user_a, b, .. } = two_tenants().await;
    let mut admin = db.admin().await;

    for table in TABLES {
        let sql = format!("SELECT count(*) FROM {table}");
        assert_eq!(
            scalar_as(&mut admin, "pplane_app", Some((b, user_a)), &sql).await,
            0,
            "non-member, {table}"
        );
        assert_eq!(
            scalar_as(&mut admin, "pplane_app", None, &sql).await,
            0,
            "no context, {table}"
        );
    }
    let insert = format!(
        "INSERT INTO signals (tenant_id, id, source_channel, source_id, correlation_id, actor)
         VALUES ('{b}', '{}', 'chat', 'y', '{}', 'agent:x')",
        Uuid::now_v7(),
        Uuid::now_v7()
    );
    assert_eq!(
        as_app(&mut admin, b, user_a, &insert).await,
        Err("42501".into()),
        "non-members cannot write"
    );
}

/// UPDATE, DELETE and TRUNCATE of the event log fail for pplane_app and for
/// its owner, pplane_owner; so does the trigger alone once privileges are back.
#[tokio::test]
async fn events_are_append_only_for_app_and_owner() {
    let TwoTenants { db, b, user_b, .. } = two_tenants().await;
    let mut admin = db.admin().await;

    for role in ["pplane_app", "pplane_owner"] {
        for sql in [
            "UPDATE orchestration_events SET event_type = 'REWRITTEN'",
            "DELETE FROM orchestration_events",
            "TRUNCATE orchestration_events",
        ] {
            let result = run_as(&mut admin, role, Some((b, user_b)), sql).await;
            assert!(result.is_err(), "{sql} as {role} must fail, got {result:?}");
        }
    }
    // Even if someone granted the privileges back, the triggers still refuse.
    crate::support::exec(
        &mut admin,
        "GRANT UPDATE, DELETE, TRUNCATE ON orchestration_events TO pplane_app",
    )
    .await;
    for sql in [
        "UPDATE orchestration_events SET event_type = 'REWRITTEN'",
        "DELETE FROM orchestration_events",
        "TRUNCATE orchestration_events",
    ] {
        assert_eq!(
            as_app(&mut admin, b, user_b, sql).await,
            Err("PA001".into()),
            "{sql}"
        );
    }
    let n = scalar_as(
        &mut admin,
        "pplane_app",
        Some((b, user_b)),
        "SELECT count(*) FROM orchestration_events",
    )
    .await;
    assert_eq!(n, 1, "the event is still there");
}

/// The store maps database refusals to typed errors.
#[tokio::test]
async fn refusals_become_typed_errors() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (a, _) = db.tenant(&store).await;

    let mut tx = store.owner_tx(a).await.unwrap();
    let err = tenants::tenant_create(tx.conn(), a, "again")
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { ref constraint } if constraint.name() == "tenants_pkey"),
        "{err}"
    );
    drop(tx);

    let err = store.tenant_create("   ", UserId::new()).await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput(_)), "{err}");

    let (b, _) = db.tenant(&store).await;
    let mut tx = store.owner_tx(a).await.unwrap();
    let err = tenants::tenant_create(tx.conn(), b, "other")
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::TenantIsolation(_)),
        "the owner too is fenced to the active tenant: {err}"
    );
}

/// The unit of work sets the context: a member reads its tenant through the
/// repository; a stranger reads nothing.
#[tokio::test]
async fn the_unit_of_work_carries_the_tenant_context() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (a, user_a) = db.tenant(&store).await;

    let mut tx = store.tenant_tx(a, user_a).await.unwrap();
    let tenant = tenants::tenant_fetch(tx.conn(), a)
        .await
        .unwrap()
        .expect("member sees its tenant");
    assert_eq!(tenant.tenant_id, a);
    tx.commit().await.unwrap();

    // A principal that is not a member is refused when the unit of work
    // begins, by name, rather than shown an empty tenant.
    let stranger = UserId::new();
    let refused = store.tenant_tx(a, stranger).await.unwrap_err();
    assert!(matches!(refused, StoreError::NotMember(_)), "{refused}");
    assert_eq!(
        refused.to_string(),
        format!("principal {stranger} is not a member of this tenant ({a})")
    );
}

/// On a pool of one connection, a tenant context never outlives its
/// transaction, whether it was committed or dropped.
#[tokio::test]
async fn context_never_outlives_its_transaction() {
    let db = TestDb::migrated().await;
    let setup = db.store().await;
    let (a, user_a) = db.tenant(&setup).await;
    let (b, user_b) = db.tenant(&setup).await;
    db.seed_each_table(b, user_b).await;
    let options = pplane_store::StoreOptions { max_connections: 1 };
    let store = pplane_store::Store::connect_with(db.url(), options)
        .await
        .unwrap();
    let count = "SELECT count(*) FROM signals";

    let mut tx = store.tenant_tx(b, user_b).await.unwrap();
    let n: i64 = sqlx::query_scalar(count)
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(n, 1);
    drop(tx); // rolled back, connection returned to the pool

    let mut tx = store.tenant_tx(a, user_a).await.unwrap();
    let n: i64 = sqlx::query_scalar(count)
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(n, 0, "B's context did not survive on the shared connection");
    tx.commit().await.unwrap();

    let refused = store.tenant_tx(b, user_a).await.unwrap_err();
    assert!(matches!(refused, StoreError::NotMember(_)), "{refused}");
    let mut tx = store.tenant_tx(a, user_a).await.unwrap();
    let n: i64 = sqlx::query_scalar(count)
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(
        n, 0,
        "the refused context did not survive on the shared connection"
    );
    let role: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    assert_eq!(role, "pplane_app");
}
