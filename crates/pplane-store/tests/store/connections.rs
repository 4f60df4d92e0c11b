//! Pooled connections: a connection the server dropped while it sat idle is
//! replaced before any unit of work sees it.

use std::time::Duration;

use pplane_store::testing::TestDb;
use pplane_store::{Store, StoreOptions};

#[tokio::test]
async fn a_connection_dropped_while_idle_is_replaced_unseen() {
    let db = TestDb::migrated().await;
    let store = Store::connect_with(db.url(), StoreOptions { max_connections: 1 })
        .await
        .unwrap();
    let (tenant, user) = db.tenant(&store).await;
    store
        .tenant_tx(tenant, user)
        .await
        .unwrap()
        .commit()
        .await
        .unwrap();

    // The server goes away under the pool's only connection (a restart, an
    // idle timeout on the way), and the connection then sits idle.
    let dropped = db
        .scalar(&format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = '{}' AND application_name = 'pplane'",
            db.name()
        ))
        .await;
    assert_eq!(dropped, 1, "the store's one connection");
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    store
        .tenant_tx(tenant, user)
        .await
        .expect("a fresh connection, not the dead one")
        .commit()
        .await
        .unwrap();
}
