//! A method chosen on the cashier page: the session's pay template plus the chosen provider and
//! pay method (and the cashier page as the provider's return URL, so that a redirect comes back
//! to the page that follows the payment) becomes a pay command, parsed by the commands' parser
//! and applied by `crate::commands::apply`, the one path of every command, in the transaction
//! that takes the session's single choice. A token cannot start a second payment: a later
//! choice of another method is refused; the same method again continues the payment.

use crate::api::ApiState;
use crate::commands::{self, CommandOutcome, Context};
use paygate::broker::envelope::Envelope;
use paygate::domain::ValidationError;
use paygate::messages::commands::{Command, PAY};
use paygate::store::cashier::{self, Session};
use serde_json::Value;

/// What became of a choice.
#[derive(Debug)]
pub enum Choice {
    /// The payment was created (or was there, the same) and is on its way to the provider.
    Started,
    /// This method was chosen before: the payment goes on.
    Continued,
    /// Another method was chosen before: refused.
    AlreadyChosen,
    /// Not a method this merchant's cashier offers.
    NotOffered,
    /// The pay command was refused (its field and rule).
    Refused(ValidationError),
}

/// Chooses `value` (`provider:pay_method`) for `session`, whose page is `page_url`.
pub async fn run(state: &ApiState, session: &Session, page_url: &str, value: &str) -> Result<Choice, String> {
    let Some((provider, pay_method)) = value.split_once(':') else { return Ok(Choice::NotOffered) };
    let same = |s: &Session| {
        s.chosen_provider.as_deref() == Some(provider) && s.chosen_pay_method.as_deref() == Some(pay_method)
    };
    if session.chosen_at.is_some() {
        return Ok(if same(session) { Choice::Continued } else { Choice::AlreadyChosen });
    }
    let mut conn = state.db.acquire().await.map_err(|e| e.to_string())?;
    let offered =
        super::offered(&mut conn, &state.providers, &session.merchant_id).await.map_err(|e| e.to_string())?;
    drop(conn);
    if !offered.iter().any(|m| m.provider == provider && m.pay_method == pay_method) {
        return Ok(Choice::NotOffered);
    }
    let Value::Object(mut payload) = session.pay_template.clone() else {
        return Err("the session's pay template is not an object".into());
    };
    payload.insert("provider".into(), Value::String(provider.to_owned()));
    payload.insert("pay_method".into(), Value::String(pay_method.to_owned()));
    payload.insert("return_url".into(), Value::String(page_url.to_owned()));
    let payload = Value::Object(payload);
    let command = match Command::parse(PAY, payload.clone()) {
        Ok(c) => c,
        Err(e) => return Ok(Choice::Refused(e)),
    };
    let order_key = format!("{}:{}", session.merchant_id, session.merchant_order_no);
    let cause = Envelope::new(PAY, order_key, payload)
        .with_correlation_id(format!("cashier-{}", uuid::Uuid::now_v7()));

    let mut tx = state.db.begin().await.map_err(|e| e.to_string())?;
    if !cashier::choose(&mut tx, session.id, provider, pay_method).await.map_err(|e| e.to_string())? {
        // Chosen meanwhile (another tab, a double click): the row says which.
        let now = cashier::find(&mut tx, session.id).await.map_err(|e| e.to_string())?;
        tx.rollback().await.map_err(|e| e.to_string())?;
        return Ok(match now {
            Some(s) if same(&s) => Choice::Continued,
            _ => Choice::AlreadyChosen,
        });
    }
    let ctx = Context { topology: &state.topology, providers: &state.providers, cause: &cause };
    let outcome = commands::apply(&mut tx, &ctx, &command).await.map_err(|e| e.to_string())?;
    let choice = match &outcome {
        CommandOutcome::Rejected(r) => {
            tx.rollback().await.map_err(|e| e.to_string())?;
            tracing::info!(
                merchant = session.merchant_id.as_str(),
                field = r.error.field(),
                rule = r.error.rule(),
                "cashier choice refused"
            );
            return Ok(Choice::Refused(r.error.clone()));
        }
        CommandOutcome::Accepted | CommandOutcome::Duplicate => Choice::Started,
    };
    tx.commit().await.map_err(|e| e.to_string())?;
    state.metrics.count(PAY, outcome.label());
    state.relay_waker.notify_one();
    Ok(choice)
}
