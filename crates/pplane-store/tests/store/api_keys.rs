//! API keys: a key is shown once and stored as a digest; it opens only its
//! own tenant as its own principal, until it is revoked or expires.

use chrono::{Duration, Utc};
use pplane_domain::api_key::ApiKeyText;
use pplane_domain::ApiScope;
use pplane_store::operations::api_keys::{
    api_key_create, api_key_list, api_key_revoke, api_key_verify,
};
use pplane_store::testing::TestDb;
use pplane_store::StoreError;

fn refused(e: StoreError) -> &'static str {
    match e {
        StoreError::ApiKeyRefused { reason } => reason,
        other => panic!("expected a refused key, got {other}"),
    }
}

#[tokio::test]
async fn a_key_opens_its_tenant_until_it_is_revoked() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let created = api_key_create(&mut tx, "ci", ApiScope::Runtime, None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let text: ApiKeyText = created.text.parse().unwrap();
    assert_eq!(
        (text.tenant, text.user, text.id),
        (tenant, user, created.key.id)
    );
    assert!(created.text.starts_with(&created.key.prefix[..4]));

    // Stored as a digest: the secret is nowhere in the table.
    let secret_hex: String = created.text.rsplit('_').next().unwrap().into();
    let stored = db
        .text("SELECT encode(secret_hash, 'hex') FROM api_keys")
        .await;
    assert_ne!(stored, secret_hex);
    assert_eq!(stored.len(), 64);

    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let key = api_key_verify(&mut tx, &text).await.unwrap();
    assert_eq!(key.scope, ApiScope::Runtime);
    let listed = api_key_list(&mut tx).await.unwrap();
    assert_eq!(listed.len(), 1);
    let shown = serde_json::to_string(&listed).unwrap();
    assert!(!shown.contains(&secret_hex) && !shown.contains("secret_hash"));

    // A wrong secret is the same as no key.
    let mut forged = text.clone();
    forged.secret[0] ^= 1;
    assert_eq!(
        refused(api_key_verify(&mut tx, &forged).await.unwrap_err()),
        "unknown"
    );

    api_key_revoke(&mut tx, key.id).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    assert_eq!(
        refused(api_key_verify(&mut tx, &text).await.unwrap_err()),
        "revoked"
    );
}

#[tokio::test]
async fn a_key_opens_nothing_in_another_tenant_or_after_its_expiry() {
    let db = TestDb::migrated().await;
    let store = db.store().await;
    let (tenant, user) = db.tenant(&store).await;
    let (other, other_user) = db.tenant(&store).await;
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    let soon = Utc::now() + Duration::milliseconds(300);
    let created = api_key_create(&mut tx, "short", ApiScope::Read, Some(soon))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let text: ApiKeyText = created.text.parse().unwrap();

    // Read in another tenant's context, the key does not exist there.
    let mut tx = store.tenant_tx(other, other_user).await.unwrap();
    let mut elsewhere = text.clone();
    (elsewhere.tenant, elsewhere.user) = (other, other_user);
    assert_eq!(
        refused(api_key_verify(&mut tx, &elsewhere).await.unwrap_err()),
        "unknown"
    );
    assert!(api_key_list(&mut tx).await.unwrap().is_empty());
    assert!(matches!(
        api_key_revoke(&mut tx, text.id).await.unwrap_err(),
        StoreError::NotFound { .. }
    ));
    drop(tx);

    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let mut tx = store.tenant_tx(tenant, user).await.unwrap();
    assert_eq!(
        refused(api_key_verify(&mut tx, &text).await.unwrap_err()),
        "expired"
    );
    let past = Utc::now() - Duration::seconds(1);
    assert!(matches!(
        api_key_create(&mut tx, "late", ApiScope::Read, Some(past))
            .await
            .unwrap_err(),
        StoreError::InvalidInput(_)
    ));
}
