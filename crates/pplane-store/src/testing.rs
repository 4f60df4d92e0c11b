//! Test harness: a real PostgreSQL and a fresh database for every test.
//!
//! The server is `DATABASE_URL` when it is set, otherwise one ephemeral
//! cluster per test process, started by the same launcher as the embedded
//! default and gone when the process ends. Each test gets its own database
//! cloned from a migrated template (`CREATE DATABASE ... TEMPLATE`, about as
//! fast as an empty one), so tests run in parallel without seeing each other,
//! and the database is dropped when the test's [`TestDb`] goes out of scope.
//! The template's name carries a hash of the migrations, so a changed
//! migration gets a new template instead of a stale one.
//!
//! [`citus`]: the same for a three-node Citus cluster.

pub mod citus;
pub mod log;

use std::sync::OnceLock;

use pplane_cluster::EphemeralCluster;
use pplane_domain::{TenantId, UserId};
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection};

use crate::admin::url_with_database;
use crate::checks::probe::{fresh_row_ids, rows_of, RowIds};
use crate::migrations::MigrationSet;
use crate::operations::ingest::{signal_ingest, Ingested, SignalInput};
use crate::operations::Changed;
use crate::{Admin, Store};

/// Serialises template creation across every process sharing a server.
const TEMPLATE_LOCK: i64 = 0x70_70_74_6d_70_6c;

enum Server {
    External(String),
    Ephemeral(EphemeralCluster),
}

impl Server {
    fn get() -> &'static Server {
        static SERVER: OnceLock<Server> = OnceLock::new();
        SERVER.get_or_init(|| match std::env::var("DATABASE_URL") {
            Ok(url) if !url.is_empty() => Server::External(url),
            _ => Server::Ephemeral(
                EphemeralCluster::start().expect("start an ephemeral PostgreSQL for tests"),
            ),
        })
    }

    /// A URL of database `db` on this server, as a role that may create databases.
    fn url(&self, db: &str) -> String {
        match self {
            Server::External(url) => url_with_database(url, db).expect("DATABASE_URL is a URL"),
            Server::Ephemeral(cluster) => cluster.url(db),
        }
    }

    /// The database administrative statements run in.
    fn maintenance_url(&self) -> String {
        match self {
            Server::External(url) => url.clone(),
            Server::Ephemeral(cluster) => cluster.url("postgres"),
        }
    }
}

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDb {
    name: String,
    url: String,
}

impl TestDb {
    /// A fresh database with every migration applied.
    pub async fn migrated() -> TestDb {
        let template = template().await;
        TestDb::create(Some(&template)).await
    }

    /// A fresh, empty database: for migration tests.
    pub async fn empty() -> TestDb {
        TestDb::create(None).await
    }

    async fn create(template: Option<&str>) -> TestDb {
        let server = Server::get();
        let name = format!("pplane_test_{}", uuid::Uuid::now_v7().simple());
        let sql = match template {
            Some(t) => format!("CREATE DATABASE {name} TEMPLATE {t}"),
            None => format!("CREATE DATABASE {name}"),
        };
        let mut conn = PgConnection::connect(&server.maintenance_url())
            .await
            .expect("connect to the test server");
        sqlx::raw_sql(&sql)
            .execute(&mut conn)
            .await
            .expect("create a test database");
        conn.close().await.ok();
        TestDb {
            url: server.url(&name),
            name,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The runtime store on this database.
    pub async fn store(&self) -> Store {
        Store::connect(&self.url).await.expect("connect the store")
    }

    /// A connection as the login role, for setting up or breaking things.
    pub async fn admin(&self) -> Admin {
        Admin::connect(&self.url).await.expect("connect as admin")
    }

    /// Runs SQL as the login role: for tests of crates that may not speak SQL
    /// themselves but must set up or break a database.
    pub async fn exec(&self, sql: &str) {
        exec_at(&self.url, sql).await;
    }

    /// A number read as the login role (which bypasses row-level security
    /// when it is a superuser): for tests that inspect a whole database.
    pub async fn scalar(&self, sql: &str) -> i64 {
        scalar_at(&self.url, sql).await
    }

    /// Runs SQL as pplane_app in `tenant` for `user`, expecting it to fail;
    /// returns the error.
    pub async fn exec_as_app_fails(&self, tenant: TenantId, user: UserId, sql: &str) -> String {
        let mut conn = PgConnection::connect(&self.url).await.expect("connect");
        let full = format!(
            "BEGIN; SET LOCAL ROLE pplane_app; SET LOCAL app.tenant_id = '{tenant}';
             SET LOCAL app.user_id = '{user}'; {sql}; COMMIT;"
        );
        let err = sqlx::raw_sql(&full)
            .execute(&mut conn)
            .await
            .err()
            .unwrap_or_else(|| panic!("{sql} succeeded"));
        conn.close().await.ok();
        err.to_string()
    }

    /// A text value read as the login role.
    pub async fn text(&self, sql: &str) -> String {
        text_at(&self.url, sql).await
    }

    /// Commits one row in each runtime table of `tenant`, written as
    /// pplane_app by a member; returns their ids.
    pub async fn seed_each_table(&self, tenant: TenantId, user: UserId) -> RowIds {
        let ids = fresh_row_ids();
        self.exec(&format!(
            "BEGIN; SET LOCAL ROLE pplane_app; SET LOCAL app.tenant_id = '{tenant}'; SET LOCAL app.user_id = '{user}';
             {} COMMIT;",
            rows_of(tenant.as_uuid(), &ids)
        ))
        .await;
        ids
    }

    /// A tenant with one member, made through the owner role as `pplane
    /// tenant create` does.
    pub async fn tenant(&self, store: &Store) -> (TenantId, UserId) {
        let user = UserId::new();
        let tenant = store
            .tenant_create("test tenant", user)
            .await
            .expect("create a tenant");
        (tenant, user)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let url = Server::get().maintenance_url();
        drop_databases(vec![url], &self.name);
    }
}

/// A test database on one server or on a Citus cluster: what specs that
/// run on both need of it.
pub trait Scratch: Send + Sync {
    /// The URL of the database (on the coordinator), as the login role.
    fn url(&self) -> &str;

    /// A number read as the login role.
    fn scalar(&self, sql: &str) -> impl std::future::Future<Output = i64> + Send {
        scalar_at(self.url(), sql)
    }

    /// A connection as the login role.
    fn admin(&self) -> impl std::future::Future<Output = Admin> + Send {
        async { Admin::connect(self.url()).await.expect("connect as admin") }
    }
}

impl Scratch for TestDb {
    fn url(&self) -> &str {
        &self.url
    }
}

pub(crate) async fn scalar_at(url: &str, sql: &str) -> i64 {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    let n = sqlx::query_scalar(sql)
        .fetch_one(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.close().await.ok();
    n
}

/// Runs SQL on database `url` as its login: test set-up only.
pub(crate) async fn exec_at(url: &str, sql: &str) {
    let mut conn = PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    sqlx::raw_sql(sql)
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.close().await.ok();
}

/// One text (NULL as empty) read on database `url` as its login.
pub(crate) async fn text_at(url: &str, sql: &str) -> String {
    let mut conn = PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    let value: Option<String> = sqlx::query_scalar(sql)
        .fetch_one(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.close().await.ok();
    value.unwrap_or_default()
}

/// `DROP DATABASE name` on each server of `urls` (their maintenance
/// databases), best effort. Drop runs outside any async context it could
/// borrow; a short-lived runtime on its own thread does the statements.
pub(crate) fn drop_databases(urls: Vec<String>, name: &str) {
    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        rt.block_on(async {
            for url in urls {
                let mut conn = PgConnection::connect(&url).await.ok()?;
                sqlx::raw_sql(&sql).execute(&mut conn).await.ok()?;
                conn.close().await.ok()?;
            }
            Some(())
        })
    })
    .join();
}

/// The migrated template database, built once per server and migration set.
async fn template() -> String {
    static NAME: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    NAME.get_or_init(|| async {
        let set = MigrationSet::embedded();
        let mut hash = Sha256::new();
        for m in &set.migrations {
            hash.update(m.version.to_le_bytes());
            hash.update(&m.checksum);
            hash.update(m.down.as_deref().unwrap_or_default());
        }
        let digest: String = hash
            .finalize()
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect();
        let name = format!("pplane_template_{digest}");

        let server = Server::get();
        let mut conn = PgConnection::connect(&server.maintenance_url())
            .await
            .expect("connect to the test server");
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(TEMPLATE_LOCK)
            .execute(&mut conn)
            .await
            .expect("lock");
        let ready: Option<bool> =
            sqlx::query_scalar("SELECT datistemplate FROM pg_database WHERE datname = $1")
                .bind(&name)
                .fetch_optional(&mut conn)
                .await
                .expect("look up the template");
        if ready != Some(true) {
            // A half-built template from a crashed run is rebuilt from scratch.
            sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await
                .expect("drop");
            sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .expect("create template");
            let mut admin = Admin::connect(&server.url(&name))
                .await
                .expect("connect to the template");
            admin
                .migrate_up(&set, None, |_| {})
                .await
                .expect("migrate the template");
            admin.close().await.ok();
            sqlx::raw_sql(&format!("ALTER DATABASE {name} IS_TEMPLATE true"))
                .execute(&mut conn)
                .await
                .expect("mark");
        }
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(TEMPLATE_LOCK)
            .execute(&mut conn)
            .await
            .expect("unlock");
        conn.close().await.ok();
        name
    })
    .await
    .clone()
}

/// Ingests `input` in a transaction of its own, committed: for specs whose
/// subject is not the transaction around the signal.
pub async fn signal_ingest_alone(
    store: &Store,
    tenant: TenantId,
    user: UserId,
    input: &SignalInput,
) -> crate::Result<Changed<Ingested>> {
    let mut tx = store.tenant_tx(tenant, user).await?;
    let ingested = signal_ingest(&mut tx, input).await?;
    tx.commit().await?;
    Ok(ingested)
}

/// A run started in `tenant`, as an orchestrator starts one: a signal on
/// channel `chat` from `source_id` ingested, then its run started, each
/// committed. For specs whose subject comes after the run exists.
pub async fn run_started(
    store: &Store,
    tenant: TenantId,
    user: UserId,
    source_id: &str,
) -> pplane_domain::RunId {
    let input = SignalInput {
        channel: "chat".into(),
        source_id: source_id.into(),
        payload: serde_json::json!({}),
        domain_refs: serde_json::json!({}),
        actor: "user:alice".parse().expect("an actor"),
    };
    let got = signal_ingest_alone(store, tenant, user, &input)
        .await
        .expect("ingest a signal");
    let mut tx = store.tenant_tx(tenant, user).await.expect("a transaction");
    let origin = crate::operations::Origin::by("agent:planner".parse().expect("an actor"));
    crate::operations::runs::run_start(&mut tx, got.run_id, &origin)
        .await
        .expect("start the run");
    tx.commit().await.expect("commit the start");
    got.run_id
}
