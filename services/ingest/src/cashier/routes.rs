//! The cashier's routes, on ingest's API listener, outside `/v1`'s signature (the token is the
//! credential):
//!
//! - `GET /cashier/{token}`: the page: the methods to choose from, then the chosen payment's
//!   action, then its outcome (and the way back to the shop);
//! - `POST /cashier/{token}`: choose a method (`method=provider:pay_method`), then `303` back to
//!   the page;
//! - `GET /cashier/{token}/status`: the payment's state as JSON, which the page polls;
//! - `GET /cashier/assets/cashier.js|cashier.css`: the page's only script and styles.
//!
//! A token that is not ours (changed, cut short) is a `403` page; an expired one a `410` page.
//! Every page carries a `Content-Security-Policy` that allows only this origin's script and styles
//! (no inline script), images from this origin and `data:`, forms posted to this origin or to
//! the provider whose form the page shows, and connections to this origin or, on a card form, to
//! the one provider API origin its action names (where the script posts the card).

use super::choose::{self, Choice};
use super::i18n::Lang;
use super::page::{self, Following};
use super::token::TokenError;
use super::{CashierSettings, outcome, return_to, summary};
use crate::api::ApiState;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use paygate::store::StoredRow;
use paygate::store::cashier::{self, Session};
use paygate::store::payments::Payment;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

const SCRIPT: &str = include_str!("assets/cashier.js");
const STYLES: &str = include_str!("assets/cashier.css");

/// The cashier's routes.
pub fn router() -> Router<Arc<ApiState>> {
    Router::new()
        .route(
            "/cashier/assets/cashier.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route("/cashier/assets/cashier.css", get(|| async { asset("text/css; charset=utf-8", STYLES) }))
        .route("/cashier/{token}", get(show).post(pick))
        .route("/cashier/{token}/status", get(status))
}

fn asset(content_type: &'static str, text: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        text,
    )
        .into_response()
}

/// The origin (`scheme://host:port`) of an absolute URL.
fn origin(url: &str) -> Option<&str> {
    let after = url.find("://")? + 3;
    let end = url[after..].find(['/', '?', '#']).map_or(url.len(), |i| after + i);
    let origin = &url[..end];
    let scheme = &url[..after - 3];
    (matches!(scheme, "http" | "https") && end > after && !origin.contains(['"', ';', ' ', '\'']))
        .then_some(origin)
}

/// What a page's policy allows beyond its own origin: the origin of the provider's form target
/// (`form-action`) and of the provider API a card form posts to (`connect-src`), each exactly
/// that origin (`scheme://host:port`), nothing wider.
#[derive(Debug, Clone, Copy, Default)]
pub struct Allow<'a> {
    pub form_to: Option<&'a str>,
    pub connect_to: Option<&'a str>,
}

impl<'a> Allow<'a> {
    /// What the action of a payment still open needs: a POST form's target; a card form's API.
    pub fn of_action(action: Option<&'a serde_json::Value>) -> Self {
        let text = |a: &'a serde_json::Value, field: &str| a.get(field).and_then(|v| v.as_str());
        let Some(a) = action else { return Allow::default() };
        let form_to =
            text(a, "method").filter(|m| m.eq_ignore_ascii_case("POST")).and_then(|_| text(a, "url"));
        // A card form exists only with a client secret and a publishable key (page::card_html).
        let card_form =
            text(a, "client_secret").is_some() && text(a, "publishable_key").is_some_and(|k| !k.is_empty());
        let connect_to = text(a, "api_base").filter(|_| card_form);
        Allow { form_to, connect_to }
    }
}

/// `'self'` and the origin of `url`, if it has one.
fn sources(url: Option<&str>) -> String {
    match url.and_then(origin) {
        Some(o) => format!("'self' {o}"),
        None => "'self'".to_owned(),
    }
}

/// The headers of every page: its policy (with the provider's form target and card API allowed,
/// [`Allow`]), no caching, no sniffing, no referrer, no framing.
pub fn headers(allow: Allow<'_>) -> HeaderMap {
    let policy = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src {connect}; \
         form-action {form}; base-uri 'none'; frame-ancestors 'none'",
        connect = sources(allow.connect_to),
        form = sources(allow.form_to),
    );
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    if let Ok(v) = HeaderValue::from_str(&policy) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(HeaderName::from_static("x-frame-options"), HeaderValue::from_static("DENY"));
    h
}

fn html(status: StatusCode, allow: Allow<'_>, body: String) -> Response {
    (status, headers(allow), body).into_response()
}

/// A page that only says something (why a link does not work, why to wait).
pub(super) fn message(status: StatusCode, lang: Lang, title: &str, text: &str) -> Response {
    html(status, Allow::default(), page::message(lang, title, text))
}

/// The session a token names, or the page that says why not.
async fn session_of(state: &ApiState, token: &str, lang: Lang) -> Result<Session, Response> {
    let t = lang.texts();
    let id = match state.settings.cashier.key.verify(token, chrono::Utc::now()) {
        Ok(id) => id,
        Err(TokenError::Tampered) => {
            return Err(message(StatusCode::FORBIDDEN, lang, t.link_invalid_title, t.link_invalid));
        }
        Err(TokenError::Expired) => {
            return Err(message(StatusCode::GONE, lang, t.link_expired_title, t.link_expired));
        }
    };
    let found = async {
        let mut conn = state.db.acquire().await?;
        cashier::find(&mut conn, id).await
    };
    match found.await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(message(StatusCode::FORBIDDEN, lang, t.link_invalid_title, t.link_invalid)),
        Err(e) => {
            tracing::warn!(error = %e, "cashier: could not read the session");
            Err(message(StatusCode::INTERNAL_SERVER_ERROR, lang, t.title, t.try_later))
        }
    }
}

/// The payment a session's choice created.
async fn payment_of(state: &ApiState, session: &Session) -> Result<Option<Payment>, String> {
    let mut conn = state.db.acquire().await.map_err(|e| e.to_string())?;
    Payment::find_by_number(&mut conn, &session.merchant_id, &session.merchant_order_no)
        .await
        .map_err(|e| e.to_string())
}

/// What the status answers as `view`: the page is reloaded when it changes.
fn view_of(payment: Option<&Payment>) -> String {
    match payment {
        None => "none".to_owned(),
        Some(p) => format!("{}:{}", p.state, p.customer_action.is_some()),
    }
}

fn lang_of(query: &HashMap<String, String>, headers: &HeaderMap) -> Lang {
    Lang::negotiate(query.get("lang").map(String::as_str), headers)
}

async fn show(
    State(state): State<Arc<ApiState>>,
    Path(token): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let lang = lang_of(&query, &headers);
    let session = match session_of(&state, &token, lang).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    render(&state, &token, &session, lang, None, StatusCode::OK).await
}

/// The page of `session` as it is now, with `error` (a refused choice) above the methods.
async fn render(
    state: &ApiState,
    token: &str,
    session: &Session,
    lang: Lang,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let t = lang.texts();
    let path = CashierSettings::path(token);
    let name = async {
        let mut conn = state.db.acquire().await?;
        cashier::name_of(&mut conn, &session.merchant_id).await
    };
    // The name only decorates the page: without it the page shows the merchant id.
    let name = name.await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cashier: could not read the merchant's name");
        None
    });
    let summary = summary(session, name);
    if session.chosen_at.is_none() {
        let methods = async {
            let mut conn = state.db.acquire().await?;
            super::offered(&mut conn, &state.providers, &session.merchant_id).await
        };
        return match methods.await {
            Ok(m) => {
                let m: Vec<_> =
                    m.iter().map(|m| (m.key(), m.provider.clone(), m.pay_method.clone())).collect();
                html(status, Allow::default(), page::choose(lang, &path, &summary, &m, error))
            }
            Err(e) => {
                tracing::warn!(error = %e, "cashier: could not read the methods");
                message(StatusCode::INTERNAL_SERVER_ERROR, lang, t.title, t.try_later)
            }
        };
    }
    let payment = match payment_of(state, session).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "cashier: could not read the payment");
            return message(StatusCode::INTERNAL_SERVER_ERROR, lang, t.title, t.try_later);
        }
    };
    let view = view_of(payment.as_ref());
    let status_path = format!("{path}/status");
    let provider = session.chosen_provider.clone().unwrap_or_default();
    let (state_name, action, outcome) = match &payment {
        Some(p) => (p.state.to_string(), p.customer_action.as_ref(), outcome(p.state)),
        None => ("created".to_owned(), None, None),
    };
    let back = match (outcome, session.return_url.as_deref()) {
        (Some(o), Some(url)) => Some(return_to(url, &session.merchant_order_no, o)),
        _ => None,
    };
    let allow = if outcome.is_none() { Allow::of_action(action) } else { Allow::default() };
    let following = Following {
        provider: &provider,
        state: &state_name,
        action,
        outcome,
        return_to: back.as_deref(),
        view: &view,
        status_path: &status_path,
    };
    let mut body = page::following(lang, &path, &summary, &following);
    if let Some(e) = error {
        body = body.replacen(
            "<dl class=\"summary\">",
            &format!(
                "<p class=\"error\" role=\"alert\" id=\"error\">{}</p><dl class=\"summary\">",
                page::escape(e)
            ),
            1,
        );
    }
    html(status, allow, body)
}

async fn pick(
    State(state): State<Arc<ApiState>>,
    Path(token): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = lang_of(&query, &headers);
    let t = lang.texts();
    let session = match session_of(&state, &token, lang).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    let value = form_urlencoded::parse(&body).find(|(k, _)| k == "method").map(|(_, v)| v.into_owned());
    let page_url = state.settings.cashier.url(&token);
    let choice = match value {
        Some(v) => choose::run(&state, &session, &page_url, &v).await,
        None => Ok(Choice::NotOffered),
    };
    let refusal = match choice {
        Ok(Choice::Started | Choice::Continued) => {
            let to = format!("{}?lang={}", CashierSettings::path(&token), lang.code());
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&to) {
                h.insert(header::LOCATION, v);
            }
            return (StatusCode::SEE_OTHER, h).into_response();
        }
        Ok(Choice::AlreadyChosen) => (StatusCode::CONFLICT, t.already_chosen.to_owned()),
        Ok(Choice::NotOffered) => (StatusCode::UNPROCESSABLE_ENTITY, t.not_offered.to_owned()),
        Ok(Choice::Refused(e)) => {
            (StatusCode::UNPROCESSABLE_ENTITY, format!("{} {}: {}", t.refused, e.field(), e.rule()))
        }
        Err(e) => {
            tracing::warn!(error = %e, "cashier: could not take the choice");
            return message(StatusCode::INTERNAL_SERVER_ERROR, lang, t.title, t.try_later);
        }
    };
    // The session again: the choice may have been taken meanwhile.
    let session = match session_of(&state, &token, lang).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    render(&state, &token, &session, lang, Some(&refusal.1), refusal.0).await
}

async fn status(State(state): State<Arc<ApiState>>, Path(token): Path<String>) -> Response {
    let json_headers = [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))];
    let id = match state.settings.cashier.key.verify(&token, chrono::Utc::now()) {
        Ok(id) => id,
        Err(TokenError::Tampered) => {
            return (StatusCode::FORBIDDEN, json_headers, axum::Json(json!({"error": "invalid_token"})))
                .into_response();
        }
        Err(TokenError::Expired) => {
            return (StatusCode::GONE, json_headers, axum::Json(json!({"error": "expired_token"})))
                .into_response();
        }
    };
    let found = async {
        let mut conn = state.db.acquire().await.map_err(|e| e.to_string())?;
        let Some(session) = cashier::find(&mut conn, id).await.map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let payment = Payment::find_by_number(&mut conn, &session.merchant_id, &session.merchant_order_no)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(Some((session, payment)))
    };
    match found.await {
        Ok(Some((session, payment))) => {
            let outcome = payment.as_ref().and_then(|p| outcome(p.state));
            let back = match (outcome, session.return_url.as_deref()) {
                (Some(o), Some(url)) => Some(return_to(url, &session.merchant_order_no, o)),
                _ => None,
            };
            let body = json!({
                "merchant_order_no": session.merchant_order_no,
                "method_chosen": session.chosen_at.is_some(),
                "state": payment.as_ref().map(|p| p.state.to_string()),
                "final": outcome.is_some(),
                "outcome": outcome,
                "return_url": back,
                "view": view_of(payment.as_ref()),
            });
            (StatusCode::OK, json_headers, axum::Json(body)).into_response()
        }
        Ok(None) => (StatusCode::FORBIDDEN, json_headers, axum::Json(json!({"error": "invalid_token"})))
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "cashier: could not read the status");
            (StatusCode::INTERNAL_SERVER_ERROR, json_headers, axum::Json(json!({"error": "internal_error"})))
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_policy_allows_only_this_origin_and_the_providers_form_target() {
        let form = json!({"method": "POST", "url": "https://openapi.alipay.com/gateway.do?charset=utf-8", "form": {}});
        let h = headers(Allow::of_action(Some(&form)));
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("script-src 'self';") && csp.contains("default-src 'none'"), "{csp}");
        assert!(csp.contains("form-action 'self' https://openapi.alipay.com;"), "{csp}");
        assert!(csp.contains("connect-src 'self';"), "{csp}");
        let plain = headers(Allow::default());
        assert!(plain[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("form-action 'self';"));
        assert_eq!(origin("http://127.0.0.1:7070/pay/1"), Some("http://127.0.0.1:7070"));
        assert_eq!(origin("javascript:alert(1)"), None);
        assert_eq!(origin("http://a b/"), None);
    }

    #[test]
    fn a_card_form_may_connect_to_exactly_its_providers_api_origin() {
        let card = json!({"client_secret": "pi_1_secret_2", "publishable_key": "pk_test_1", "api_base": "https://api.stripe.com/v1x"});
        let csp = headers(Allow::of_action(Some(&card)))[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("connect-src 'self' https://api.stripe.com;"), "{csp}");
        assert!(csp.contains("form-action 'self';") && csp.contains("script-src 'self';"), "{csp}");
        assert!(!csp.contains("https:;") && !csp.contains('*'), "nothing wider: {csp}");
        let local = json!({"client_secret": "s", "publishable_key": "pk_test_1", "api_base": "http://127.0.0.1:7073"});
        let csp = headers(Allow::of_action(Some(&local)))[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("connect-src 'self' http://127.0.0.1:7073;"), "{csp}");
        // A client secret without the publishable key gets no card form, so no connection.
        for a in [
            json!({"client_secret": "s"}),
            json!({"client_secret": "s", "publishable_key": "", "api_base": "https://x"}),
        ] {
            let csp = headers(Allow::of_action(Some(&a)))[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .to_owned();
            assert!(csp.contains("connect-src 'self';"), "{csp}");
        }
        // A value that is not an origin is left out, never pasted into the policy.
        let odd =
            json!({"client_secret": "s", "publishable_key": "pk_1", "api_base": "https://x; script-src *"});
        let csp = headers(Allow::of_action(Some(&odd)))[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("connect-src 'self';") && csp.contains("script-src 'self';"), "{csp}");
    }
}
