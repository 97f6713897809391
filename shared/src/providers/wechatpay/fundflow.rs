//! WeChat Pay's fund-flow bill (资金账单, `GET /v3/bill/fundflowbill?bill_date=…&account_type=BASIC`):
//! the settlement. Every movement of money in the merchant's basic account on one day, read line
//! by line into [`BillItem`]s: payment and refund lines with their fees attached, then one checked
//! [`SettlementTotal`] in CNY fen.
//!
//! What is confirmed, and where (docs/providers/wechatpay.md, "Settlement", has the same list):
//!
//! - The API: `GET /v3/bill/fundflowbill` with `bill_date` (yyyy-MM-dd) and `account_type`
//!   (`BASIC` default, `OPERATION`, `FEES`), answering `{hash_type: "SHA1", hash_value,
//!   download_url}`; the file is downloaded from `download_url` with a signed GET and is not
//!   signed itself (WeChat Pay's "申请资金账单API" and "下载账单API" pages,
//!   pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter4_2_7.shtml and chapter4_5_8.shtml). So it is
//!   read like the trade bill ([`super::bill_file`]): streamed, SHA-1 checked at the end.
//! - The file (WeChat Pay's "资金账单结构说明",
//!   pay.weixin.qq.com/docs/merchant/products/bill-download/structure/fund-bill.html): the header
//!   [`HEADER`]; then one line per movement, every value prefixed with a backtick; then the
//!   totals title [`TOTALS_HEADER`] and one row of totals. Its example line is a refund:
//!   `` `2018-02-01 04:21:23,`50000305742018020103387128253,`1900009231201802015884652186,`退款,
//!   `退款,`支出,`0.02,`0.17,`system,`缺货,`REF4200000068201801293084726067 ``, and its totals row
//!   `` `20.0,`17.0,`0.35,`3.0,`0.18 `` writes counts with a `.0` ([`count`]).
//! - The amount is written positive, its direction in `收支类型` (收入 income, 支出 expense:
//!   [`DIRECTIONS`]), as the example's 支出 line of `0.02` shows. Negative amounts are refused.
//!
//! What is **not** confirmed by WeChat Pay's pages (only by third-party code reading such files,
//! so it is written down here and in [`BUSINESS_TYPES`], and a file that breaks it fails loudly):
//!
//! - The `业务类型` values other than 退款: 交易 (a payment), 扣除交易手续费 (its fee), 退回交易手续费
//!   (the fee given back with a refund). Any other value (a withdrawal, an adjustment…) is an
//!   error naming the line and `业务类型`, never skipped: money we cannot place must not vanish.
//! - What `业务凭证号` carries: read here as our `out_trade_no` on a payment line (and on its fee
//!   line) and our `out_refund_no` on a refund line. WeChat's example `REF4200000068201801293084726067`
//!   fits a merchant's refund number but is not said to be one. A payment line is matched by
//!   reconciliation on `微信支付业务单号` (the transaction id) as well, so a payment survives a
//!   wrong guess; a refund line would show as "a refund we never asked for".
//! - `微信支付业务单号`: the transaction id on payment and fee lines, the refund id on refund lines
//!   (the example's `5000…` is a refund id's shape).
//! - The header's parentheses: WeChat's page shows `收支金额(元)`, SDKs' copies `收支金额（元）`;
//!   both are accepted (columns are found by name, either width).
//!
//! How lines become items:
//!
//! - A 交易 line is a payment line (`trade_no` 业务凭证号, `provider_txn_id` 微信支付业务单号); a 退款
//!   line a refund line (`refund_trade_no` 业务凭证号, `provider_refund_id` 微信支付业务单号). The fund
//!   flow does not name a refund's payment, so a refund line's `trade_no` and `provider_txn_id`
//!   are empty ("the file does not say"; reconciliation then does not check the refund's order).
//!   Every line is booked money, so `succeeded` is true and `status` is the 业务类型.
//! - A fee line is attached to its line: 扣除交易手续费 adds to the fee of the payment line with the
//!   same 微信支付业务单号 (or else the same 业务凭证号); 退回交易手续费 subtracts from the refund
//!   line's (a fee given back is negative, as in the trade bill). So a line is held back until
//!   [`HOLD`] later lines have passed or the trailer comes; a fee line whose line is no longer
//!   held (or never was: booked another day) counts in the totals only, and reconciliation sees
//!   the payment's fee as missing.
//! - The trailer is checked against the lines: 资金流水总笔数, 收入笔数 / 收入金额, 支出笔数 / 支出金额.
//!   Then the held lines are handed out, and the [`SettlementTotal`]: gross = the payments,
//!   refunds = the refunds, fees = fees taken minus fees given back, net = gross − refunds − fees,
//!   count = payment and refund lines. A file without a trailer, a trailer that disagrees,
//!   anything after it, or a hash that does not match is an error naming the line and the field.
//! - `账户结余` (the balance after the line) must be yuan but is not checked against a running
//!   sum: the file's order is not documented to be booking order.
//!
//! Not read: the `OPERATION` and `FEES` accounts (a merchant whose fees are charged to a separate
//! fee account has no fee lines in `BASIC`; its fees then show as missing), and `tar_type=GZIP`.

use super::bill_file::{LineParser, beijing_time, fields, unticked, yuan};
use crate::providers::bill::{BillError, BillItem, BillLine, BillLineKind, SettlementTotal};
use std::collections::VecDeque;

/// The detail header, as WeChat Pay's page lists it (parentheses of either width are accepted).
pub const HEADER: [&str; 11] = [
    "记账时间",
    "微信支付业务单号",
    "资金流水单号",
    "业务名称",
    "业务类型",
    "收支类型",
    "收支金额（元）",
    "账户结余（元）",
    "资金变更提交申请人",
    "备注",
    "业务凭证号",
];

/// The totals title line.
pub const TOTALS_HEADER: [&str; 5] = ["资金流水总笔数", "收入笔数", "收入金额", "支出笔数", "支出金额"];

/// The currency of the basic account (the file has no currency column).
pub const CURRENCY: &str = "CNY";

/// How many payment and refund lines are held back waiting for their fee lines.
pub const HOLD: usize = 256;

/// Which way a line's money goes (`收支类型`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Income,
    Expense,
}

/// `收支类型` → direction (WeChat Pay's page: the example's 支出; 收入 is named by its totals).
pub const DIRECTIONS: [(&str, Direction); 2] = [("收入", Direction::Income), ("支出", Direction::Expense)];

/// What a `业务类型` is to a settlement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Business {
    /// Money taken for a payment: a payment line.
    Payment,
    /// Money returned for a refund: a refund line.
    Refund,
    /// The fee taken for a payment: added to that payment line's fee.
    Fee,
    /// The fee given back with a refund: that refund line's fee, negative.
    FeeReturned,
}

/// One `业务类型` the parser knows: what it is, which way its money must go, and how sure we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusinessType {
    pub name: &'static str,
    pub business: Business,
    pub direction: Direction,
    pub source: &'static str,
}

/// Every `业务类型` read; any other is an error naming the line.
pub const BUSINESS_TYPES: [BusinessType; 4] = [
    BusinessType {
        name: "交易",
        business: Business::Payment,
        direction: Direction::Income,
        source: "unconfirmed: third-party code reading fund-flow files",
    },
    BusinessType {
        name: "退款",
        business: Business::Refund,
        direction: Direction::Expense,
        source: "WeChat Pay's 资金账单结构说明 (its example line)",
    },
    BusinessType {
        name: "扣除交易手续费",
        business: Business::Fee,
        direction: Direction::Expense,
        source: "unconfirmed: third-party code reading fund-flow files",
    },
    BusinessType {
        name: "退回交易手续费",
        business: Business::FeeReturned,
        direction: Direction::Income,
        source: "unconfirmed: third-party code reading fund-flow files",
    },
];

/// The `业务类型` called `name`, if known.
pub fn business_type(name: &str) -> Option<&'static BusinessType> {
    BUSINESS_TYPES.iter().find(|t| t.name == name)
}

/// A header name with full-width parentheses made ASCII (the page and the SDKs differ).
fn normalise(name: &str) -> String {
    name.trim().trim_start_matches('`').replace('（', "(").replace('）', ")")
}

/// A count as the totals row writes it: `20` or `20.0`.
pub fn count(line_no: u64, field: &'static str, v: &str) -> Result<u64, BillError> {
    let whole = v.split_once('.').map_or(Some(v), |(w, frac)| frac.bytes().all(|b| b == b'0').then_some(w));
    whole
        .filter(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| BillError::Line {
            line: line_no,
            field,
            rule: format!("must be a whole count such as 20 or 20.0 (got {v:?})"),
        })
}

/// The columns we read, by their place in this file's header.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Columns {
    time: usize,
    business_no: usize,
    business_type: usize,
    direction: usize,
    amount: usize,
    balance: usize,
    voucher_no: usize,
    width: usize,
}

impl Columns {
    fn from_header(line_no: u64, names: &[String]) -> Result<Self, BillError> {
        let normalised: Vec<String> = names.iter().map(|n| normalise(n)).collect();
        let find = |name: &'static str| {
            let wanted = normalise(name);
            normalised.iter().position(|n| *n == wanted).ok_or_else(|| BillError::Line {
                line: line_no,
                field: "header",
                rule: format!("must name the column {name} (got {})", names.join(",")),
            })
        };
        Ok(Self {
            time: find(HEADER[0])?,
            business_no: find(HEADER[1])?,
            business_type: find(HEADER[4])?,
            direction: find(HEADER[5])?,
            amount: find(HEADER[6])?,
            balance: find(HEADER[7])?,
            voucher_no: find(HEADER[10])?,
            width: names.len(),
        })
    }
}

/// What the trailer is checked against, and what the settlement total is made of (fen).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Sums {
    lines: u64,
    income_lines: u64,
    income: i64,
    expense_lines: u64,
    expense: i64,
    payments: u64,
    gross: i64,
    refunds_count: u64,
    refunds: i64,
    fees: i64,
}

/// A payment or refund line held back for its fee line.
#[derive(Debug, Clone)]
struct Held {
    line: BillLine,
    business_no: String,
    voucher_no: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    Header,
    Lines(Columns),
    TotalsRow,
    Done,
}

/// The fund-flow bill's parser: one line at a time; it keeps the header's columns, the running
/// sums and at most [`HOLD`] lines waiting for their fees.
#[derive(Debug)]
pub struct FundFlowBill {
    place: Place,
    sums: Sums,
    held: VecDeque<Held>,
}

impl Default for FundFlowBill {
    fn default() -> Self {
        Self::new()
    }
}

impl FundFlowBill {
    pub fn new() -> Self {
        Self { place: Place::Header, sums: Sums::default(), held: VecDeque::new() }
    }

    fn data_line(
        &mut self,
        n: u64,
        c: &Columns,
        raw: &[String],
        emit: &mut dyn FnMut(BillItem),
    ) -> Result<(), BillError> {
        let err = |field: &'static str, rule: String| BillError::Line { line: n, field, rule };
        if raw.len() != c.width {
            return Err(err(
                "line",
                format!("must have {} fields like the header, has {}", c.width, raw.len()),
            ));
        }
        let get = |i: usize, field: &'static str| unticked(n, field, &raw[i]).map(|v| v.trim().to_owned());
        let non_empty = |i: usize, field: &'static str| {
            let v = get(i, field)?;
            if v.is_empty() { Err(err(field, "must not be empty".to_owned())) } else { Ok(v) }
        };
        let completed_at = beijing_time(n, "记账时间", &get(c.time, "记账时间")?)?;
        let business_no = non_empty(c.business_no, "微信支付业务单号")?;
        let type_name = non_empty(c.business_type, "业务类型")?;
        let known = business_type(&type_name).ok_or_else(|| {
            let names: Vec<&str> = BUSINESS_TYPES.iter().map(|t| t.name).collect();
            err("业务类型", format!("must be one of {} (got {type_name:?})", names.join(", ")))
        })?;
        let direction_name = non_empty(c.direction, "收支类型")?;
        let direction = DIRECTIONS
            .iter()
            .find(|(name, _)| *name == direction_name)
            .map(|(_, d)| *d)
            .ok_or_else(|| err("收支类型", format!("must be 收入 or 支出 (got {direction_name:?})")))?;
        if direction != known.direction {
            return Err(err(
                "收支类型",
                format!(
                    "must be {} on a {type_name} line (got {direction_name})",
                    direction_word(known.direction)
                ),
            ));
        }
        let amount = yuan(n, "收支金额(元)", &get(c.amount, "收支金额(元)")?)?;
        if amount < 0 {
            return Err(err(
                "收支金额(元)",
                format!("must not be negative: 收支类型 gives the direction (got {amount} fen)"),
            ));
        }
        yuan(n, "账户结余(元)", &get(c.balance, "账户结余(元)")?)?;
        let voucher_no = get(c.voucher_no, "业务凭证号")?;
        self.add(n, direction, known.business, amount)?;
        let line = |kind, voucher: String| {
            let (trade_no, refund_trade_no, provider_txn_id, provider_refund_id) = match kind {
                BillLineKind::Payment => (voucher, None, business_no.clone(), None),
                _ => (String::new(), Some(voucher), String::new(), Some(business_no.clone())),
            };
            BillLine {
                kind,
                trade_no,
                refund_trade_no,
                provider_txn_id,
                provider_refund_id,
                amount_minor: amount,
                fee_minor: 0,
                currency: CURRENCY.to_owned(),
                status: type_name.clone(),
                succeeded: true,
                completed_at,
            }
        };
        match known.business {
            Business::Payment | Business::Refund => {
                if amount == 0 {
                    return Err(err("收支金额(元)", format!("must be above 0 on a {type_name} line")));
                }
                let kind = if known.business == Business::Payment {
                    BillLineKind::Payment
                } else {
                    BillLineKind::Refund
                };
                if voucher_no.is_empty() {
                    return Err(err("业务凭证号", format!("must not be empty on a {type_name} line")));
                }
                let line = line(kind, voucher_no.clone());
                self.held.push_back(Held { line, business_no: business_no.clone(), voucher_no });
                if self.held.len() > HOLD
                    && let Some(oldest) = self.held.pop_front()
                {
                    emit(BillItem::Line(oldest.line));
                }
            }
            Business::Fee | Business::FeeReturned => {
                let (kind, fee) = if known.business == Business::Fee {
                    (BillLineKind::Payment, amount)
                } else {
                    (BillLineKind::Refund, -amount)
                };
                let of = |h: &&mut Held| {
                    h.line.kind == kind
                        && (h.business_no == business_no
                            || (!voucher_no.is_empty() && h.voucher_no == voucher_no))
                };
                if let Some(h) = self.held.iter_mut().rev().find(of) {
                    h.line.fee_minor = h
                        .line
                        .fee_minor
                        .checked_add(fee)
                        .ok_or_else(|| err("收支金额(元)", "the fee overflows".into()))?;
                }
            }
        }
        Ok(())
    }

    /// Adds a line's money to the sums.
    fn add(
        &mut self,
        n: u64,
        direction: Direction,
        business: Business,
        amount: i64,
    ) -> Result<(), BillError> {
        let over =
            |field: &'static str| BillError::Line { line: n, field, rule: "the total overflows".into() };
        let s = &mut self.sums;
        s.lines += 1;
        match direction {
            Direction::Income => {
                s.income_lines += 1;
                s.income = s.income.checked_add(amount).ok_or_else(|| over("收入金额"))?;
            }
            Direction::Expense => {
                s.expense_lines += 1;
                s.expense = s.expense.checked_add(amount).ok_or_else(|| over("支出金额"))?;
            }
        }
        match business {
            Business::Payment => {
                s.payments += 1;
                s.gross = s.gross.checked_add(amount).ok_or_else(|| over("收支金额(元)"))?;
            }
            Business::Refund => {
                s.refunds_count += 1;
                s.refunds = s.refunds.checked_add(amount).ok_or_else(|| over("收支金额(元)"))?;
            }
            Business::Fee => s.fees = s.fees.checked_add(amount).ok_or_else(|| over("收支金额(元)"))?,
            Business::FeeReturned => {
                s.fees = s.fees.checked_sub(amount).ok_or_else(|| over("收支金额(元)"))?
            }
        }
        Ok(())
    }

    /// Checks the totals row against the lines; then hands out the held lines and the total.
    fn totals(&mut self, n: u64, raw: &[String], emit: &mut dyn FnMut(BillItem)) -> Result<(), BillError> {
        let err = |field: &'static str, rule: String| BillError::Line { line: n, field, rule };
        if raw.len() != TOTALS_HEADER.len() {
            return Err(err(
                "totals",
                format!("must have {} fields, has {}", TOTALS_HEADER.len(), raw.len()),
            ));
        }
        // WeChat's page shows the totals row both with and without backticks.
        let value = |i: usize| raw[i].trim().trim_start_matches('`').to_owned();
        let s = self.sums.clone();
        let counts = [(0, s.lines), (1, s.income_lines), (3, s.expense_lines)];
        for (i, summed) in counts {
            let stated = count(n, TOTALS_HEADER[i], &value(i))?;
            if stated != summed {
                return Err(err(TOTALS_HEADER[i], format!("states {stated} lines, the file has {summed}")));
            }
        }
        for (i, summed) in [(2, s.income), (4, s.expense)] {
            let stated = yuan(n, TOTALS_HEADER[i], &value(i))?;
            if stated != summed {
                return Err(err(
                    TOTALS_HEADER[i],
                    format!("states {stated} fen, the lines add up to {summed} fen"),
                ));
            }
        }
        let net = s
            .gross
            .checked_sub(s.refunds)
            .and_then(|v| v.checked_sub(s.fees))
            .ok_or_else(|| err("totals", "the net amount overflows".into()))?;
        for held in self.held.drain(..) {
            emit(BillItem::Line(held.line));
        }
        emit(BillItem::Total(SettlementTotal {
            currency: CURRENCY.to_owned(),
            gross_minor: s.gross,
            refunds_minor: s.refunds,
            fees_minor: s.fees,
            net_minor: net,
            count: s.payments + s.refunds_count,
        }));
        self.place = Place::Done;
        Ok(())
    }
}

fn direction_word(d: Direction) -> &'static str {
    DIRECTIONS.iter().find(|(_, x)| *x == d).map_or("", |(name, _)| name)
}

impl LineParser for FundFlowBill {
    fn line(&mut self, line_no: u64, line: &str, emit: &mut dyn FnMut(BillItem)) -> Result<(), BillError> {
        if line.trim().is_empty() {
            return Ok(());
        }
        let raw = fields(line_no, line)?;
        match std::mem::replace(&mut self.place, Place::Done) {
            Place::Header => {
                self.place = Place::Lines(Columns::from_header(line_no, &raw)?);
                Ok(())
            }
            Place::Lines(columns) => {
                if raw.first().map(|f| normalise(f)).as_deref() == Some(TOTALS_HEADER[0]) {
                    let names: Vec<String> = raw.iter().map(|n| normalise(n)).collect();
                    if names != TOTALS_HEADER {
                        return Err(BillError::Line {
                            line: line_no,
                            field: "totals header",
                            rule: format!("must be {} (got {})", TOTALS_HEADER.join(","), names.join(",")),
                        });
                    }
                    self.place = Place::TotalsRow;
                    return Ok(());
                }
                let done = self.data_line(line_no, &columns, &raw, emit);
                self.place = Place::Lines(columns);
                done
            }
            Place::TotalsRow => self.totals(line_no, &raw, emit),
            Place::Done => Err(BillError::Line {
                line: line_no,
                field: "line",
                rule: "nothing may follow the totals row".to_owned(),
            }),
        }
    }

    fn finish(&mut self, last_line: u64, _emit: &mut dyn FnMut(BillItem)) -> Result<(), BillError> {
        let missing = |what: &str| BillError::Line {
            line: last_line + 1,
            field: "totals",
            rule: format!("the file ends without {what}"),
        };
        match self.place {
            Place::Done => Ok(()),
            Place::Header => Err(missing("a header")),
            Place::Lines(_) => Err(missing("the totals trailer (资金流水总笔数,…)")),
            Place::TotalsRow => Err(missing("the totals row")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::bill::BillStream;
    use crate::providers::wechatpay::bill_file;
    use futures_util::StreamExt;
    use sha1::{Digest, Sha1};

    const PAY: &str = "`2026-01-01 10:00:05,`4200000001,`1900000109202601010001,`交易,`交易,`收入,`19.99,`19.99,`system,`,`t1";
    const FEE: &str = "`2026-01-01 10:00:05,`4200000001,`1900000109202601010002,`扣除交易手续费,`扣除交易手续费,`支出,`0.12,`19.87,`system,`,`t1";
    const PAY2: &str = "`2026-01-01 10:30:00,`4200000002,`1900000109202601010003,`交易,`交易,`收入,`10.00,`29.87,`system,\"`a, note\",`t2";
    const REF: &str = "`2026-01-01 11:00:00,`50300001,`1900000109202601010004,`退款,`退款,`支出,`5.00,`24.87,`system,`缺货,`r1";
    const FEE_BACK: &str = "`2026-01-01 11:00:00,`50300001,`1900000109202601010005,`退回交易手续费,`退回交易手续费,`收入,`0.03,`24.90,`system,`,`r1";
    const TOTALS_OK: &str = "`5.0,`3.0,`30.02,`2.0,`5.12";

    fn header() -> String {
        HEADER.join(",")
    }

    fn file(lines: &[&str]) -> String {
        let mut s = lines.join("\r\n");
        s.push_str("\r\n");
        s
    }

    fn good() -> String {
        file(&[&header(), PAY, FEE, PAY2, REF, FEE_BACK, &TOTALS_HEADER.join(","), TOTALS_OK])
    }

    fn stream(text: &str, hash: Option<String>, chunk: usize) -> BillStream {
        let chunks: Vec<Result<Vec<u8>, String>> =
            text.as_bytes().chunks(chunk).map(|c| Ok(c.to_vec())).collect();
        bill_file::items("settlement", futures_util::stream::iter(chunks), hash, FundFlowBill::new())
    }

    async fn run(text: &str, hash: Option<String>, chunk: usize) -> Vec<Result<BillItem, BillError>> {
        stream(text, hash, chunk).collect().await
    }

    fn last_error(got: &[Result<BillItem, BillError>]) -> String {
        match got.last() {
            Some(Err(e)) => e.to_string(),
            other => panic!("an error at the end, got {other:?} in {got:?}"),
        }
    }

    #[tokio::test]
    async fn a_good_file_gives_lines_with_their_fees_and_a_checked_total() {
        let text = good();
        let hash = hex::encode(Sha1::digest(text.as_bytes()));
        let got = run(&text, Some(hash.to_uppercase()), 7).await;
        let items: Vec<BillItem> = got.into_iter().map(|i| i.expect("every item parses")).collect();
        assert_eq!(items.len(), 4, "{items:?}");
        let BillItem::Line(pay) = &items[0] else { panic!("{items:?}") };
        assert_eq!((pay.kind, pay.amount_minor, pay.fee_minor), (BillLineKind::Payment, 1999, 12));
        assert_eq!((pay.trade_no.as_str(), pay.provider_txn_id.as_str()), ("t1", "4200000001"));
        assert_eq!((pay.currency.as_str(), pay.status.as_str(), pay.succeeded), ("CNY", "交易", true));
        assert_eq!(pay.completed_at.to_rfc3339(), "2026-01-01T02:00:05+00:00");
        let BillItem::Line(pay2) = &items[1] else { panic!("{items:?}") };
        assert_eq!((pay2.trade_no.as_str(), pay2.amount_minor, pay2.fee_minor), ("t2", 1000, 0));
        let BillItem::Line(refund) = &items[2] else { panic!("{items:?}") };
        assert_eq!((refund.kind, refund.amount_minor, refund.fee_minor), (BillLineKind::Refund, 500, -3));
        assert_eq!(refund.refund_trade_no.as_deref(), Some("r1"));
        assert_eq!(refund.provider_refund_id.as_deref(), Some("50300001"));
        assert_eq!((refund.trade_no.as_str(), refund.provider_txn_id.as_str()), ("", ""));
        let BillItem::Total(t) = &items[3] else { panic!("{items:?}") };
        assert_eq!(
            t,
            &SettlementTotal {
                currency: "CNY".into(),
                gross_minor: 2999,
                refunds_minor: 500,
                fees_minor: 9,
                net_minor: 2490,
                count: 3,
            }
        );
        assert_eq!(t.net_minor + t.fees_minor, t.gross_minor - t.refunds_minor);
    }

    /// WeChat's page writes the header with ASCII parentheses, SDKs with full-width ones; the
    /// totals row with or without backticks and counts with or without `.0`.
    #[tokio::test]
    async fn header_parentheses_of_either_width_and_plain_totals_are_read() {
        let ascii = header().replace('（', "(").replace('）', ")");
        let text = file(&[&ascii, PAY, FEE, &TOTALS_HEADER.join(","), "2,1,19.99,1,0.12"]);
        let got = run(&text, None, 4096).await;
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.iter().all(Result::is_ok), "{got:?}");
    }

    #[tokio::test]
    async fn a_fee_line_is_attached_wherever_its_payment_is_held() {
        // The fee comes after another payment, and finds its own by 微信支付业务单号.
        let text = file(&[&header(), PAY, PAY2, FEE, &TOTALS_HEADER.join(","), "`3,`2,`29.99,`1,`0.12"]);
        let got = run(&text, None, 4096).await;
        let fees: Vec<(String, i64)> = got
            .iter()
            .filter_map(|i| match i {
                Ok(BillItem::Line(l)) => Some((l.trade_no.clone(), l.fee_minor)),
                _ => None,
            })
            .collect();
        assert_eq!(fees, vec![("t1".to_owned(), 12), ("t2".to_owned(), 0)]);
    }

    #[tokio::test]
    async fn a_bad_trailer_is_named() {
        let bad = file(&[
            &header(),
            PAY,
            FEE,
            PAY2,
            REF,
            FEE_BACK,
            &TOTALS_HEADER.join(","),
            "`5.0,`3.0,`30.02,`2.0,`5.13",
        ]);
        let got = run(&bad, None, 4096).await;
        assert_eq!(last_error(&got), "line 8: 支出金额: states 513 fen, the lines add up to 512 fen");
        assert!(
            !got.iter().any(|i| matches!(i, Ok(BillItem::Total(_)))),
            "no total from a bad trailer: {got:?}"
        );
        let bad = file(&[
            &header(),
            PAY,
            FEE,
            PAY2,
            REF,
            FEE_BACK,
            &TOTALS_HEADER.join(","),
            "`6.0,`3.0,`30.02,`2.0,`5.12",
        ]);
        let got = run(&bad, None, 4096).await;
        assert_eq!(last_error(&got), "line 8: 资金流水总笔数: states 6 lines, the file has 5");
        let bad = file(&[
            &header(),
            PAY,
            FEE,
            PAY2,
            REF,
            FEE_BACK,
            &TOTALS_HEADER.join(","),
            "`5.5,`3.0,`30.02,`2.0,`5.12",
        ]);
        let got = run(&bad, None, 4096).await;
        assert!(last_error(&got).starts_with("line 8: 资金流水总笔数: must be a whole count"), "{got:?}");
        let got = run(&file(&[&header(), PAY, FEE]), None, 4096).await;
        assert!(last_error(&got).contains("totals: the file ends without the totals trailer"), "{got:?}");
        let after = file(&[&header(), PAY, FEE, &TOTALS_HEADER.join(","), "`2,`1,`19.99,`1,`0.12", PAY]);
        let got = run(&after, None, 4096).await;
        assert_eq!(last_error(&got), "line 6: line: nothing may follow the totals row");
    }

    #[tokio::test]
    async fn a_bad_hash_is_an_error_at_the_end() {
        let got = run(&good(), Some("0".repeat(40)), 64).await;
        let e = last_error(&got);
        assert!(e.starts_with("line 8: hash_value: the file's SHA-1 is"), "{e}");
    }

    #[test]
    fn bad_fields_name_the_line_and_the_field() {
        let mut p = FundFlowBill::new();
        let mut sink = |_: BillItem| {};
        p.line(1, &header(), &mut sink).unwrap();
        let e = p.line(2, &PAY.replace("`19.99", "`19.999"), &mut sink).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2: 收支金额(元): must be yuan with at most 2 decimals, such as 19.99 (got \"19.999\")"
        );
        let e = p.line(3, &PAY.replace("`19.99", "`-19.99"), &mut sink).unwrap_err();
        assert!(e.to_string().starts_with("line 3: 收支金额(元): must not be negative"), "{e}");
        let e = p.line(4, &PAY.replace("`交易,`收入", "`交易,`支出"), &mut sink).unwrap_err();
        assert_eq!(e.to_string(), "line 4: 收支类型: must be 收入 on a 交易 line (got 支出)");
        let e = p.line(5, &PAY.replace("`交易,`交易", "`提现,`提现"), &mut sink).unwrap_err();
        assert!(e.to_string().starts_with("line 5: 业务类型: must be one of 交易, 退款"), "{e}");
        let e = p.line(6, &PAY.replace(",`t1", ",`"), &mut sink).unwrap_err();
        assert_eq!(e.to_string(), "line 6: 业务凭证号: must not be empty on a 交易 line");
        let e = p.line(7, &PAY.replace("`2026-01-01 10:00:05", "`2026/01/01"), &mut sink).unwrap_err();
        assert!(e.to_string().starts_with("line 7: 记账时间: must be a Beijing time"), "{e}");
        let e = p.line(8, &PAY.replace("`4200000001", "4200000001"), &mut sink).unwrap_err();
        assert!(e.to_string().starts_with("line 8: 微信支付业务单号: must start with a backtick"), "{e}");
        let e = p.line(9, "`2026-01-01 10:00:05,`x", &mut sink).unwrap_err();
        assert!(e.to_string().starts_with("line 9: line: must have 11 fields"), "{e}");
        let e = FundFlowBill::new().line(1, "记账时间,业务类型", &mut sink).unwrap_err();
        assert!(e.to_string().starts_with("line 1: header: must name the column 微信支付业务单号"), "{e}");
    }

    #[test]
    fn counts_are_whole_numbers_with_an_optional_zero_fraction() {
        assert_eq!(count(1, "n", "20.0").unwrap(), 20);
        assert_eq!(count(1, "n", "20").unwrap(), 20);
        assert_eq!(count(1, "n", "0.00").unwrap(), 0);
        for bad in ["", ".0", "2.5", "-1", "1e3", "二"] {
            assert!(count(1, "n", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_business_type_has_one_entry_and_a_direction_word() {
        for t in BUSINESS_TYPES {
            assert_eq!(BUSINESS_TYPES.iter().filter(|u| u.name == t.name).count(), 1, "{}", t.name);
            assert!(!direction_word(t.direction).is_empty());
        }
    }
}
