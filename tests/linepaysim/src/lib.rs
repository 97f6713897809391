//! linepaysim: a LINE Pay simulator for paygate's tests, written from LINE Pay's published
//! Online API v3 reference (not from paygate's adapter), on simkit's fault core.
//!
//! - Every request is signed: `X-LINE-ChannelId`, `X-LINE-Authorization-Nonce`,
//!   `X-LINE-Authorization` = Base64(HMAC-SHA256(channel secret, secret + path + body-or-query +
//!   nonce)); a missing or wrong one answers `1106` (header information error). Answers are
//!   `{returnCode, returnMessage, info}` with HTTP 200, as LINE Pay's.
//! - `POST /v3/payments/request`: a payment request with a 19-digit transaction id (a JSON
//!   number above 2^53), `paymentUrl.web`/`app` and a `paymentAccessToken`. The same order id
//!   again, before it is confirmed and with the same amount, answers the same request; once
//!   confirmed, or with another amount, `1172`.
//! - The customer acts through the admin API: approve (`0110` at `check`; the simulator then
//!   GETs `confirmUrl?transactionId=…&orderId=…` like the customer's browser, unless told not
//!   to: the "lost redirect"), cancel (`0121`), or nothing until the request expires (`0121`,
//!   `1180` to confirm).
//! - `GET /v3/payments/requests/{transactionId}/check`: `0000` / `0110` / `0121` / `0122` /
//!   `0123`, or `1150`.
//! - `POST /v3/payments/{transactionId}/confirm` with `{amount, currency}`: the money moves
//!   (`1153` for another amount, `1169` before the customer approved, `1172` once confirmed,
//!   `1180` expired, the decline code for a declined approval).
//! - `GET /v3/payments?orderId=…|transactionId=…`: confirmed payments, with `payInfo` and
//!   `refundList`; `1150` when there is none.
//! - `POST /v3/payments/{transactionId}/refund` with `{refundAmount}` (none: the rest):
//!   synchronous, `1164` above what is left, `1165` when nothing is left.
//! - simkit's faults: latency, timeouts, 500s (`9000`), lost responses (processed, then the
//!   answer dropped), header errors (`1106`), not found (`1150`), in process (`1145`),
//!   declines (the customer's approval fails: `0122`, and confirm answers the decline code).
//!
//! - The offline (POS) API v2 (`pos`): one-time-key payments (`1145` while the customer confirms
//!   on the phone, when `posWaitsForCustomer`), check, void and refund by order id, with the
//!   channel secret in `X-LINE-ChannelSecret`. POS payments are not in the v3 details.
//!   Capture-separated (`capture: false`) one-time-key payments: authorised at confirmation,
//!   listed by `GET /v2/payments/authorizations` (`payStatus`), captured once by
//!   `POST /v2/payments/orders/{orderId}/capture` (at most the authorised amount: `1184` above),
//!   released by `…/void`; captured ones are listed by `GET /v2/payments`. What the check answers
//!   for an authorisation (`COMPLETE`) is the simulator's reading (`pos`).
//!
//! - Authorise, then capture (`options.payment.capture: false` in the request): confirm then
//!   only authorises (nothing taken; the answer carries `authorizationExpireDate`, the details
//!   list it with `payStatus` `AUTHORIZATION`); `POST /v3/payments/authorizations/{transactionId}/capture`
//!   `{amount, currency}` takes at most the authorised amount (`1184` above it; the rest is
//!   released) and `…/void` releases it (`VOIDED_AUTHORIZATION`); either on an authorisation no
//!   longer held answers `1179` (`1180` once expired; `1150` for none). An authorisation left
//!   uncaptured past `authorizationTtlMs` is released (`EXPIRED_AUTHORIZATION`). Refunds apply
//!   to what was captured only. Faults are drawn as `capture` and `void`.
//!
//! Not modelled: pre-approved payments, the payment page itself, LINE Pay's IP allow-list, rate limits,
//! and anything the published reference does not state (e.g. how long a request stays open: a
//! setting here).

mod admin;
mod api;
mod app;
mod config;
mod model;
mod pos;
mod server;
pub mod testkit;
mod wire;

pub use admin::{AdminClient, AdminError};
pub use config::{Config, Settings};
pub use server::{LinePaySim, SimHandle};
pub use simkit::{Fault, FaultSettings, Latency, Operation, PPM, ScriptEntry};
