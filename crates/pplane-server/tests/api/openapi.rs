//! The OpenAPI document is generated from the code, served at
//! `/openapi.json`, and committed as `openapi.json` at the repository root:
//! the three are the same document. `UPDATE_OPENAPI=1 cargo test -p
//! pplane-server openapi` rewrites the committed file.

use std::path::PathBuf;

use pplane_domain::ApiScope;
use serde_json::Value;

use crate::support::Served;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi.json")
}

#[tokio::test]
async fn the_served_generated_and_committed_documents_are_one() {
    let generated = serde_json::to_value(pplane_server::openapi::document()).unwrap();
    let path = committed_path();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        let text = serde_json::to_string_pretty(&generated).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
    }
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .expect("openapi.json is JSON");
    assert!(
        committed == generated,
        "openapi.json differs from the code's document: run \
         UPDATE_OPENAPI=1 cargo test -p pplane-server openapi, and commit it"
    );
    assert_eq!(generated["openapi"], "3.1.0");

    let served = Served::start().await;
    let c = served.tenant(ApiScope::Read).await;
    let document = c.without_key().get("/openapi.json").await.expect(200);
    assert_eq!(document, generated);
    served.stop().await;
}
