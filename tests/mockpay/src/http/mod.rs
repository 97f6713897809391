//! The HTTP surface: the signed merchant API, the customer's pay pages and the admin API.

mod admin;
mod api;
mod auth;
mod customer;
mod transport;

use crate::app::App;
use axum::Router;
use axum::routing::get;

pub(crate) fn router(app: App) -> Router {
    Router::new()
        .merge(api::routes())
        .merge(customer::routes())
        .merge(admin::routes())
        .route("/healthz", get(|| async { "ok" }))
        .with_state(app)
}
