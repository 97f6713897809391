//! mockpay's bill and settlement files (tests/mockpay/README.md, "Bills and settlements"), read
//! line by line into [`BillItem`]s.
//!
//! The file is a header line, then `type,orderId,refundId,transactionId,refundTransactionId,
//! amount,fee,currency,status,completedAt` lines (integer minor units; no quoting, since no field
//! may contain a comma), and for a settlement `#TOTAL,currency,gross,refunds,fees,net,count`
//! trailers. [`items`] turns any stream of byte chunks (the HTTP body, or a file in the
//! benchmark) into a [`BillStream`], holding at most one chunk and one partial line.

use crate::providers::bill::{
    BillError, BillItem, BillLine, BillLineKind, BillStream, LineSplitter, SettlementTotal,
};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use std::collections::VecDeque;

/// The header line mockpay writes.
pub const HEADER: &str =
    "type,orderId,refundId,transactionId,refundTransactionId,amount,fee,currency,status,completedAt";

/// The status of a line whose money moved.
pub const SUCCEEDED: &str = "SUCCEEDED";

/// Parses one line (`line_no` is 1-based; line 1 is the header). Blank lines give `None`.
pub fn parse_line(line_no: u64, line: &str) -> Result<Option<BillItem>, BillError> {
    let err = |field: &'static str, rule: String| BillError::Line { line: line_no, field, rule };
    if line_no == 1 {
        return if line == HEADER {
            Ok(None)
        } else {
            Err(err("header", format!("must be {HEADER:?}, got {line:?}")))
        };
    }
    if line.trim().is_empty() {
        return Ok(None);
    }
    if let Some(rest) = line.strip_prefix("#TOTAL,") {
        return parse_total(rest, &err).map(|t| Some(BillItem::Total(t)));
    }
    let f: Vec<&str> = line.split(',').collect();
    if f.len() != 10 {
        return Err(err("line", format!("must have 10 fields, has {}", f.len())));
    }
    let kind = match f[0] {
        "PAYMENT" => BillLineKind::Payment,
        "REFUND" => BillLineKind::Refund,
        "BANK_REFUND" => BillLineKind::BankRefund,
        other => return Err(err("type", format!("must be PAYMENT, REFUND or BANK_REFUND, got {other:?}"))),
    };
    let non_empty = |field: &'static str, v: &str| {
        if v.is_empty() { Err(err(field, "must not be empty".into())) } else { Ok(v.to_owned()) }
    };
    let optional = |v: &str| (!v.is_empty()).then(|| v.to_owned());
    let trade_no = non_empty("orderId", f[1])?;
    let refund_trade_no = optional(f[2]);
    match (kind, &refund_trade_no) {
        (BillLineKind::Payment, Some(_)) => {
            return Err(err("refundId", "must be empty on a PAYMENT line".into()));
        }
        (BillLineKind::Refund, None) => {
            return Err(err("refundId", "must not be empty on a REFUND line".into()));
        }
        _ => {}
    }
    let provider_txn_id = non_empty("transactionId", f[3])?;
    let provider_refund_id = optional(f[4]);
    if kind != BillLineKind::Payment && provider_refund_id.is_none() {
        return Err(err("refundTransactionId", "must not be empty on a refund line".into()));
    }
    let amount_minor = integer("amount", f[5], &err)?;
    if amount_minor <= 0 {
        return Err(err("amount", format!("must be > 0, got {amount_minor}")));
    }
    let fee_minor = integer("fee", f[6], &err)?;
    if fee_minor < 0 {
        return Err(err("fee", format!("must be >= 0, got {fee_minor}")));
    }
    let currency = currency(f[7], &err)?;
    let status = non_empty("status", f[8])?;
    let completed_at = DateTime::parse_from_rfc3339(f[9])
        .map_err(|e| err("completedAt", format!("must be RFC 3339 ({e}), got {:?}", f[9])))?
        .with_timezone(&Utc);
    Ok(Some(BillItem::Line(BillLine {
        kind,
        trade_no,
        refund_trade_no,
        provider_txn_id,
        provider_refund_id,
        amount_minor,
        fee_minor,
        currency,
        succeeded: status == SUCCEEDED,
        status,
        completed_at,
    })))
}

fn integer(
    field: &'static str,
    v: &str,
    err: &impl Fn(&'static str, String) -> BillError,
) -> Result<i64, BillError> {
    v.parse::<i64>().map_err(|_| err(field, format!("must be an integer of minor units, got {v:?}")))
}

fn currency(v: &str, err: &impl Fn(&'static str, String) -> BillError) -> Result<String, BillError> {
    if v.len() == 3 && v.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(v.to_owned())
    } else {
        Err(err("currency", format!("must be three upper-case letters, got {v:?}")))
    }
}

fn parse_total(
    rest: &str,
    err: &impl Fn(&'static str, String) -> BillError,
) -> Result<SettlementTotal, BillError> {
    let f: Vec<&str> = rest.split(',').collect();
    if f.len() != 6 {
        return Err(err(
            "#TOTAL",
            format!("must have currency,gross,refunds,fees,net,count, has {} fields", f.len()),
        ));
    }
    let count = f[5].parse::<u64>().map_err(|_| err("count", format!("must be a count, got {:?}", f[5])))?;
    Ok(SettlementTotal {
        currency: currency(f[0], err)?,
        gross_minor: integer("gross", f[1], err)?,
        refunds_minor: integer("refunds", f[2], err)?,
        fees_minor: integer("fees", f[3], err)?,
        net_minor: integer("net", f[4], err)?,
        count,
    })
}

/// The items of a file arriving as `chunks` (an `Err` chunk is a broken download). The stream
/// ends after the first error.
pub fn items<S, B>(operation: &'static str, chunks: S) -> BillStream
where
    S: Stream<Item = Result<B, String>> + Send + 'static,
    B: AsRef<[u8]> + Send,
{
    struct State<S> {
        chunks: S,
        splitter: LineSplitter,
        ready: VecDeque<Result<BillItem, BillError>>,
        done: bool,
    }
    let state = State {
        chunks: Box::pin(chunks),
        splitter: LineSplitter::new(),
        ready: VecDeque::new(),
        done: false,
    };
    futures_util::stream::unfold(state, move |mut st| async move {
        loop {
            if let Some(item) = st.ready.pop_front() {
                if item.is_err() {
                    st.ready.clear();
                    st.done = true;
                }
                return Some((item, st));
            }
            if st.done {
                return None;
            }
            let ready = &mut st.ready;
            let mut push = |n: u64, line: &str| -> Result<(), BillError> {
                if let Some(item) = parse_line(n, line)? {
                    ready.push_back(Ok(item));
                }
                Ok(())
            };
            let fed = match st.chunks.next().await {
                Some(Ok(chunk)) => st.splitter.feed(chunk.as_ref(), &mut push),
                Some(Err(reason)) => {
                    Err(BillError::BrokeOff { operation, line: st.splitter.line_no, reason })
                }
                None => {
                    st.done = true;
                    let finished = st.splitter.finish(&mut push);
                    if finished.is_ok() && st.splitter.line_no == 0 {
                        Err(BillError::Line { line: 1, field: "header", rule: "the file is empty".into() })
                    } else {
                        finished
                    }
                }
            };
            if let Err(e) = fed {
                st.ready.push_back(Err(e));
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_totals_parse() {
        let l = "PAYMENT,abc,,2000000000000000001,,1250,8,JPY,SUCCEEDED,2026-01-01T00:00:05.123Z";
        let Some(BillItem::Line(line)) = parse_line(2, l).unwrap() else { panic!() };
        assert_eq!((line.amount_minor, line.fee_minor, line.succeeded), (1250, 8, true));
        assert_eq!(line.refund_trade_no, None);
        let Some(BillItem::Total(t)) = parse_line(9, "#TOTAL,JPY,3000,400,18,2582,3").unwrap() else {
            panic!()
        };
        assert_eq!((t.gross_minor, t.net_minor, t.count), (3000, 2582, 3));
        assert_eq!(parse_line(1, HEADER).unwrap(), None);
    }

    #[test]
    fn errors_name_the_line_and_the_field() {
        let e = parse_line(7, "PAYMENT,abc,,2,,12.50,8,JPY,SUCCEEDED,2026-01-01T00:00:05Z").unwrap_err();
        assert_eq!(e.to_string(), "line 7: amount: must be an integer of minor units, got \"12.50\"");
        let e = parse_line(3, "REFUND,abc,,2,3,10,0,JPY,SUCCEEDED,2026-01-01T00:00:05Z").unwrap_err();
        assert!(e.to_string().starts_with("line 3: refundId:"), "{e}");
        let e = parse_line(1, "type,orderId").unwrap_err();
        assert!(e.to_string().starts_with("line 1: header:"), "{e}");
    }

    #[tokio::test]
    async fn a_stream_of_odd_chunks_gives_every_line() {
        let file = format!(
            "{HEADER}\nPAYMENT,a,,2001,,100,1,CNY,SUCCEEDED,2026-01-01T00:00:00Z\nREFUND,a,r,2001,3001,40,0,CNY,SUCCEEDED,2026-01-01T00:00:01Z\n"
        );
        let chunks: Vec<Result<Vec<u8>, String>> =
            file.as_bytes().chunks(7).map(|c| Ok(c.to_vec())).collect();
        let got: Vec<_> = items("bill", futures_util::stream::iter(chunks)).collect().await;
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.iter().all(Result::is_ok));
        let broken: Vec<Result<Vec<u8>, String>> =
            vec![Ok(file.as_bytes()[..HEADER.len() + 10].to_vec()), Err("reset".into())];
        let got: Vec<_> = items("bill", futures_util::stream::iter(broken)).collect().await;
        assert!(matches!(got.last(), Some(Err(BillError::BrokeOff { line: 1, .. }))), "{got:?}");
    }
}
