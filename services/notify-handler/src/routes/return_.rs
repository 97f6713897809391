//! `GET|POST /return/{provider}/{trade no}`: the customer's browser coming back from the
//! provider (the synchronous notification; mockpay sends `orderId`, `transactionId` and `status`
//! in the query string of a 303).
//!
//! Nothing in it is signed, so it is a claim and changes no money state: it checks what it can
//! (a configured provider, one of our trade numbers, an `orderId` that matches it), asks the
//! dispatcher to query the provider (`order.query`, reason `customer_returned`, on the order's
//! shard), and sends the customer on to the merchant's `return_url` with the status as paygate
//! knows it now: `?merchant_order_no=…&status=<payment state>`. Without a return URL it answers
//! the status as text. If the broker is down the query is skipped (logged): the follow-up
//! schedule finds the outcome anyway.
//!
//! Because anyone can call it, it is bounded twice (issue 12):
//! - per client address, at most `RETURN_RATE_PER_MINUTE` calls a minute (`client_limit`); past
//!   it the answer is 429 with `Retry-After`, before anything is read or published;
//! - per order, at most one query asked for per `RETURN_QUERY_INTERVAL` (`return_queries`, in
//!   PostgreSQL): a return within the interval of the last query asked for still redirects with
//!   the status, but publishes nothing.
//!
//! Counted in `paygate_returns_total{outcome}` (`query_asked`, `query_recent`, `rate_limited`).

use super::{AppState, payment_id_of};
use crate::return_queries;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use paygate::messages::orders::{OrderWork, QueryReason};
use std::net::SocketAddr;
use std::sync::Arc;

pub async fn handle_get(
    State(app): State<Arc<AppState>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path((provider, trade_no)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    if let Some(refused) = over_limit(&app, client) {
        return refused;
    }
    let params = parse_form(query.as_deref().unwrap_or(""));
    handle(&app, &provider, &trade_no, &params).await
}

pub async fn handle_post(
    State(app): State<Arc<AppState>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path((provider, trade_no)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    if let Some(refused) = over_limit(&app, client) {
        return refused;
    }
    let mut params = parse_form(query.as_deref().unwrap_or(""));
    params.extend(parse_form(&String::from_utf8_lossy(&body)));
    handle(&app, &provider, &trade_no, &params).await
}

/// The 429 for a client past its rate, if it is.
fn over_limit(app: &AppState, client: SocketAddr) -> Option<Response> {
    let wait = app.client_limit.check(client.ip()).err()?;
    app.metrics.returned("rate_limited");
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let message = format!(
        "too many requests: this address may call the return page at most {} times a minute; try again in {secs} s\n",
        app.client_limit.rate()
    );
    tracing::debug!(client = %client.ip(), "return: rate limited");
    Some((StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, secs.to_string())], message).into_response())
}

async fn handle(app: &AppState, provider: &str, trade_no: &str, params: &[(String, String)]) -> Response {
    let not_found = |what: String| (StatusCode::NOT_FOUND, what).into_response();
    if app.verifier(provider).is_none() {
        return not_found("provider: not a configured provider".into());
    }
    let Some(payment_id) = payment_id_of(trade_no) else {
        return not_found("trade number: not one of ours".into());
    };
    if let Some((_, order_id)) = params.iter().find(|(k, _)| k == "orderId")
        && order_id != trade_no
    {
        return (StatusCode::BAD_REQUEST, "orderId: must equal the trade number in the URL").into_response();
    }
    let row: Result<Option<(String, String, Option<String>)>, sqlx::Error> =
        sqlx::query_as("SELECT merchant_order_no, state, return_url FROM payments WHERE id = $1")
            .bind(payment_id)
            .fetch_optional(&app.db)
            .await;
    let (merchant_order_no, state, return_url) = match row {
        Ok(Some(row)) => row,
        Ok(None) => return not_found("trade number: no such payment".into()),
        Err(e) => {
            tracing::warn!(error = %e, "return: the database is unavailable");
            return (StatusCode::SERVICE_UNAVAILABLE, "temporarily unavailable; please reload")
                .into_response();
        }
    };
    ask_for_query(app, payment_id).await;
    match return_url {
        Some(url) => {
            let sep = if url.contains('?') { '&' } else { '?' };
            let location = format!(
                "{url}{sep}merchant_order_no={}&status={}",
                encode(&merchant_order_no),
                encode(&state)
            );
            (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
        }
        None => (StatusCode::OK, format!("payment {merchant_order_no}: {state}\n")).into_response(),
    }
}

/// Asks the dispatcher to query the order, unless a return asked within the interval. Nothing
/// here fails the customer's redirect: a query not asked for is logged, and the follow-up
/// schedule finds the outcome anyway.
async fn ask_for_query(app: &AppState, payment_id: uuid::Uuid) {
    let asked_at = match return_queries::claim(&app.db, payment_id, app.return_query_interval).await {
        Ok(Some(at)) => at,
        Ok(None) => {
            app.metrics.returned("query_recent");
            tracing::debug!(%payment_id, "return: a query was asked for within the interval; not asking again");
            return;
        }
        Err(e) => {
            tracing::warn!(%payment_id, error = %e, "return: the query's slot could not be taken; not asking");
            return;
        }
    };
    let work = OrderWork::Query { payment_id, refund_id: None, reason: QueryReason::CustomerReturned };
    match app.publisher.forward(&work).await {
        Ok(()) => app.metrics.returned("query_asked"),
        Err(e) => {
            tracing::warn!(%payment_id, error = %e, "return: the query could not be asked for; the schedule will find the outcome");
            if let Err(e) = return_queries::release(&app.db, payment_id, asked_at).await {
                tracing::warn!(%payment_id, error = %e, "return: the query's slot could not be given back");
            }
        }
    }
}

/// `application/x-www-form-urlencoded` pairs (also a query string).
fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_and_values_encode() {
        let pairs = parse_form("orderId=abc&status=SUCC%45EDED&x=a+b&bad=%zz&tail=%4");
        assert_eq!(pairs[0], ("orderId".into(), "abc".into()));
        assert_eq!(pairs[1].1, "SUCCEEDED");
        assert_eq!(pairs[2].1, "a b");
        assert_eq!(pairs[3].1, "%zz");
        assert_eq!(pairs[4].1, "%4");
        assert_eq!(encode("o-1 2/ü"), "o-1%202%2F%C3%BC");
    }
}
