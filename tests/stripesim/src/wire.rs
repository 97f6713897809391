//! What requests and answers look like on the wire: the Bearer key, form bodies in bracket
//! notation, JSON answers and Stripe's error object `{"error": {type, code, decline_code,
//! message, param}}`.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An answer before it is sent.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    /// A replay of a stored idempotent answer.
    pub replayed: bool,
}

impl Answer {
    pub fn ok(body: Value) -> Self {
        Answer { status: 200, body, replayed: false }
    }

    /// An error answer.
    pub fn error(status: u16, kind: &str, code: Option<&str>, message: &str, param: Option<&str>) -> Self {
        let mut error = json!({ "type": kind, "message": message });
        if let Some(c) = code {
            error["code"] = json!(c);
            error["doc_url"] = json!(format!("https://stripe.com/docs/error-codes/{}", c.replace('_', "-")));
        }
        if let Some(p) = param {
            error["param"] = json!(p);
        }
        Answer { status, body: json!({ "error": error }), replayed: false }
    }

    pub fn invalid(code: Option<&str>, message: &str, param: Option<&str>) -> Self {
        Answer::error(400, "invalid_request_error", code, message, param)
    }

    pub fn missing(kind: &str, id: &str, param: &str) -> Self {
        Answer::error(
            404,
            "invalid_request_error",
            Some("resource_missing"),
            &format!("No such {kind}: '{id}'"),
            Some(param),
        )
    }

    /// The label in statistics: `ok` or the error's code or type.
    pub fn outcome(&self) -> String {
        if self.status < 300 {
            return "ok".into();
        }
        let e = &self.body["error"];
        e["decline_code"].as_str().or(e["code"].as_str()).or(e["type"].as_str()).unwrap_or("error").to_owned()
    }
}

pub fn respond(answer: Answer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response =
        (status, [("Content-Type", "application/json")], answer.body.to_string()).into_response();
    let request_id = format!("req_{}", &uuid::Uuid::new_v4().simple().to_string()[..14]);
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("Request-Id", v);
    }
    if answer.replayed {
        response.headers_mut().insert("Idempotent-Replayed", HeaderValue::from_static("true"));
    }
    response
}

/// The key of `Authorization: Bearer <key>`, if any.
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get("authorization")?.to_str().ok()?;
    v.strip_prefix("Bearer ").map(|k| k.trim().to_owned())
}

/// Stripe's answer to a missing or wrong key (401).
pub fn bad_key(key: Option<&str>) -> Answer {
    let message = match key {
        None => "You did not provide an API key. Provide it in the Authorization header as a Bearer token."
            .to_owned(),
        Some(k) => {
            let tail: String = k.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
            format!("Invalid API Key provided: sk_test_****{tail}")
        }
    };
    Answer::error(401, "invalid_request_error", None, &message, None)
}

/// Stripe's answer to a publishable key on an endpoint that needs the secret key (403).
pub fn publishable_key_refused() -> Answer {
    Answer::error(
        403,
        "invalid_request_error",
        None,
        "This API call cannot be made with a publishable API key. Please use a secret API key. You can find a list of your API keys at https://dashboard.stripe.com/account/apikeys.",
        None,
    )
}

/// A form body or a query string as its pairs, in order.
pub fn pairs(text: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(text.as_bytes()).into_owned().collect()
}

/// The value of `key`.
pub fn get<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// `metadata[k]=v` pairs as a map.
pub fn metadata(params: &[(String, String)]) -> Result<std::collections::BTreeMap<String, String>, Answer> {
    let mut map = std::collections::BTreeMap::new();
    for (k, v) in params {
        if let Some(key) = k.strip_prefix("metadata[").and_then(|r| r.strip_suffix(']')) {
            if key.is_empty() || key.chars().count() > 40 || key.contains(['[', ']']) {
                return Err(Answer::invalid(
                    None,
                    "Invalid metadata: keys must be 1 to 40 characters without square brackets",
                    Some(k),
                ));
            }
            if v.chars().count() > 500 {
                return Err(Answer::invalid(
                    None,
                    "Invalid metadata: values must be at most 500 characters",
                    Some(k),
                ));
            }
            map.insert(key.to_owned(), v.clone());
        }
    }
    if map.len() > 50 {
        return Err(Answer::invalid(None, "Invalid metadata: at most 50 keys", Some("metadata")));
    }
    Ok(map)
}

/// A positive integer amount in minor units.
pub fn amount(params: &[(String, String)], required: bool) -> Result<Option<i64>, Answer> {
    match get(params, "amount") {
        None if required => {
            Err(Answer::invalid(Some("parameter_missing"), "Missing required param: amount.", Some("amount")))
        }
        None => Ok(None),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (1..=99_999_999).contains(&n) => Ok(Some(n)),
            Ok(_) => Err(Answer::invalid(
                Some("parameter_invalid_integer"),
                "Amount must be at least 1 and at most 99999999.",
                Some("amount"),
            )),
            Err(_) => Err(Answer::invalid(
                Some("parameter_invalid_integer"),
                "Invalid integer: amount",
                Some("amount"),
            )),
        },
    }
}
