//! The one shape of every answer of the HTTP API:
//! `{"code": "...", "message": "...", "data": ...}`, and for a refusal also `field` and `rule`
//! (the field named as the client sent it, and the rule it broke; `message` is `field: rule`).
//! `code` is a name from [`super::codes`], which also decides the HTTP status.

use super::codes::{self, ApiCode};
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use paygate::domain::ValidationError;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// Every answer's body.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, ToSchema)]
pub struct Body {
    /// What happened: one of the codes in docs/http-api.md (`ok`, `accepted`, `invalid_field`, …).
    pub code: String,
    /// In words; for a refusal `field: rule`.
    pub message: String,
    /// For a refusal: the field (a body field, a path parameter or a header) that broke a rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For a refusal: the rule it broke, and what was received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The resource (a payment, a refund, a day's lines); `null` for a refusal.
    #[schema(value_type = Object, nullable)]
    pub data: Value,
}

/// An answer: a code, a body and extra headers.
#[derive(Debug, Clone)]
pub struct Answer {
    pub code: ApiCode,
    pub body: Body,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Answer {
    /// A success with `data`.
    pub fn data(code: ApiCode, data: impl Serialize) -> Self {
        let data = serde_json::to_value(data).unwrap_or(Value::Null);
        let body = Body {
            code: code.name.into(),
            message: code.name.replace('_', " "),
            field: None,
            rule: None,
            data,
        };
        Answer { code, body, headers: Vec::new() }
    }

    /// A refusal: `error` names the field and the rule.
    pub fn refused(code: ApiCode, error: &ValidationError) -> Self {
        let body = Body {
            code: code.name.into(),
            message: error.to_string(),
            field: Some(error.field().to_owned()),
            rule: Some(error.rule().to_owned()),
            data: Value::Null,
        };
        Answer { code, body, headers: Vec::new() }
    }

    /// paygate's own failure: logged in full, answered without details.
    pub fn internal(what: &str, error: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %error, "{what}");
        let body = Body {
            code: codes::INTERNAL.name.into(),
            message: format!(
                "paygate could not {what}; nothing was committed, the request may be sent again"
            ),
            field: None,
            rule: None,
            data: Value::Null,
        };
        Answer { code: codes::INTERNAL, body, headers: Vec::new() }
    }

    /// The same answer with one more header.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut response = (self.code.status(), axum::Json(self.body)).into_response();
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

/// Converts a database error into the `internal_error` answer.
pub fn db_error(e: impl std::fmt::Display) -> Answer {
    Answer::internal("reach its database", &e)
}

/// The refusal of a path whose parameter `field` cannot be read (not percent-encoded UTF-8), in
/// the API's own shape rather than the framework's text.
pub fn unreadable_path(field: &'static str) -> Answer {
    let error = ValidationError::new(field, "must be percent-encoded UTF-8 in the path");
    Answer::refused(codes::INVALID_FIELD, &error)
}
