//! What a move of a manual-capture payment writes besides its state: the captured amount once it
//! is captured (what refunds and bills apply to from then on), and the end of a capture that did
//! not happen (the provider still holds the authorisation: a new `capture` command may ask again).

use super::{Order, WorkError};
use paygate::domain::CaptureMode;
use paygate::state_machine::PaymentState;
use paygate::store::payments;

impl Order<'_> {
    /// After the payment moved from `was`: a manual-capture payment now captured records what was
    /// captured (the capture we committed; the whole authorisation if the provider reports a
    /// capture we did not ask for), and one back to `authorized` from `capturing` forgets the
    /// capture that did not happen.
    pub async fn capture_moved(&mut self, was: PaymentState) -> Result<(), WorkError> {
        if self.payment.capture_mode != CaptureMode::Manual || was == self.payment.state {
            return Ok(());
        }
        match self.payment.state {
            PaymentState::Succeeded if self.payment.captured.is_none() => {
                let amount = self.payment.capture_requested.unwrap_or(self.payment.amount);
                if self.payment.capture_requested.is_none() {
                    tracing::warn!(payment_id = %self.payment.id, "captured at the provider without a capture of ours: the whole authorisation is taken as captured");
                }
                let db = self.db().await?;
                payments::record_captured(db.conn, db.payment, amount).await?;
            }
            PaymentState::Authorized if was == PaymentState::Capturing => {
                let db = self.db().await?;
                payments::forget_capture_request(db.conn, db.payment).await?;
            }
            _ => {}
        }
        Ok(())
    }
}
