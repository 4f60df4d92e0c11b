//! Effect destinations: where a tenant's effects are delivered.

use pplane_domain::{DestinationId, TenantId};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::Result;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Destination {
    #[sqlx(try_from = "Uuid")]
    pub id: DestinationId,
    pub name: String,
    /// `WEBHOOK` or `NATS`.
    pub kind: String,
    /// The webhook's URL or the JetStream subject. Printed with a URL's
    /// password masked: the worker reads the field, people read the output.
    #[serde(serialize_with = "serialize_masked")]
    pub target: String,
    /// Webhooks only; never printed after creation.
    #[serde(skip)]
    pub signing_secret: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// `target` with the password of a URL (`https://user:pass@host/`) masked.
pub fn credentials_masked(target: &str) -> String {
    match url::Url::parse(target) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("****"));
            url.into()
        }
        _ => target.to_owned(),
    }
}

fn serialize_masked<S: serde::Serializer>(target: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&credentials_masked(target))
}

const COLUMNS: &str = "id, name, kind, target, signing_secret, created_at";

pub struct NewDestination<'a> {
    pub id: DestinationId,
    pub name: &'a str,
    pub kind: &'a str,
    pub target: &'a str,
    pub signing_secret: Option<&'a str>,
}

pub async fn destination_insert(
    conn: &mut PgConnection,
    tenant: TenantId,
    d: &NewDestination<'_>,
) -> Result<Destination> {
    Ok(sqlx::query_as(&format!(
        "INSERT INTO effect_destinations (tenant_id, id, name, kind, target, signing_secret)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    ))
    .bind(tenant.as_uuid())
    .bind(d.id.as_uuid())
    .bind(d.name)
    .bind(d.kind)
    .bind(d.target)
    .bind(d.signing_secret)
    .fetch_one(conn)
    .await?)
}

pub async fn destinations_of_tenant(
    conn: &mut PgConnection,
    tenant: TenantId,
) -> Result<Vec<Destination>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM effect_destinations WHERE tenant_id = $1 ORDER BY name"
    ))
    .bind(tenant.as_uuid())
    .fetch_all(conn)
    .await?)
}
