//! What the operator tools need of a Citus cluster: its workers, and a new
//! database made on every node and joined into one cluster (a benchmark's
//! scratch database, a test's). Citus keeps its extension and its node list
//! per database, so a database of the plane on Citus exists on each node.

use sqlx::{Connection, PgConnection};

use crate::admin::{database_name_check, url_with_database};
use crate::{Admin, Profile, Result, StoreError};

/// The primary workers of the Citus database `conn` is on, as (host, port);
/// None when the database has no Citus extension.
pub async fn citus_workers(conn: &mut PgConnection) -> Result<Option<Vec<(String, u16)>>> {
    if Profile::detect(&mut *conn).await? != Profile::Citus {
        return Ok(None);
    }
    let nodes: Vec<(String, i32)> = sqlx::query_as(
        "SELECT nodename::text, nodeport FROM pg_dist_node
         WHERE groupid <> 0 AND noderole = 'primary' AND isactive ORDER BY nodeid",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some(
        nodes
            .into_iter()
            .map(|(host, port)| (host, port as u16))
            .collect(),
    ))
}

/// `url` (a server's URL, with its credentials) pointed at another node.
pub fn url_with_node(url: &str, host: &str, port: u16) -> Result<String> {
    let bad = |e: String| StoreError::Database(sqlx::Error::Configuration(e.into()));
    let mut parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
    parsed
        .set_host(Some(host))
        .map_err(|e| bad(e.to_string()))?;
    parsed
        .set_port(Some(port))
        .map_err(|()| bad(format!("cannot set port {port} on the URL")))?;
    Ok(parsed.into())
}

/// Makes database `name` on the coordinator of `coordinator_url` and on each
/// of `workers`, with the extension on each, and joins the workers to it;
/// a database already joined to all of them is left as it is. The same
/// credentials serve every node.
pub async fn citus_database_ensure(
    coordinator_url: &str,
    workers: &[(String, u16)],
    name: &str,
) -> Result<()> {
    database_name_check(name)?;
    if citus_database_joined(coordinator_url, workers, name).await? {
        return Ok(());
    }
    let parsed = url::Url::parse(coordinator_url)
        .map_err(|e| StoreError::Database(sqlx::Error::Configuration(e.into())))?;
    let coordinator_host = parsed.host_str().unwrap_or("127.0.0.1").to_owned();
    let coordinator_port = parsed.port().unwrap_or(5432);
    let mut servers = vec![coordinator_url.to_owned()];
    for (host, port) in workers {
        servers.push(url_with_node(coordinator_url, host, *port)?);
    }
    for server in &servers {
        let mut admin = Admin::connect(server).await?;
        admin.database_ensure(name).await?;
        admin.close().await?;
        let mut db = PgConnection::connect(&url_with_database(server, name)?).await?;
        sqlx::raw_sql("CREATE EXTENSION IF NOT EXISTS citus")
            .execute(&mut db)
            .await?;
        db.close().await?;
    }
    let mut db = PgConnection::connect(&url_with_database(coordinator_url, name)?).await?;
    sqlx::query("SELECT citus_set_coordinator_host($1, $2)")
        .bind(&coordinator_host)
        .bind(i32::from(coordinator_port))
        .execute(&mut db)
        .await?;
    for (host, port) in workers {
        sqlx::query("SELECT citus_add_node($1, $2)")
            .bind(host)
            .bind(i32::from(*port))
            .execute(&mut db)
            .await?;
    }
    db.close().await?;
    Ok(())
}

/// Whether database `name` exists on the coordinator with every one of
/// `workers` in its node list.
async fn citus_database_joined(
    coordinator_url: &str,
    workers: &[(String, u16)],
    name: &str,
) -> Result<bool> {
    let mut admin = Admin::connect(coordinator_url).await?;
    let exists = admin.database_exists(name).await?;
    admin.close().await?;
    if !exists {
        return Ok(false);
    }
    let mut db = PgConnection::connect(&url_with_database(coordinator_url, name)?).await?;
    let joined = match citus_workers(&mut db).await? {
        Some(nodes) => workers.iter().all(|w| nodes.contains(w)),
        None => false,
    };
    db.close().await?;
    Ok(joined)
}

/// The plane's roles on every node of the Citus database `db_url` (made
/// as `migrate up` makes them), each with `password`: the password the
/// nodes' password file gives when Citus connects from node to node as the
/// role a transaction has switched to. Citus carries the roles and the
/// password to the workers.
///
/// Every command on the embedded cluster calls this, so once the three
/// roles can log in with a password it reads one catalog row and returns,
/// rather than sending role DDL through Citus to every worker again.
pub async fn citus_logins_ensure(db_url: &str, password: &str) -> Result<()> {
    const ROLES: [&str; 3] = ["pplane_owner", "pplane_app", "pplane_dispatcher"];
    let mut db = PgConnection::connect(db_url).await?;
    let ready: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_authid
         WHERE rolname = ANY($1) AND rolcanlogin AND rolpassword IS NOT NULL",
    )
    .bind(&ROLES[..])
    .fetch_one(&mut db)
    .await?;
    if ready == ROLES.len() as i64 {
        db.close().await?;
        return Ok(());
    }
    sqlx::raw_sql(crate::migrations::CITUS_ROLES)
        .execute(&mut db)
        .await?;
    for role in ROLES {
        // A utility statement takes no parameters: the server quotes them
        // into its text.
        let statement: String =
            sqlx::query_scalar("SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text)")
                .bind(role)
                .bind(password)
                .fetch_one(&mut db)
                .await?;
        sqlx::raw_sql(&statement).execute(&mut db).await?;
    }
    db.close().await?;
    Ok(())
}

/// Drops database `name` on every worker of the cluster (the coordinator's
/// copy is its caller's to drop).
pub async fn citus_database_drop(
    coordinator_url: &str,
    workers: &[(String, u16)],
    name: &str,
) -> Result<()> {
    for (host, port) in workers {
        let mut admin = Admin::connect(&url_with_node(coordinator_url, host, *port)?).await?;
        admin.database_drop(name).await?;
        admin.close().await?;
    }
    Ok(())
}
