//! The HTTP surface: the signed merchant API (with bill and settlement downloads), the customer's pay pages and the admin API.

mod admin;
mod api;
mod auth;
mod bills;
mod customer;
mod transport;

use crate::app::App;
use axum::Router;
use axum::routing::get;

pub(crate) fn router(app: App) -> Router {
    Router::new()
        .merge(api::routes())
        .merge(bills::routes())
        .merge(customer::routes())
        .merge(admin::routes())
        .route("/healthz", get(|| async { "ok" }))
        .with_state(app)
}
