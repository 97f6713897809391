//! WeChat Pay's trade bill (`GET /v3/bill/tradebill?bill_date=…&bill_type=ALL`), read line by line
//! into [`BillItem`]s (shared PROVIDERS.md, "Trade bill").
//!
//! - The API answers `{hash_type: "SHA1", hash_value, download_url}`; the file itself is not
//!   signed, so the SHA-1 of the downloaded bytes is computed as they stream and must equal
//!   `hash_value` ([`items`]; what WeChat's bill files share is in [`bill_file`]).
//! - The file is CSV: a header line (column names, read **by name**: [`TRADE_HEADER`] lists the
//!   ones documented, [`Columns`] finds those we read), then one line per payment or refund
//!   whose every field starts with a backtick (`` `2026-01-01 10:00:05 ``), then a totals
//!   trailer: the line [`TOTALS_HEADER`] (`总交易单数,…`) and one row of totals. Fields are read
//!   with the `csv` crate, so a quoted field may hold a comma.
//! - Amounts are yuan with at most 2 decimals, read exactly into fen (never a float); a refund
//!   line's fee is written negative (the fee given back) and kept as written. Times are Beijing
//!   time (`2026-01-01 10:00:05`, UTC+8) and become UTC.
//! - A `SUCCESS` line is a payment (amount: `订单金额`); a `REFUND` line is a refund (amount:
//!   `申请退款金额`, what we asked to refund; status: `退款状态`). Other trade states are kept
//!   with `succeeded = false`.
//! - The trailer is checked against the lines: the count and every total (settlement, refund,
//!   voucher refund, fee, order, requested refund). A file without a trailer, a trailer that
//!   disagrees, anything after it, or a hash that does not match is an error naming the line
//!   and the field. These checks can only end the stream (the file is not held whole), so a
//!   consumer must take an error at the end as failing the whole file, as reconciliation does.
//!
//! The fund-flow bill (the settlement, with fees) is [`super::fundflow`].

use super::bill_file::{self, LineParser, beijing_time, fields, unticked, yuan};
use crate::providers::bill::{BillError, BillItem, BillLine, BillLineKind, BillStream};
use futures_util::Stream;

/// The trade bill's documented columns, in the order WeChat Pay writes them.
pub const TRADE_HEADER: [&str; 27] = [
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
];

/// The trailer's header line.
pub const TOTALS_HEADER: [&str; 7] = [
    "总交易单数",
    "应结订单总金额",
    "退款总金额",
    "充值券退款总金额",
    "手续费总金额",
    "订单总金额",
    "申请退款总金额",
];

/// `trade_state` of a payment line and `refund_status` of a refund line whose money moved.
pub const SUCCESS: &str = "SUCCESS";
/// `trade_state` of a refund line.
pub const REFUND: &str = "REFUND";

/// The columns we read, by their place in this file's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    time: usize,
    transaction_id: usize,
    out_trade_no: usize,
    trade_state: usize,
    currency: usize,
    settlement: usize,
    refund_id: usize,
    out_refund_no: usize,
    refund: usize,
    voucher_refund: usize,
    refund_status: usize,
    fee: usize,
    order: usize,
    requested_refund: usize,
    width: usize,
}

impl Columns {
    /// Finds the columns in a header line; a missing one is named.
    pub fn from_header(line_no: u64, names: &[String]) -> Result<Self, BillError> {
        let find = |name: &'static str| {
            names.iter().position(|n| n.trim() == name).ok_or_else(|| BillError::Line {
                line: line_no,
                field: "header",
                rule: format!("must name the column {name} (got {})", names.join(",")),
            })
        };
        Ok(Self {
            time: find("交易时间")?,
            transaction_id: find("微信订单号")?,
            out_trade_no: find("商户订单号")?,
            trade_state: find("交易状态")?,
            currency: find("货币种类")?,
            settlement: find("应结订单金额")?,
            refund_id: find("微信退款单号")?,
            out_refund_no: find("商户退款单号")?,
            refund: find("退款金额")?,
            voucher_refund: find("充值券退款金额")?,
            refund_status: find("退款状态")?,
            fee: find("手续费")?,
            order: find("订单金额")?,
            requested_refund: find("申请退款金额")?,
            width: names.len(),
        })
    }
}

/// The sums the trailer is checked against, in fen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Sums {
    count: u64,
    settlement: i64,
    refund: i64,
    voucher_refund: i64,
    fee: i64,
    order: i64,
    requested_refund: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    Header,
    Lines(Columns),
    TotalsRow,
    Done,
}

/// The trade bill's parser: one line at a time, the state between lines (the header's columns,
/// the running sums) kept here.
#[derive(Debug)]
pub struct TradeBill {
    place: Place,
    sums: Sums,
}

impl Default for TradeBill {
    fn default() -> Self {
        Self::new()
    }
}

impl TradeBill {
    pub fn new() -> Self {
        Self { place: Place::Header, sums: Sums::default() }
    }

    /// Parses one line (`line_no` is 1-based). Blank lines give `None`.
    pub fn line(&mut self, line_no: u64, line: &str) -> Result<Option<BillItem>, BillError> {
        if line.trim().is_empty() {
            return Ok(None);
        }
        let raw = fields(line_no, line)?;
        match std::mem::replace(&mut self.place, Place::Done) {
            Place::Header => {
                let names: Vec<String> = raw.iter().map(|n| n.trim_start_matches('`').to_owned()).collect();
                self.place = Place::Lines(Columns::from_header(line_no, &names)?);
                Ok(None)
            }
            Place::Lines(columns) => {
                if raw.first().map(|f| f.trim_start_matches('`')) == Some(TOTALS_HEADER[0]) {
                    let names: Vec<&str> = raw.iter().map(|n| n.trim_start_matches('`')).collect();
                    if names != TOTALS_HEADER {
                        return Err(BillError::Line {
                            line: line_no,
                            field: "totals header",
                            rule: format!("must be {} (got {})", TOTALS_HEADER.join(","), names.join(",")),
                        });
                    }
                    self.place = Place::TotalsRow;
                    return Ok(None);
                }
                let item = self.data_line(line_no, &columns, &raw);
                self.place = Place::Lines(columns);
                item.map(Some)
            }
            Place::TotalsRow => {
                self.totals(line_no, &raw)?;
                Ok(None)
            }
            Place::Done => Err(BillError::Line {
                line: line_no,
                field: "line",
                rule: "nothing may follow the totals row".to_owned(),
            }),
        }
    }

    /// The end of the file: the trailer must have been there.
    pub fn finish(&self, last_line: u64) -> Result<(), BillError> {
        let missing = |what: &str| BillError::Line {
            line: last_line + 1,
            field: "totals",
            rule: format!("the file ends without {what}"),
        };
        match self.place {
            Place::Done => Ok(()),
            Place::Header => Err(missing("a header")),
            Place::Lines(_) => Err(missing("the totals trailer (总交易单数,…)")),
            Place::TotalsRow => Err(missing("the totals row")),
        }
    }

    fn data_line(&mut self, n: u64, c: &Columns, raw: &[String]) -> Result<BillItem, BillError> {
        if raw.len() != c.width {
            return Err(BillError::Line {
                line: n,
                field: "line",
                rule: format!("must have {} fields like the header, has {}", c.width, raw.len()),
            });
        }
        let get = |i: usize, field: &'static str| unticked(n, field, &raw[i]);
        let non_empty = |i: usize, field: &'static str| {
            let v = get(i, field)?;
            if v.trim().is_empty() {
                Err(BillError::Line { line: n, field, rule: "must not be empty".to_owned() })
            } else {
                Ok(v)
            }
        };
        let optional = |i: usize, field: &'static str| {
            get(i, field).map(|v| (!v.trim().is_empty() && v.trim() != "0").then(|| v.trim().to_owned()))
        };
        let completed_at = beijing_time(n, "交易时间", &get(c.time, "交易时间")?)?;
        let provider_txn_id = non_empty(c.transaction_id, "微信订单号")?;
        let trade_no = non_empty(c.out_trade_no, "商户订单号")?;
        let trade_state = non_empty(c.trade_state, "交易状态")?;
        let currency = non_empty(c.currency, "货币种类")?;
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(BillError::Line {
                line: n,
                field: "货币种类",
                rule: format!("must be three upper-case letters (got {currency:?})"),
            });
        }
        let settlement = yuan(n, "应结订单金额", &get(c.settlement, "应结订单金额")?)?;
        let refund = yuan(n, "退款金额", &get(c.refund, "退款金额")?)?;
        let voucher_refund = yuan(n, "充值券退款金额", &get(c.voucher_refund, "充值券退款金额")?)?;
        let fee = yuan(n, "手续费", &get(c.fee, "手续费")?)?;
        let order = yuan(n, "订单金额", &get(c.order, "订单金额")?)?;
        let requested_refund = yuan(n, "申请退款金额", &get(c.requested_refund, "申请退款金额")?)?;
        let sum = |a: i64, b: i64, field: &'static str| {
            a.checked_add(b).ok_or_else(|| BillError::Line {
                line: n,
                field,
                rule: "the total overflows".into(),
            })
        };
        self.sums = Sums {
            count: self.sums.count + 1,
            settlement: sum(self.sums.settlement, settlement, "应结订单金额")?,
            refund: sum(self.sums.refund, refund, "退款金额")?,
            voucher_refund: sum(self.sums.voucher_refund, voucher_refund, "充值券退款金额")?,
            fee: sum(self.sums.fee, fee, "手续费")?,
            order: sum(self.sums.order, order, "订单金额")?,
            requested_refund: sum(self.sums.requested_refund, requested_refund, "申请退款金额")?,
        };
        let line = if trade_state == REFUND {
            let refund_status = non_empty(c.refund_status, "退款状态")?;
            if requested_refund <= 0 {
                return Err(BillError::Line {
                    line: n,
                    field: "申请退款金额",
                    rule: format!("must be above 0 on a REFUND line (got {requested_refund} fen)"),
                });
            }
            BillLine {
                kind: BillLineKind::Refund,
                trade_no,
                refund_trade_no: Some(non_empty(c.out_refund_no, "商户退款单号")?),
                provider_txn_id,
                provider_refund_id: Some(non_empty(c.refund_id, "微信退款单号")?),
                amount_minor: requested_refund,
                fee_minor: fee,
                currency,
                succeeded: refund_status == SUCCESS,
                status: refund_status,
                completed_at,
            }
        } else {
            if order <= 0 {
                return Err(BillError::Line {
                    line: n,
                    field: "订单金额",
                    rule: format!("must be above 0 on a payment line (got {order} fen)"),
                });
            }
            if let Some(id) = optional(c.out_refund_no, "商户退款单号")? {
                return Err(BillError::Line {
                    line: n,
                    field: "商户退款单号",
                    rule: format!("must be empty on a {trade_state} line (got {id:?})"),
                });
            }
            BillLine {
                kind: BillLineKind::Payment,
                trade_no,
                refund_trade_no: None,
                provider_txn_id,
                provider_refund_id: None,
                amount_minor: order,
                fee_minor: fee,
                currency,
                succeeded: trade_state == SUCCESS,
                status: trade_state,
                completed_at,
            }
        };
        Ok(BillItem::Line(line))
    }

    fn totals(&mut self, n: u64, raw: &[String]) -> Result<(), BillError> {
        if raw.len() != TOTALS_HEADER.len() {
            return Err(BillError::Line {
                line: n,
                field: "totals",
                rule: format!("must have {} fields, has {}", TOTALS_HEADER.len(), raw.len()),
            });
        }
        let value = |i: usize, field: &'static str| unticked(n, field, &raw[i]);
        let count_text = value(0, "总交易单数")?;
        let count: u64 = count_text.parse().map_err(|_| BillError::Line {
            line: n,
            field: "总交易单数",
            rule: format!("must be a count (got {count_text:?})"),
        })?;
        let check = |field: &'static str, stated: i64, summed: i64| {
            if stated == summed {
                Ok(())
            } else {
                Err(BillError::Line {
                    line: n,
                    field,
                    rule: format!("states {stated} fen, the lines add up to {summed} fen"),
                })
            }
        };
        if count != self.sums.count {
            return Err(BillError::Line {
                line: n,
                field: "总交易单数",
                rule: format!("states {count} lines, the file has {}", self.sums.count),
            });
        }
        let sums = self.sums.clone();
        let fields: [(&'static str, i64); 6] = [
            ("应结订单总金额", sums.settlement),
            ("退款总金额", sums.refund),
            ("充值券退款总金额", sums.voucher_refund),
            ("手续费总金额", sums.fee),
            ("订单总金额", sums.order),
            ("申请退款总金额", sums.requested_refund),
        ];
        for (i, (field, summed)) in fields.into_iter().enumerate() {
            check(field, yuan(n, field, &value(i + 1, field)?)?, summed)?;
        }
        self.place = Place::Done;
        Ok(())
    }
}

impl LineParser for TradeBill {
    fn line(&mut self, line_no: u64, line: &str, emit: &mut dyn FnMut(BillItem)) -> Result<(), BillError> {
        TradeBill::line(self, line_no, line).map(|item| item.into_iter().for_each(emit))
    }

    fn finish(&mut self, last_line: u64, _emit: &mut dyn FnMut(BillItem)) -> Result<(), BillError> {
        TradeBill::finish(self, last_line)
    }
}

/// The items of a trade bill arriving as `chunks` (an `Err` chunk is a broken download), checked
/// at the end against `sha1_hex` (the API's `hash_value`, any case) when given
/// ([`bill_file::items`]). The stream ends after the first error.
pub fn items<S, B>(operation: &'static str, chunks: S, sha1_hex: Option<String>) -> BillStream
where
    S: Stream<Item = Result<B, String>> + Send + 'static,
    B: AsRef<[u8]> + Send,
{
    bill_file::items(operation, chunks, sha1_hex, TradeBill::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use sha1::{Digest, Sha1};

    const HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";
    const PAY: &str = "`2026-01-01 10:00:05,`wxd678efh567hg6787,`1900000109,`0,`,`4200000001,`t1,`oUser,`NATIVE,`SUCCESS,`OTHERS,`CNY,`19.99,`0.00,`0,`0,`0.00,`0.00,`,`,\"`coffee, beans\",`,`0.12,`0.60%,`19.99,`0.00,`";
    const REF: &str = "`2026-01-01 11:00:00,`wxd678efh567hg6787,`1900000109,`0,`,`4200000001,`t1,`oUser,`NATIVE,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50300001,`r1,`5.00,`0.00,`ORIGINAL,`SUCCESS,`coffee,`,`-0.03,`0.60%,`0.00,`5.00,`";
    const TOTALS_OK: &str = "`2,`19.99,`5.00,`0.00,`0.09,`19.99,`5.00";

    fn file(lines: &[&str]) -> String {
        let mut s = lines.join("\r\n");
        s.push_str("\r\n");
        s
    }

    fn good() -> String {
        file(&[HEADER, PAY, REF, &TOTALS_HEADER.join(","), TOTALS_OK])
    }

    fn sha1_hex(bytes: &[u8]) -> String {
        hex::encode(Sha1::digest(bytes)).to_uppercase()
    }

    async fn run(text: String, hash: Option<String>, chunk: usize) -> Vec<Result<BillItem, BillError>> {
        let chunks: Vec<Result<Vec<u8>, String>> =
            text.as_bytes().chunks(chunk).map(|c| Ok(c.to_vec())).collect();
        items("bill", futures_util::stream::iter(chunks), hash).collect().await
    }

    #[tokio::test]
    async fn a_good_bill_gives_its_lines_in_fen_and_utc() {
        let text = good();
        let hash = sha1_hex(text.as_bytes());
        let got = run(text, Some(hash), 5).await;
        assert_eq!(got.len(), 2, "{got:?}");
        let Ok(BillItem::Line(pay)) = &got[0] else { panic!("{got:?}") };
        assert_eq!((pay.kind, pay.amount_minor, pay.fee_minor), (BillLineKind::Payment, 1999, 12));
        assert_eq!((pay.trade_no.as_str(), pay.provider_txn_id.as_str()), ("t1", "4200000001"));
        assert_eq!(pay.completed_at.to_rfc3339(), "2026-01-01T02:00:05+00:00");
        assert!(pay.succeeded);
        let Ok(BillItem::Line(refund)) = &got[1] else { panic!("{got:?}") };
        assert_eq!((refund.kind, refund.amount_minor, refund.fee_minor), (BillLineKind::Refund, 500, -3));
        assert_eq!(refund.refund_trade_no.as_deref(), Some("r1"));
        assert_eq!(refund.provider_refund_id.as_deref(), Some("50300001"));
        assert!(refund.succeeded);
    }

    /// Some downloads open with a UTF-8 byte-order mark (the simulator's `billUtf8Bom`): the csv
    /// reader drops it, so the header's first name is still found.
    #[tokio::test]
    async fn a_bill_that_opens_with_a_byte_order_mark_reads_the_same() {
        let text = format!("\u{feff}{}", good());
        let hash = sha1_hex(text.as_bytes());
        let got = run(text, Some(hash), 3).await;
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.iter().all(Result::is_ok), "{got:?}");
    }

    #[tokio::test]
    async fn columns_are_read_by_name_whatever_their_order() {
        let mut header: Vec<&str> = HEADER.split(',').collect();
        header.swap(5, 6);
        let swap = |l: &str| {
            let mut f: Vec<String> = fields(1, l)
                .unwrap()
                .into_iter()
                .map(|f| if f.contains(',') { format!("\"{f}\"") } else { f })
                .collect();
            f.swap(5, 6);
            f.join(",")
        };
        let text = file(&[&header.join(","), &swap(PAY), &swap(REF), &TOTALS_HEADER.join(","), TOTALS_OK]);
        let got = run(text, None, 4096).await;
        let Ok(BillItem::Line(pay)) = &got[0] else { panic!("{got:?}") };
        assert_eq!((pay.trade_no.as_str(), pay.provider_txn_id.as_str()), ("t1", "4200000001"));
    }

    #[tokio::test]
    async fn a_hash_mismatch_is_an_error_at_the_end() {
        let got = run(good(), Some("0".repeat(40)), 64).await;
        let Some(Err(e)) = got.last() else { panic!("{got:?}") };
        assert!(matches!(e, BillError::Line { field: "hash_value", .. }), "{e}");
        assert!(e.to_string().contains("SHA-1"), "{e}");
    }

    #[tokio::test]
    async fn totals_that_disagree_or_are_missing_are_named() {
        let bad =
            file(&[HEADER, PAY, REF, &TOTALS_HEADER.join(","), "`2,`19.99,`5.00,`0.00,`0.10,`19.99,`5.00"]);
        let got = run(bad, None, 4096).await;
        let Some(Err(e)) = got.last() else { panic!("{got:?}") };
        assert_eq!(e.to_string(), "line 5: 手续费总金额: states 10 fen, the lines add up to 9 fen");
        let bad =
            file(&[HEADER, PAY, REF, &TOTALS_HEADER.join(","), "`3,`19.99,`5.00,`0.00,`0.09,`19.99,`5.00"]);
        let got = run(bad, None, 4096).await;
        assert!(got.last().unwrap().as_ref().unwrap_err().to_string().starts_with("line 5: 总交易单数:"));
        let got = run(file(&[HEADER, PAY]), None, 4096).await;
        let e = got.last().unwrap().as_ref().unwrap_err().to_string();
        assert!(e.contains("totals: the file ends without the totals trailer"), "{e}");
        let after = file(&[HEADER, PAY, REF, &TOTALS_HEADER.join(","), TOTALS_OK, PAY]);
        let got = run(after, None, 4096).await;
        assert!(got.last().unwrap().as_ref().unwrap_err().to_string().starts_with("line 6: line:"));
    }

    #[test]
    fn malformed_lines_name_the_line_and_the_field() {
        let mut p = TradeBill::new();
        p.line(1, HEADER).unwrap();
        let e = p.line(2, &PAY.replace("`19.99,`0.00,`0,`0", "`19.999,`0.00,`0,`0")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2: 应结订单金额: must be yuan with at most 2 decimals, such as 19.99 (got \"19.999\")"
        );
        let e = p.line(3, &PAY.replace("`2026-01-01 10:00:05", "`2026/01/01 10:00")).unwrap_err();
        assert!(e.to_string().starts_with("line 3: 交易时间: must be a Beijing time"), "{e}");
        let e = p.line(4, &PAY.replace("`4200000001", "4200000001")).unwrap_err();
        assert!(e.to_string().starts_with("line 4: 微信订单号: must start with a backtick"), "{e}");
        let e = p.line(5, &PAY.replace(",`t1,", ",`,")).unwrap_err();
        assert_eq!(e.to_string(), "line 5: 商户订单号: must not be empty");
        let e = p.line(6, "`2026-01-01 10:00:05,`x").unwrap_err();
        assert!(e.to_string().starts_with("line 6: line: must have 27 fields"), "{e}");
        let e = TradeBill::new().line(1, "交易时间,商户订单号").unwrap_err();
        assert!(e.to_string().starts_with("line 1: header: must name the column 微信订单号"), "{e}");
    }
}
