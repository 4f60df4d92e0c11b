//! A Citus cluster for tests: one coordinator and two workers per test
//! process (started from the system's binaries with the extension that
//! `scripts/citus-install` builds), and a fresh database per test on all
//! three, joined into one cluster.
//!
//! Citus keeps its extension and its node list per database, so each test's
//! database is made on every node, gets the extension there, and the
//! coordinator is told about the workers. No template: Citus metadata does
//! not survive a copy.

use std::sync::OnceLock;

use pplane_cluster::CitusCluster;
use pplane_domain::{TenantId, UserId};

use super::{exec_at, text_at, Scratch};
use crate::citus::citus_database_ensure;
use crate::{Admin, MigrationSet, Store, StoreOptions};

/// Workers of the test cluster: enough for shards to live apart and move.
pub const WORKERS: usize = 2;

/// Shards of each distributed table in a test database.
pub const SHARDS: usize = 4;

fn cluster() -> &'static CitusCluster {
    static CLUSTER: OnceLock<CitusCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        CitusCluster::start(WORKERS)
            .unwrap_or_else(|e| panic!("start a Citus cluster for tests: {e}"))
    })
}

/// A database that exists for one test on every node of the cluster.
#[derive(Debug)]
pub struct CitusDb {
    name: String,
    url: String,
    /// Each node's maintenance URL (the `postgres` database), coordinator first.
    nodes: Vec<String>,
    /// Each worker's port.
    pub worker_ports: Vec<u16>,
}

impl CitusDb {
    /// A fresh database with Citus on every node and the workers joined;
    /// nothing of the plane in it yet.
    pub async fn empty() -> CitusDb {
        let cluster = cluster();
        // One database joins the cluster at a time: two concurrent
        // citus_add_node calls of different databases were seen to fail
        // on each other's worker connections.
        static JOINING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _joining = JOINING.lock().await;
        let name = format!("pplane_citus_{}", uuid::Uuid::now_v7().simple());
        let all = std::iter::once(&cluster.coordinator).chain(&cluster.workers);
        let nodes: Vec<String> = all.map(|n| n.url("postgres")).collect();
        let workers: Vec<(String, u16)> = cluster
            .workers
            .iter()
            .map(|w| ("127.0.0.1".to_owned(), w.port()))
            .collect();
        // Tried three times: once in a CI run, with the suite's specs
        // making their databases at once beside a spec's 32 connections,
        // joining a worker failed ("failure on connection marked as
        // essential"); making the database is the fixture, not the subject,
        // and every step of it is idempotent.
        let mut tries = 0;
        while let Err(e) = citus_database_ensure(&nodes[0], &workers, &name).await {
            tries += 1;
            assert!(tries < 3, "make {name} on the Citus cluster: {e}");
            eprintln!("making {name} on the Citus cluster failed ({e}); trying again");
            tokio::time::sleep(std::time::Duration::from_millis(500 * tries)).await;
        }
        // Four shards a table instead of Citus's 32: the same routing and
        // moves, an eighth of the tables to create per test.
        exec_at(
            &nodes[0],
            &format!("ALTER DATABASE {name} SET citus.shard_count = {SHARDS}"),
        )
        .await;
        let url = cluster.coordinator.url(&name);
        CitusDb {
            name,
            url,
            nodes,
            worker_ports: cluster.workers.iter().map(|w| w.port()).collect(),
        }
    }

    /// A fresh database with every migration applied: the tenant tables
    /// distributed (migration 14).
    pub async fn migrated() -> CitusDb {
        let db = CitusDb::empty().await;
        let mut admin = db.admin().await;
        admin
            .migrate_up(&MigrationSet::embedded(), None, |_| {})
            .await
            .expect("migrate the Citus database");
        admin.close().await.ok();
        db
    }

    /// The runtime store on the coordinator, with `connections` in its pool.
    pub async fn store(&self, connections: u32) -> Store {
        Store::connect_with(
            &self.url,
            StoreOptions {
                max_connections: connections,
            },
        )
        .await
        .expect("connect the store to the coordinator")
    }

    /// A connection to the coordinator as the login role.
    pub async fn admin(&self) -> Admin {
        Admin::connect(&self.url).await.expect("connect as admin")
    }

    /// A tenant with one member, as `pplane tenant create` makes it.
    pub async fn tenant(&self, store: &Store) -> (TenantId, UserId) {
        let user = UserId::new();
        let tenant = store
            .tenant_create("citus tenant", user)
            .await
            .expect("create a tenant on Citus");
        (tenant, user)
    }

    /// The coordinator's URL of this database, as the superuser.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs SQL on the coordinator as the superuser.
    pub async fn exec(&self, sql: &str) {
        exec_at(&self.url, sql).await;
    }

    /// A text read on the coordinator as the superuser.
    pub async fn text(&self, sql: &str) -> String {
        text_at(&self.url, sql).await
    }
}

impl Scratch for CitusDb {
    fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for CitusDb {
    fn drop(&mut self) {
        super::drop_databases(self.nodes.clone(), &self.name);
    }
}
