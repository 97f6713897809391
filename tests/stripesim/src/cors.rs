//! CORS for the API, so that a browser page on another origin can call it as it calls Stripe
//! (Stripe.js, or paygate's hosted cashier, confirming a PaymentIntent with the publishable key):
//! a preflight `OPTIONS` on `/v1/…` is answered `204` with the methods and headers allowed, and
//! every `/v1/…` answer carries `Access-Control-Allow-Origin: *` (no cookies are used: the key
//! and the client secret are in the form). The admin API and the 3-D Secure page get none.
//!
//! Stripe's exact CORS headers are not published; these are what a browser needs.

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The headers a browser may send on an API call.
const ALLOWED_HEADERS: &str = "Authorization, Content-Type, Idempotency-Key, Stripe-Version, Stripe-Account";

/// The middleware: preflights answered, API answers marked.
pub(crate) async fn cors(request: Request, next: Next) -> Response {
    if !request.uri().path().starts_with("/v1/") {
        return next.run(request).await;
    }
    if request.method() == Method::OPTIONS {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, DELETE"));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOWED_HEADERS));
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("300"));
        return r;
    }
    let mut r = next.run(request).await;
    let h = r.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("Request-Id"));
    r
}
