//! docs/openapi.json is the document the code generates (`ingest::api::document`): a change to
//! a route that is not reflected in the committed copy fails here, with the command to refresh it.

use std::path::PathBuf;

#[test]
fn the_committed_openapi_document_is_the_generated_one() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let generated = serde_json::to_string_pretty(&ingest::api::document()).unwrap() + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is not the document the code generates; refresh it with\n\
         UPDATE_OPENAPI=1 cargo test -p ingest --test openapi\nand commit it"
    );
}
