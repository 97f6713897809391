//! The hosted cashier (cashier mode, docs/cashier.md): a create that asks for it
//! (`"cashier": true`) gets a signed, short-lived URL instead of a provider's action; the shop
//! sends its customer there; the page shows the merchant, the subject and the amount and the
//! methods the merchant's cashier offers (`payctl cashier methods set`); the chosen one creates
//! the payment through the same path as every pay command (`crate::commands::apply`), the page
//! shows the provider's action, follows the payment, and lands on the merchant's return URL with
//! the outcome, which never moves money: the shop confirms through the API or the events.
//!
//! Served by ingest's API listener (the door for commands), beside `/v1`, without the API's
//! signature: the token in the URL is the customer's only credential.
//!
//! - [`token`]: the URL's signed token; [`open`]: the create that opens a session;
//! - [`choose`]: a method chosen, once; [`routes`]: the pages, the status and the assets;
//! - [`page`], [`qr`], [`i18n`]: the HTML, the QR codes as SVG, English and Chinese;
//! - [`client_limit`]: the rate limit per client address.

pub mod choose;
pub mod client_limit;
pub mod i18n;
pub mod open;
pub mod page;
pub mod qr;
pub mod routes;
pub mod token;

use axum::http::HeaderName;
use paygate::domain::{Currency, Money};
use paygate::state_machine::PaymentState;
use paygate::store::cashier::{self, CashierMethod, Session};
use serde_json::Value;
use sqlx::PgConnection;
use std::num::NonZeroU32;
use std::time::Duration;
use token::TokenKey;

/// The cashier's settings (ingest's `CASHIER_…` configuration).
#[derive(Debug, Clone)]
pub struct CashierSettings {
    /// Signs the tokens (`CASHIER_SECRET`).
    pub key: TokenKey,
    /// How long a cashier URL may be used (`CASHIER_TOKEN_TTL_SECS`).
    pub token_ttl: Duration,
    /// Where customers reach the cashier (`CASHIER_BASE_URL`); the API's own address by default.
    pub base_url: String,
    /// Requests a second per client address (`CASHIER_RATE_PER_SECOND`), in bursts of at most
    /// `rate_burst` (`CASHIER_RATE_BURST`).
    pub rate_per_second: NonZeroU32,
    pub rate_burst: NonZeroU32,
    /// The header a proxy of ours writes the client's address into (`CASHIER_CLIENT_ADDRESS_HEADER`);
    /// `None`: the connection's peer.
    pub client_address_header: Option<HeaderName>,
}

impl CashierSettings {
    /// The path of a token's page.
    pub fn path(token: &str) -> String {
        format!("/cashier/{token}")
    }

    /// The full URL of a token's page.
    pub fn url(&self, token: &str) -> String {
        format!("{}{}", self.base_url.trim_end_matches('/'), Self::path(token))
    }
}

/// The methods `merchant`'s cashier offers that this ingest can take (its provider configured).
pub async fn offered(
    conn: &mut PgConnection,
    providers: &paygate::providers::ProviderNames,
    merchant: &str,
) -> Result<Vec<CashierMethod>, sqlx::Error> {
    let all = cashier::methods_of(conn, Some(merchant)).await?;
    Ok(all
        .into_iter()
        .filter(|m| providers.contains(&m.provider) && cashier::OFFERABLE.contains(&m.pay_method.as_str()))
        .collect())
}

/// The amount of a session's pay template, formatted from its minor units with the currency's
/// exponent (`CNY 12.34`, `JPY 1500`).
pub fn amount_of(template: &Value) -> String {
    let code = template.get("currency").and_then(Value::as_str).unwrap_or("");
    let amount = template.get("amount").and_then(Value::as_str).unwrap_or("");
    match Currency::parse(code).and_then(|c| Money::parse(amount, c)) {
        Ok(money) => format!(
            "{} {}",
            money.currency().code(),
            crate::api::views::decimal(money.minor_units(), money.currency())
        ),
        Err(_) => format!("{code} {amount}"),
    }
}

/// The summary every page of `session` shows: the merchant by its display name (`payctl cashier
/// name`), else by its id.
pub fn summary(session: &Session, merchant_name: Option<String>) -> page::Summary {
    page::Summary {
        merchant: merchant_name.unwrap_or_else(|| session.merchant_id.clone()),
        order_no: session.merchant_order_no.clone(),
        subject: session.pay_template.get("subject").and_then(Value::as_str).unwrap_or("").to_owned(),
        amount: amount_of(&session.pay_template),
    }
}

/// The outcome of a payment in `state` once it is final for the customer, as the return URL's
/// `outcome` says it: `succeeded` (also once refunded since), `authorized` (manual capture),
/// `failed`, `closed`, `expired`, `voided`; `None` while it is still open.
pub fn outcome(state: PaymentState) -> Option<&'static str> {
    use PaymentState as S;
    match state {
        S::Succeeded | S::PartiallyRefunded | S::Refunded => Some("succeeded"),
        S::Authorized | S::Capturing => Some("authorized"),
        S::Failed => Some("failed"),
        S::Closed => Some("closed"),
        S::Expired => Some("expired"),
        S::Voiding | S::Voided => Some("voided"),
        S::Created | S::Pending | S::ActionRequired | S::Unknown => None,
    }
}

/// The merchant's return URL with the outcome in its query (`merchant_order_no`, `outcome`).
pub fn return_to(return_url: &str, merchant_order_no: &str, outcome: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("merchant_order_no", merchant_order_no)
        .append_pair("outcome", outcome)
        .finish();
    let joiner = if return_url.contains('?') { '&' } else { '?' };
    format!("{return_url}{joiner}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn amounts_are_formatted_with_the_currencys_exponent() {
        assert_eq!(amount_of(&json!({"amount": "12.3", "currency": "CNY"})), "CNY 12.30");
        assert_eq!(amount_of(&json!({"amount": "1500", "currency": "JPY"})), "JPY 1500");
        assert_eq!(amount_of(&json!({"amount": "1.234", "currency": "KWD"})), "KWD 1.234");
    }

    #[test]
    fn the_return_url_carries_the_outcome() {
        assert_eq!(
            return_to("https://shop.example/back", "o 1", "succeeded"),
            "https://shop.example/back?merchant_order_no=o+1&outcome=succeeded"
        );
        assert_eq!(
            return_to("https://s/b?x=1", "o", "failed"),
            "https://s/b?x=1&merchant_order_no=o&outcome=failed"
        );
        assert_eq!(outcome(PaymentState::ActionRequired), None);
        assert_eq!(outcome(PaymentState::Refunded), Some("succeeded"));
    }
}
