//! The order at its provider: our trade number there, where the provider should notify us, the
//! leave to call it now (its bulkhead), and how long its "no such trade" is not to be believed.

use super::{Order, WorkError};
use crate::bulkhead::{Pass, Refusal};
use paygate::providers::adapter::trade_no;
use paygate::store::exchanges;

impl Order<'_> {
    /// Leave from the provider's bulkhead to call it now, or why not (`bulkhead`).
    pub fn pass(&self) -> Result<Pass, Refusal> {
        self.deps.bulkheads.enter(self.adapter.name())
    }

    /// How much longer the provider's "no such trade" is not to be believed: our last pay request
    /// for this payment went out less than the provider's
    /// [`not_found_is_final_after`](paygate::providers::ProviderAdapter::not_found_is_final_after) ago (`None`: it may
    /// be believed). Without a logged pay request the payment's creation counts.
    pub async fn not_found_too_soon(&mut self) -> Result<Option<std::time::Duration>, WorkError> {
        let (id, created_at) = (self.payment.id, self.payment.created_at);
        let last_sent = exchanges::last_sent(self.db().await?.conn, id, None, "pay").await?;
        let age = (chrono::Utc::now() - last_sent.unwrap_or(created_at)).to_std().unwrap_or_default();
        Ok(self.adapter.not_found_is_final_after().checked_sub(age).filter(|wait| !wait.is_zero()))
    }

    /// Whether a "no such trade" about this payment may mean only that the customer has not
    /// acted yet: it waits for them, and its provider makes the trade only when they scan or open
    /// it ([`ProviderAdapter::trade_exists_before_the_customer_acts`]).
    ///
    /// [`ProviderAdapter::trade_exists_before_the_customer_acts`]: paygate::providers::ProviderAdapter::trade_exists_before_the_customer_acts
    pub fn customer_has_not_made_the_trade(&self) -> bool {
        self.payment.state == paygate::state_machine::PaymentState::ActionRequired
            && !self.adapter.trade_exists_before_the_customer_acts(self.payment.pay_method)
    }

    /// Our trade number for this payment at the provider.
    pub fn trade_no(&self) -> String {
        trade_no(self.payment.id)
    }

    /// Where the provider should notify us about this payment, if notifications are configured.
    pub fn notify_url(&self) -> Option<String> {
        let base = self.deps.notify_base_url.as_deref()?;
        Some(format!("{}/notify/{}/{}", base.trim_end_matches('/'), self.payment.provider, self.trade_no()))
    }
}
