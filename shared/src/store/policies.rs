//! Merchant policies (`merchant_policies`, migration 0011): per merchant and currency, whether a
//! refund needs a person's approval and whether a payment paid after close is refunded by itself.
//! The provider-dispatcher looks the policy up when it applies a refund; ingest does not.

use super::error::StoreError;
use crate::domain::{Currency, Money, ValidationError};
use sqlx::PgConnection;

/// One merchant's policy in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub merchant_id: String,
    pub currency: Currency,
    /// A refund of strictly more than this needs approval; `None`: no refund does.
    pub refund_approval_over: Option<Money>,
    /// Refund a payment reported paid after we closed or expired it, without asking a person.
    pub auto_refund_paid_after_close: bool,
}

impl Policy {
    /// What applies when the merchant has no row for the currency: no approval, no automatic
    /// refund.
    pub fn default_for(merchant_id: &str, currency: Currency) -> Self {
        Policy {
            merchant_id: merchant_id.to_owned(),
            currency,
            refund_approval_over: None,
            auto_refund_paid_after_close: false,
        }
    }

    /// Whether a refund of `amount` needs a person's approval: the payment's refunds with it,
    /// `already` (refunded + in flight: every refund succeeded or not final, awaiting approval
    /// included) + `amount`, are strictly over the threshold. The
    /// threshold applies to the total, so five refunds at the threshold do not each pass.
    /// An amount in another currency than the policy's is compared as needing approval
    /// (fail closed); callers look the policy up in the refund's currency.
    pub fn refund_needs_approval(&self, already: Money, amount: Money) -> bool {
        if amount.currency() != self.currency || already.currency() != self.currency {
            return true;
        }
        let total = already.minor_units().saturating_add(amount.minor_units());
        self.refund_approval_over.is_some_and(|limit| total > limit.minor_units())
    }
}

/// The policy of `merchant_id` in `currency`, or the defaults ([`Policy::default_for`]).
pub async fn get(
    conn: &mut PgConnection,
    merchant_id: &str,
    currency: Currency,
) -> Result<Policy, StoreError> {
    let row: Option<(Option<i64>, bool)> = sqlx::query_as(
        "SELECT refund_approval_over_minor, auto_refund_paid_after_close FROM merchant_policies
          WHERE merchant_id = $1 AND currency = $2",
    )
    .bind(merchant_id)
    .bind(currency.code())
    .fetch_optional(conn)
    .await?;
    let Some((over, auto_refund)) = row else { return Ok(Policy::default_for(merchant_id, currency)) };
    let refund_approval_over =
        over.map(|minor| Money::from_minor(minor, currency)).transpose().map_err(|e: ValidationError| {
            let reason = format!("merchant policy {merchant_id}/{currency}: stored row is not valid: {e}");
            StoreError::Database(sqlx::Error::Decode(reason.into()))
        })?;
    Ok(Policy {
        merchant_id: merchant_id.to_owned(),
        currency,
        refund_approval_over,
        auto_refund_paid_after_close: auto_refund,
    })
}

/// Creates or replaces the policy of its merchant and currency. A threshold in another currency
/// than the policy's is refused.
pub async fn set(conn: &mut PgConnection, policy: &Policy) -> Result<(), SetError> {
    if let Some(limit) = policy.refund_approval_over
        && limit.currency() != policy.currency
    {
        return Err(SetError::Invalid(ValidationError::new(
            "refund_approval_over",
            format!("must be in the policy's currency {} (got {})", policy.currency, limit.currency()),
        )));
    }
    sqlx::query(
        "INSERT INTO merchant_policies (merchant_id, currency, refund_approval_over_minor, auto_refund_paid_after_close)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (merchant_id, currency) DO UPDATE
            SET refund_approval_over_minor = EXCLUDED.refund_approval_over_minor,
                auto_refund_paid_after_close = EXCLUDED.auto_refund_paid_after_close",
    )
    .bind(&policy.merchant_id)
    .bind(policy.currency.code())
    .bind(policy.refund_approval_over.map(Money::minor_units))
    .bind(policy.auto_refund_paid_after_close)
    .execute(conn)
    .await
    .map_err(StoreError::Database)?;
    Ok(())
}

/// Why [`set`] did not store the policy.
#[derive(Debug, thiserror::Error)]
pub enum SetError {
    #[error(transparent)]
    Invalid(ValidationError),
    #[error(transparent)]
    Store(#[from] StoreError),
}
