//! Registering where a tenant's effects go. A webhook destination gets a
//! signing secret in the Standard Webhooks form (`whsec_` + base64 of 32
//! random bytes), returned once, at creation.

use base64::Engine;
use pplane_domain::text::preview;
use pplane_domain::DestinationId;
use rand::RngCore;

use super::check_text;
use crate::repositories::destinations::{
    credentials_masked, destination_insert, destinations_of_tenant, NewDestination,
};

pub use crate::repositories::destinations::Destination;
use crate::{Result, StoreError, TenantTx};

#[derive(Debug, Clone)]
pub enum Target {
    /// An http(s) URL that receives a signed POST per effect.
    Webhook(String),
    /// A JetStream subject; a stream must capture it.
    Nats(String),
}

#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Created {
    pub destination: Destination,
    /// The webhook signing secret; shown only here.
    pub signing_secret: Option<String>,
}

pub async fn destination_create(tx: &mut TenantTx, name: &str, target: &Target) -> Result<Created> {
    check_text("destination name", name, 100)?;
    let (kind, target, secret) = match target {
        Target::Webhook(url) => {
            let shown = preview(&credentials_masked(url));
            let parsed = url::Url::parse(url)
                .map_err(|e| StoreError::InvalidInput(format!("webhook URL {shown}: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(StoreError::InvalidInput(format!(
                    "webhook URL {shown} must be http or https"
                )));
            }
            (
                "WEBHOOK",
                parsed.to_string(),
                Some(webhook_secret_generate()),
            )
        }
        Target::Nats(subject) => {
            let valid = !subject.is_empty()
                && !subject.contains(char::is_whitespace)
                && subject.split('.').all(|token| !token.is_empty());
            if !valid {
                return Err(StoreError::InvalidInput(format!(
                    "NATS subject {} must be dot-separated tokens without spaces",
                    preview(subject)
                )));
            }
            ("NATS", subject.clone(), None)
        }
    };
    let tenant = tx.tenant();
    let destination = destination_insert(
        tx.conn(),
        tenant,
        &NewDestination {
            id: DestinationId::new(),
            name,
            kind,
            target: &target,
            signing_secret: secret.as_deref(),
        },
    )
    .await?;
    Ok(Created {
        destination,
        signing_secret: secret,
    })
}

fn webhook_secret_generate() -> String {
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

/// The tenant's destinations by name; webhook URLs print with their
/// password masked, signing secrets never.
pub async fn destination_list(tx: &mut TenantTx) -> Result<Vec<Destination>> {
    let tenant = tx.tenant();
    destinations_of_tenant(tx.conn(), tenant).await
}
