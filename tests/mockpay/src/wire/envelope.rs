//! The answer envelope every API and admin endpoint uses:
//! `{"returnCode":"0000","returnMessage":"...","info":{...}}`.

use crate::codes::ReturnCode;
use axum::Json;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// The answer envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<T> {
    /// See [`ReturnCode`].
    pub return_code: String,
    /// Human-readable; for `1110` it names the field.
    pub return_message: String,
    /// The answer's data, when there is some.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<T>,
}

impl<T> Envelope<T> {
    /// Whether `returnCode` is `0000`.
    pub fn is_success(&self) -> bool {
        self.return_code == ReturnCode::Success.code()
    }

    /// The parsed return code, if it is one mockpay knows.
    pub fn code(&self) -> Option<ReturnCode> {
        ReturnCode::from_code(&self.return_code)
    }
}

/// Builds the HTTP response for a return code: the code's HTTP status and the envelope.
pub(crate) fn respond<T: Serialize>(code: ReturnCode, message: Option<String>, info: Option<T>) -> Response {
    let return_message = match message {
        Some(m) if code == ReturnCode::InvalidRequest => format!("{}: {m}", code.message()),
        Some(m) => m,
        None => code.message().to_owned(),
    };
    let body = Envelope { return_code: code.code().to_owned(), return_message, info };
    (code.http_status(), Json(body)).into_response()
}
