//! A small typed client for the admin API, for tests, the demo and the benchmark.

use crate::bill::BillFault;
use crate::codes::ReturnCode;
use crate::config::Settings;
use crate::wire::admin::{AddMerchant, CompleteRefund, DeclineRequest, PaymentTruth, Stats};
use crate::wire::envelope::Envelope;
use crate::wire::payment::PaymentStatusInfo;
use crate::wire::refund::RefundInfo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use simkit::{Fault, FaultSettings, Operation, ScriptEntry};

/// An admin API failure.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The HTTP exchange failed.
    #[error("admin request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// mockpay answered with a non-success return code.
    #[error("mockpay answered {code}: {message}")]
    Rejected {
        /// The return code.
        code: String,
        /// The return message.
        message: String,
    },
}

/// A client for `/admin/...`.
#[derive(Debug, Clone)]
pub struct AdminClient {
    base_url: String,
    http: reqwest::Client,
}

impl AdminClient {
    /// A client for the mockpay at `base_url` (e.g. `http://127.0.0.1:7070`).
    pub fn new(base_url: impl Into<String>) -> Self {
        let http = reqwest::Client::builder().no_proxy().build().unwrap_or_default();
        AdminClient { base_url: base_url.into().trim_end_matches('/').to_owned(), http }
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<Envelope<T>, AdminError> {
        let mut req = self.http.request(method, format!("{}{path}", self.base_url));
        if let Some(b) = body {
            req = req.json(b);
        }
        Ok(req.send().await?.json::<Envelope<T>>().await?)
    }

    async fn expect<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, AdminError> {
        let env = self.call::<B, T>(method, path, body).await?;
        match env.info {
            Some(info) if env.is_success() => Ok(info),
            _ => Err(AdminError::Rejected { code: env.return_code, message: env.return_message }),
        }
    }

    /// `POST /admin/script`.
    pub async fn script(&self, entry: ScriptEntry) -> Result<(), AdminError> {
        self.expect::<_, ScriptEntry>(reqwest::Method::POST, "/admin/script", Some(&entry)).await.map(drop)
    }

    /// Scripts `fault` for the next `times` calls of `operation` on `order_id`.
    pub async fn script_fault(
        &self,
        order_id: &str,
        operation: Operation,
        fault: Fault,
        times: u32,
    ) -> Result<(), AdminError> {
        self.script(ScriptEntry::new(order_id, operation, fault).times(times)).await
    }

    /// `GET /admin/script`: the scripted faults not yet consumed.
    pub async fn pending_script(&self) -> Result<Vec<ScriptEntry>, AdminError> {
        self.expect::<(), _>(reqwest::Method::GET, "/admin/script", None).await
    }

    /// `DELETE /admin/script`.
    pub async fn clear_script(&self) -> Result<(), AdminError> {
        self.expect::<(), Vec<ScriptEntry>>(reqwest::Method::DELETE, "/admin/script", None).await.map(drop)
    }

    /// `PUT /admin/faults`: replaces the rates and restarts the random sequences.
    pub async fn set_faults(&self, faults: &FaultSettings) -> Result<(), AdminError> {
        self.expect::<_, FaultSettings>(reqwest::Method::PUT, "/admin/faults", Some(faults)).await.map(drop)
    }

    /// `GET /admin/faults`.
    pub async fn faults(&self) -> Result<FaultSettings, AdminError> {
        self.expect::<(), _>(reqwest::Method::GET, "/admin/faults", None).await
    }

    /// `PUT /admin/settings`.
    pub async fn set_settings(&self, settings: &Settings) -> Result<(), AdminError> {
        self.expect::<_, Settings>(reqwest::Method::PUT, "/admin/settings", Some(settings)).await.map(drop)
    }

    /// `GET /admin/settings`.
    pub async fn settings(&self) -> Result<Settings, AdminError> {
        self.expect::<(), _>(reqwest::Method::GET, "/admin/settings", None).await
    }

    /// `GET /admin/payments/{orderId}`: the truth, or None if mockpay has no such payment.
    pub async fn payment(&self, order_id: &str) -> Result<Option<PaymentTruth>, AdminError> {
        let env = self
            .call::<(), PaymentTruth>(reqwest::Method::GET, &format!("/admin/payments/{order_id}"), None)
            .await?;
        match env.info {
            Some(t) if env.is_success() => Ok(Some(t)),
            _ if env.code() == Some(ReturnCode::NoSuchTransaction) => Ok(None),
            _ => Err(AdminError::Rejected { code: env.return_code, message: env.return_message }),
        }
    }

    /// `POST /admin/payments/{orderId}/pay`: the customer pays. The envelope says whether the
    /// charge succeeded (`0000`) or was declined (`1101`/`1102`).
    pub async fn pay(&self, order_id: &str) -> Result<Envelope<PaymentStatusInfo>, AdminError> {
        self.call::<(), _>(reqwest::Method::POST, &format!("/admin/payments/{order_id}/pay"), None).await
    }

    /// `POST /admin/payments/{orderId}/decline` with `1101` or `1102` (None: 1101).
    pub async fn decline(
        &self,
        order_id: &str,
        decline_code: Option<&str>,
    ) -> Result<Envelope<PaymentStatusInfo>, AdminError> {
        let body = DeclineRequest { decline_code: decline_code.map(str::to_owned) };
        self.call(reqwest::Method::POST, &format!("/admin/payments/{order_id}/decline"), Some(&body)).await
    }

    /// `POST /admin/payments/{orderId}/expire`: a WAITING payment expires now.
    pub async fn expire(&self, order_id: &str) -> Result<Envelope<PaymentStatusInfo>, AdminError> {
        self.call::<(), _>(reqwest::Method::POST, &format!("/admin/payments/{order_id}/expire"), None).await
    }

    /// `POST /admin/refunds/{refundId}/complete`: ends a PROCESSING refund.
    pub async fn complete_refund(&self, refund_id: &str, succeeded: bool) -> Result<RefundInfo, AdminError> {
        let body = CompleteRefund { status: if succeeded { "SUCCEEDED" } else { "FAILED" }.to_owned() };
        self.expect(reqwest::Method::POST, &format!("/admin/refunds/{refund_id}/complete"), Some(&body)).await
    }

    /// `POST /admin/merchants`.
    pub async fn add_merchant(&self, merchant_id: &str, secret: &str) -> Result<(), AdminError> {
        let body = AddMerchant { merchant_id: merchant_id.to_owned(), secret: secret.to_owned() };
        self.expect::<_, Vec<String>>(reqwest::Method::POST, "/admin/merchants", Some(&body)).await.map(drop)
    }

    /// `POST /admin/bill-faults`: the fault as registered (with the transaction id of a line it
    /// adds).
    pub async fn bill_fault(&self, fault: &BillFault) -> Result<BillFault, AdminError> {
        self.expect(reqwest::Method::POST, "/admin/bill-faults", Some(fault)).await
    }

    /// `GET /admin/bill-faults`.
    pub async fn bill_faults(&self) -> Result<Vec<BillFault>, AdminError> {
        self.expect::<(), _>(reqwest::Method::GET, "/admin/bill-faults", None).await
    }

    /// `DELETE /admin/bill-faults`.
    pub async fn clear_bill_faults(&self) -> Result<(), AdminError> {
        self.expect::<(), Vec<BillFault>>(reqwest::Method::DELETE, "/admin/bill-faults", None).await.map(drop)
    }

    /// `GET /admin/stats`.
    pub async fn stats(&self) -> Result<Stats, AdminError> {
        self.expect::<(), _>(reqwest::Method::GET, "/admin/stats", None).await
    }

    /// `POST /admin/reset`.
    pub async fn reset(&self) -> Result<(), AdminError> {
        self.expect::<(), serde_json::Value>(reqwest::Method::POST, "/admin/reset", None).await.map(drop)
    }
}
