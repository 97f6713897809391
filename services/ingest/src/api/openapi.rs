//! The OpenAPI document of the HTTP API, generated from the routes themselves (utoipa's
//! `#[utoipa::path]` on each handler, collected by utoipa-axum's router as the routes are added,
//! so a route cannot be served without being described). Served at `/openapi.json`; committed as
//! docs/openapi.json, which a test keeps equal to this (`tests/openapi.rs`).

use super::response::Body;
use utoipa::Modify;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "paygate upstream API",
        description = "Create payments and refunds, close payments, capture or void authorised ones, decide refunds, and read payments, refunds and reconciled days, for the merchant of the API key. Every /v1 request is signed: docs/http-api.md.",
        version = "1",
    ),
    components(schemas(Body)),
    modifiers(&Signed),
    tags(
        (name = "payments", description = "Payments, by the merchant's order number"),
        (name = "refunds", description = "Refunds, by the merchant's refund number"),
        (name = "reconciliation", description = "A provider's reconciled day, the merchant's lines"),
    )
)]
pub struct ApiDoc;

/// The four headers of a signed request, as security schemes every operation requires together.
struct Signed;

impl Modify for Signed {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let schemes = [
            ("paygate_key", "Paygate-Key", "The API key's id (pgk_…)"),
            (
                "paygate_timestamp",
                "Paygate-Timestamp",
                "Unix seconds when the request was signed; within 300 s of the server's clock",
            ),
            (
                "paygate_nonce",
                "Paygate-Nonce",
                "16 to 64 characters of A-Z a-z 0-9 - _, never used before by the key",
            ),
            (
                "paygate_signature",
                "Paygate-Signature",
                "hex HMAC-SHA256 of METHOD\\npath\\ntimestamp\\nnonce\\nhex SHA-256 of the body, keyed with the SHA-256 of the key's secret",
            ),
        ];
        for (name, header, description) in schemes {
            components.add_security_scheme(
                name,
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(header, description))),
            );
        }
    }
}
