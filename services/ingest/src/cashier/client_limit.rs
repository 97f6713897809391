//! The cashier's rate limit per client address. The `/cashier` routes carry no API key (the
//! token is the customer's credential), so the API's per-key limit cannot apply; instead each
//! client address may make `CASHIER_RATE_PER_SECOND` requests a second, in bursts of up to
//! `CASHIER_RATE_BURST`, and past it gets `429` with `Retry-After` (a page in the customer's
//! language, or JSON for the status the page polls). A page that waits for a person polls once a
//! second, so the defaults leave room for many customers behind one address (a shop's Wi-Fi).
//!
//! The address is the connection's peer, unless `CASHIER_CLIENT_ADDRESS_HEADER` names the header
//! the proxy in front of ingest writes (for example `X-Forwarded-For`): then it is that header's
//! last entry, the one the nearest proxy appended, which a client cannot forge. Only name a header
//! a proxy of yours always sets; otherwise every client could pick its own key.

use super::i18n::Lang;
use crate::api::ApiState;
use crate::api::rate_limit::retry_after_secs;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::Arc;

/// Lets the request through within its client's rate, else answers `429`.
pub async fn limit(State(state): State<Arc<ApiState>>, request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let client = client_of(request.headers(), peer, state.settings.cashier.client_address_header.as_ref());
    match state.cashier_limit.check(&client) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            let asked = request.uri().query().and_then(|q| {
                form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "lang").map(|(_, v)| v.into_owned())
            });
            let lang = Lang::negotiate(asked.as_deref(), request.headers());
            too_many(request.uri().path(), lang, retry_after_secs(wait))
        }
    }
}

/// The key a request is limited by: the named header's last entry, else the peer's IP (its port
/// left out: one client opens many connections), else `unknown`.
pub fn client_of(headers: &HeaderMap, peer: Option<SocketAddr>, header: Option<&HeaderName>) -> String {
    let from_header = header
        .and_then(|name| headers.get_all(name).iter().next_back())
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    match (from_header, peer) {
        (Some(address), _) => address.to_owned(),
        (None, Some(peer)) => peer.ip().to_string(),
        (None, None) => "unknown".to_owned(),
    }
}

fn too_many(path: &str, lang: Lang, retry_after: u64) -> Response {
    let t = lang.texts();
    let retry = (header::RETRY_AFTER, HeaderValue::from(retry_after));
    if path.ends_with("/status") {
        let body = serde_json::json!({"error": "rate_limited", "retry_after_secs": retry_after});
        return (StatusCode::TOO_MANY_REQUESTS, [retry], axum::Json(body)).into_response();
    }
    let mut page = super::routes::message(StatusCode::TOO_MANY_REQUESTS, lang, t.title, t.too_many);
    page.headers_mut().insert(retry.0, retry.1);
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn the_peers_ip_is_the_key_without_its_port() {
        let peer: SocketAddr = "192.0.2.7:51000".parse().unwrap();
        assert_eq!(client_of(&HeaderMap::new(), Some(peer), None), "192.0.2.7");
        assert_eq!(client_of(&HeaderMap::new(), None, None), "unknown");
    }

    #[test]
    fn a_forwarded_header_counts_only_when_named_and_only_its_last_entry() {
        let peer: SocketAddr = "10.0.0.1:40000".parse().unwrap();
        let forged = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9")]);
        assert_eq!(client_of(&forged, Some(peer), None), "10.0.0.1", "not named: the peer");
        let name = HeaderName::from_static("x-forwarded-for");
        assert_eq!(client_of(&forged, Some(peer), Some(&name)), "203.0.113.9");
        let two = headers(&[("x-forwarded-for", "1.1.1.1"), ("x-forwarded-for", "198.51.100.2")]);
        assert_eq!(client_of(&two, Some(peer), Some(&name)), "198.51.100.2");
        let empty = headers(&[("x-forwarded-for", " ")]);
        assert_eq!(client_of(&empty, Some(peer), Some(&name)), "10.0.0.1");
    }
}
