//! The signed bill and settlement downloads: `GET /v1/bills/{date}` and
//! `GET /v1/settlements/{date}` (see [`crate::bill`] for what they contain).
//!
//! The day's lines are taken from the ledger in one short lock, then the CSV is streamed to the
//! client in chunks of [`CHUNK_LINES`] lines, so a big bill is never one big string.

use crate::app::App;
use crate::bill::{self, HEADER};
use crate::codes::ReturnCode;
use crate::http::auth::Signed;
use crate::wire::envelope::respond;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::Response;
use axum::routing::get;
use chrono::NaiveDate;

/// How many lines go into one chunk of the streamed body.
pub(crate) const CHUNK_LINES: usize = 2_000;

pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/v1/bills/{date}", get(download_bill))
        .route("/v1/settlements/{date}", get(download_settlement))
}

async fn download_bill(State(app): State<App>, Path(date): Path<String>, signed: Signed) -> Response {
    serve(&app, &date, &signed, false, "bill")
}

async fn download_settlement(State(app): State<App>, Path(date): Path<String>, signed: Signed) -> Response {
    serve(&app, &date, &signed, true, "settlement")
}

fn serve(app: &App, date: &str, signed: &Signed, settlement: bool, operation: &str) -> Response {
    let Ok(day) = NaiveDate::parse_from_str(date, "%Y-%m-%d") else {
        app.stats().request(operation, ReturnCode::InvalidRequest.code());
        return respond::<()>(
            ReturnCode::InvalidRequest,
            Some(format!("date: {date:?} is not yyyy-mm-dd")),
            None,
        );
    };
    let faults = app.kit.bill_faults().clone();
    let fee_ppm = app.settings().fee_ppm;
    let lines = bill::lines(&app.ledger(), &signed.merchant_id, day, fee_ppm, &faults, settlement);
    let trailer: Vec<String> = if settlement {
        bill::totals(&lines, &faults, day).iter().map(|(c, t)| bill::render_total(c, t)).collect()
    } else {
        Vec::new()
    };
    app.stats().request(operation, ReturnCode::Success.code());
    let head = std::iter::once(Bytes::from(format!("{HEADER}\n")));
    let chunks: Vec<Vec<bill::Line>> = lines.chunks(CHUNK_LINES).map(<[bill::Line]>::to_vec).collect();
    let body =
        chunks.into_iter().map(|chunk| Bytes::from(chunk.iter().map(bill::Line::render).collect::<String>()));
    let tail = trailer.into_iter().map(Bytes::from);
    let stream = futures_util::stream::iter(head.chain(body).chain(tail).map(Ok::<Bytes, std::io::Error>));
    let mut response = Response::new(Body::from_stream(stream));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/csv; charset=utf-8"));
    response
}
