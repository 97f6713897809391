//! Bills and settlements in our terms (docs/architecture.md, decision 12): what a provider's trade
//! bill or settlement file says, one [`BillItem`] at a time.
//!
//! An adapter never hands over a whole file. [`ProviderAdapter::bill`] and
//! [`ProviderAdapter::settlement`] open the download and return a [`BillStream`]: the body is read
//! chunk by chunk, cut into lines by [`LineSplitter`] (which holds at most one partial line), and
//! each line is parsed by the provider's own parser (`mockpay/bill.rs` for mockpay) into a
//! [`BillLine`], or a [`SettlementTotal`] for a settlement's trailer. Memory stays bounded by the
//! chunk size whatever the file's length.
//!
//! The download's exchange is logged with a summary instead of the body: the request, the status
//! and headers, and "streamed, not kept" (the lines themselves are kept by reconciliation).
//!
//! [`ProviderAdapter::bill`]: super::ProviderAdapter::bill
//! [`ProviderAdapter::settlement`]: super::ProviderAdapter::settlement

use super::exchange::Exchange;
use chrono::{DateTime, Utc};
use futures_util::stream::BoxStream;

/// What a line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillLineKind {
    /// Money taken for a payment.
    Payment,
    /// Money returned for a refund we asked for (or claim to have asked for).
    Refund,
    /// Money returned by the customer's bank (a chargeback): nobody at our end asked for it.
    BankRefund,
}

impl BillLineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Payment => "payment",
            Self::Refund => "refund",
            Self::BankRefund => "bank_refund",
        }
    }
}

/// One transaction as the provider's file states it. Amounts are integer minor units of
/// `currency` (the provider's code as written: it is compared, not trusted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillLine {
    pub kind: BillLineKind,
    /// Our trade number of the payment (`adapter::trade_no`), as the provider echoes it. Empty
    /// when the file does not say: a refund line of WeChat Pay's fund-flow bill names the refund
    /// only (reconciliation then does not check the refund's order).
    pub trade_no: String,
    /// Our refund number, on refund lines the provider says we asked for.
    pub refund_trade_no: Option<String>,
    /// The provider's transaction id of the payment; empty when the file does not say (as
    /// `trade_no`).
    pub provider_txn_id: String,
    /// The provider's id of the refund (refund and bank-refund lines).
    pub provider_refund_id: Option<String>,
    pub amount_minor: i64,
    pub fee_minor: i64,
    pub currency: String,
    /// The provider's status word, e.g. `SUCCEEDED`.
    pub status: String,
    /// Whether `status` means the money moved (for mockpay: `SUCCEEDED`).
    pub succeeded: bool,
    pub completed_at: DateTime<Utc>,
}

/// A settlement's totals in one currency: `net` is what the provider pays out, and
/// `net + fees` must equal `gross - refunds`, which must equal what our records say.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SettlementTotal {
    pub currency: String,
    pub gross_minor: i64,
    pub refunds_minor: i64,
    pub fees_minor: i64,
    pub net_minor: i64,
    pub count: u64,
}

/// One parsed item of a bill or settlement file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillItem {
    Line(BillLine),
    Total(SettlementTotal),
}

/// Why a download or a line failed. Each names the line and the field where it can.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillError {
    /// The provider refused or failed the download; nothing was read.
    #[error("the {operation} download failed: {reason}")]
    Download { operation: &'static str, reason: String },
    /// The connection broke part way: the lines before it were good.
    #[error("the {operation} download broke off after line {line}: {reason}")]
    BrokeOff { operation: &'static str, line: u64, reason: String },
    /// A line does not parse.
    #[error("line {line}: {field}: {rule}")]
    Line { line: u64, field: &'static str, rule: String },
    /// The provider has no such download at all (LINE Pay has no bill or settlement API):
    /// nothing was asked. Reconciliation of such a provider goes another way (`why` says which).
    #[error("{provider} offers no {operation} download: {why}")]
    NotOffered { operation: &'static str, provider: &'static str, why: &'static str },
}

/// The items of one download, in file order. Each item is `Err` at most once, and then the
/// stream ends.
pub type BillStream = BoxStream<'static, Result<BillItem, BillError>>;

/// An opened download: its items, and the exchange to log (with a summary, not the body).
pub struct BillDownload {
    pub items: BillStream,
    pub exchange: Exchange,
    /// Exchanges made before the download, logged before `exchange`: e.g. the call that gave the
    /// download's URL (Alipay's `alipay.data.dataservice.bill.downloadurl.query`).
    pub earlier: Vec<Exchange>,
}

impl std::fmt::Debug for BillDownload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BillDownload").field("exchange", &self.exchange).finish_non_exhaustive()
    }
}

/// Cuts a byte stream into lines across chunk boundaries, holding at most one partial line.
/// Lines end at `\n` (a preceding `\r` is dropped); invalid UTF-8 is an error of that line.
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
    /// Lines handed out so far (the 1-based number of the last one).
    pub line_no: u64,
}

impl LineSplitter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one chunk; `each` gets every complete line with its number. Stops at the first
    /// error `each` returns.
    pub fn feed<E>(&mut self, chunk: &[u8], mut each: impl FnMut(u64, &str) -> Result<(), E>) -> Result<(), E>
    where
        E: From<BillError>,
    {
        let mut rest = chunk;
        while let Some(i) = rest.iter().position(|b| *b == b'\n') {
            let (head, tail) = rest.split_at(i);
            rest = &tail[1..];
            if self.partial.is_empty() {
                self.emit(head, &mut each)?;
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(head);
                self.emit(&line, &mut each)?;
            }
        }
        self.partial.extend_from_slice(rest);
        Ok(())
    }

    /// The last line, if the file did not end with a newline.
    pub fn finish<E>(&mut self, mut each: impl FnMut(u64, &str) -> Result<(), E>) -> Result<(), E>
    where
        E: From<BillError>,
    {
        if self.partial.is_empty() {
            return Ok(());
        }
        let line = std::mem::take(&mut self.partial);
        self.emit(&line, &mut each)
    }

    fn emit<E>(&mut self, raw: &[u8], each: &mut impl FnMut(u64, &str) -> Result<(), E>) -> Result<(), E>
    where
        E: From<BillError>,
    {
        self.line_no += 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = std::str::from_utf8(raw).map_err(|e| BillError::Line {
            line: self.line_no,
            field: "line",
            rule: format!("must be UTF-8 ({e})"),
        })?;
        each(self.line_no, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_across_chunks() {
        let mut s = LineSplitter::new();
        let mut got = Vec::new();
        for chunk in [&b"ab"[..], b"c\nd", b"e\r\n\nf"] {
            s.feed::<BillError>(chunk, |n, l| {
                got.push((n, l.to_owned()));
                Ok(())
            })
            .unwrap();
        }
        s.finish::<BillError>(|n, l| {
            got.push((n, l.to_owned()));
            Ok(())
        })
        .unwrap();
        let want: Vec<(u64, String)> =
            vec![(1, "abc".into()), (2, "de".into()), (3, String::new()), (4, "f".into())];
        assert_eq!(got, want);
    }

    #[test]
    fn invalid_utf8_names_its_line() {
        let mut s = LineSplitter::new();
        let e = s.feed::<BillError>(b"ok\n\xff\n", |_, _| Ok(())).unwrap_err();
        assert!(matches!(e, BillError::Line { line: 2, .. }), "{e:?}");
    }
}
