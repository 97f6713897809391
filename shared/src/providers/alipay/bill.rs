//! Alipay's trade bill (`bill_type=trade`, ../shared/PROVIDERS.md "Bill"): a ZIP of GBK-encoded
//! CSV files, read into our [`BillLine`]s (docs/architecture.md, decision 12).
//!
//! - The ZIP holds a detail file (`…_业务明细.csv`) and a summary (`…_业务明细(汇总).csv`). The
//!   lines come from the detail file. The summary's totals (its `合计` row, or the sum of its
//!   per-store rows when it has none) are checked against the detail once it is read: the
//!   number of payments (交易订单总笔数) and refunds (退款订单总笔数), and the signed sums of
//!   订单金额（元） and 服务费（元）. A bill that disagrees with itself is an error
//!   ([`BillError::Line`], field `summary`), after the detail's last line. Entry names are GBK
//!   when the ZIP does not flag them UTF-8.
//! - A ZIP keeps its directory at its end, so the download is first written to a file (or any
//!   `Read + Seek`); the entry is then read line by line, each line decoded from GBK on its own
//!   (GBK's bytes after a lead byte are never `\n`, so cutting at `\n` first is safe). Memory
//!   holds one line, whatever the file's length; a line longer than [`MAX_LINE`] bytes (a broken
//!   or hostile file) is an error rather than a buffer that grows without end.
//! - `#` lines are comments (the title, the account, the period; the `#-----…` lines that open
//!   and close the list; the totals and export time after it). The first other line is the
//!   header, and columns are found by name (a bill with more or fewer columns, or another order,
//!   reads the same). Fields are trimmed of the spaces and tabs Alipay pads them with.
//! - 业务类型 (type): `交易` is a payment, `退款` a refund. Amounts are yuan, refunds negative: the
//!   line keeps the absolute value in fen, its kind says the direction. 服务费（元） (fee) is read
//!   the same way. 完成时间 (completed) is Beijing time, kept in UTC.
//! - A line that does not read is a [`BillError::Line`] naming its line number in the detail
//!   file and the column (by our name for it: `amount`, `completed_at`, …), and the rule.
//!
//! Not read: 商家实收 (what the merchant received after discounts) and the summary's other
//! columns: reconciliation compares the order amount and the fee.

use crate::providers::bill::{BillError, BillItem, BillLine, BillLineKind, BillStream};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use rust_decimal::Decimal;
use std::io::{BufRead, BufReader, Read, Seek};
use std::str::FromStr;

/// How the detail file's name ends.
pub const DETAIL_SUFFIX: &str = "_业务明细.csv";
/// How the summary file's name ends.
pub const SUMMARY_SUFFIX: &str = "_业务明细(汇总).csv";
/// The longest line read, in bytes (Alipay's lines are a few hundred).
pub const MAX_LINE: usize = 64 * 1024;

/// What a bill's lines add up to, as the file writes them: amounts and fees in signed fen
/// (refunds negative; fees as signed in the file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub payments: u64,
    pub refunds: u64,
    pub amount_fen: i64,
    pub fee_fen: i64,
}

impl Totals {
    /// The number of lines (payments and refunds).
    pub fn lines(&self) -> u64 {
        self.payments + self.refunds
    }

    fn describe(&self) -> String {
        format!(
            "{} payments, {} refunds, 订单金额 {} fen, 服务费 {} fen",
            self.payments, self.refunds, self.amount_fen, self.fee_fen
        )
    }
}

/// The summary file's columns read: (our name for errors, Alipay's header).
mod summary_columns {
    pub const PAYMENTS: (&str, &str) = ("payments", "交易订单总笔数");
    pub const REFUNDS: (&str, &str) = ("refunds", "退款订单总笔数");
    pub const AMOUNT: (&str, &str) = ("amount", "订单金额（元）");
    pub const FEE: (&str, &str) = ("fee", "服务费（元）");
    pub const ALL: [(&str, &str); 4] = [PAYMENTS, REFUNDS, AMOUNT, FEE];
}

/// The columns read, by their header names: (our name for errors, Alipay's header).
pub mod columns {
    pub const TXN_ID: (&str, &str) = ("provider_txn_id", "支付宝交易号");
    pub const TRADE_NO: (&str, &str) = ("trade_no", "商户订单号");
    pub const KIND: (&str, &str) = ("kind", "业务类型");
    pub const COMPLETED_AT: (&str, &str) = ("completed_at", "完成时间");
    pub const AMOUNT: (&str, &str) = ("amount", "订单金额（元）");
    pub const REFUND_NO: (&str, &str) = ("refund_trade_no", "退款批次号/请求号");
    pub const FEE: (&str, &str) = ("fee", "服务费（元）");
    pub const ALL: [(&str, &str); 7] = [TXN_ID, TRADE_NO, KIND, COMPLETED_AT, AMOUNT, REFUND_NO, FEE];
}

/// Where each column is in the header.
#[derive(Debug, Clone)]
struct Header {
    index: [usize; 7],
}

impl Header {
    fn read(line: u64, fields: &[String]) -> Result<Self, BillError> {
        let mut index = [0; 7];
        for (i, (ours, theirs)) in columns::ALL.iter().enumerate() {
            index[i] = fields.iter().position(|f| f == theirs).ok_or_else(|| BillError::Line {
                line,
                field: ours,
                rule: format!("the header must have a column {theirs:?} (it has {})", fields.join(",")),
            })?;
        }
        Ok(Self { index })
    }

    fn get<'a>(&self, fields: &'a [String], column: (&'static str, &'static str)) -> &'a str {
        let i = columns::ALL.iter().position(|c| *c == column).expect("a column of ALL");
        fields.get(self.index[i]).map_or("", String::as_str)
    }
}

/// Reads the trade bill ZIP in `zip`, handing each line of the detail file to `each` as it is
/// read, then checks the summary's totals against the lines; returns what the lines add up to.
/// Stops at the first error, of the file or of `each`.
pub fn read_zip<R: Read + Seek>(
    zip: R,
    mut each: impl FnMut(BillItem) -> Result<(), BillError>,
) -> Result<Totals, BillError> {
    let file_error = |rule: String| BillError::Line { line: 0, field: "file", rule };
    let mut archive =
        zip::ZipArchive::new(zip).map_err(|e| file_error(format!("must be a ZIP archive ({e})")))?;
    let mut detail = None;
    let mut summary = None;
    let mut names = Vec::new();
    for i in 0..archive.len() {
        let entry =
            archive.by_index_raw(i).map_err(|e| file_error(format!("entry {i} is unreadable ({e})")))?;
        let name = entry_name(entry.name_raw());
        if name.ends_with(DETAIL_SUFFIX) {
            if detail.is_some() {
                return Err(file_error(format!(
                    "must hold one detail file (…{DETAIL_SUFFIX}); it holds two"
                )));
            }
            detail = Some(i);
        } else if name.ends_with(SUMMARY_SUFFIX) {
            if summary.is_some() {
                return Err(file_error(format!(
                    "must hold one summary file (…{SUMMARY_SUFFIX}); it holds two"
                )));
            }
            summary = Some(i);
        }
        names.push(name);
    }
    let Some(detail) = detail else {
        return Err(file_error(format!(
            "must hold a detail file (…{DETAIL_SUFFIX}); it holds {}",
            names.join(", ")
        )));
    };
    let Some(summary) = summary else {
        return Err(file_error(format!(
            "must hold a summary file (…{SUMMARY_SUFFIX}); it holds {}",
            names.join(", ")
        )));
    };
    let entry =
        archive.by_index(detail).map_err(|e| file_error(format!("the detail file is unreadable ({e})")))?;
    let lines = read_detail(BufReader::new(entry), &mut each)?;
    let entry =
        archive.by_index(summary).map_err(|e| file_error(format!("the summary file is unreadable ({e})")))?;
    let stated = read_summary(BufReader::new(entry))?;
    if stated != lines {
        return Err(BillError::Line {
            line: 0,
            field: "summary",
            rule: format!(
                "the summary file states {}, but the detail file's lines add up to {}: the bill disagrees with itself",
                stated.describe(),
                lines.describe()
            ),
        });
    }
    Ok(lines)
}

/// Reads one line of at most [`MAX_LINE`] bytes into `raw` (cleared first), without its `\r\n`
/// or `\n`; `false` at the end of the file. `file` names the file in errors.
fn next_line(
    reader: &mut impl BufRead,
    raw: &mut Vec<u8>,
    line_no: u64,
    file: &str,
) -> Result<bool, BillError> {
    raw.clear();
    let limit = u64::try_from(MAX_LINE).unwrap_or(u64::MAX) + 1;
    let n = reader.by_ref().take(limit).read_until(b'\n', raw).map_err(|e| BillError::Line {
        line: line_no + 1,
        field: "line",
        rule: format!("the {file} file could not be read ({e})"),
    })?;
    if n == 0 {
        return Ok(false);
    }
    if raw.last() == Some(&b'\n') {
        raw.pop();
    } else if raw.len() > MAX_LINE {
        return Err(BillError::Line {
            line: line_no + 1,
            field: "line",
            rule: format!("a line of the {file} file must be at most {MAX_LINE} bytes"),
        });
    }
    if raw.last() == Some(&b'\r') {
        raw.pop();
    }
    Ok(true)
}

/// Decodes one GBK line.
fn gbk_line(bytes: &[u8], line_no: u64) -> Result<std::borrow::Cow<'_, str>, BillError> {
    encoding_rs::GBK
        .decode_without_bom_handling_and_without_replacement(bytes)
        .ok_or_else(|| BillError::Line { line: line_no, field: "line", rule: "must be GBK text".to_owned() })
}

/// Reads the summary CSV (GBK): the `合计` (total) row's counts and sums, or the sum of its rows
/// when it has no such row.
pub fn read_summary(mut reader: impl BufRead) -> Result<Totals, BillError> {
    let invalid = |rule: String| BillError::Line { line: 0, field: "summary", rule };
    let mut raw = Vec::new();
    let mut line_no: u64 = 0;
    let mut index: Option<[usize; 4]> = None;
    let mut sum = Totals::default();
    let mut total = None;
    while next_line(&mut reader, &mut raw, line_no, "summary")? {
        line_no += 1;
        let text = gbk_line(&raw, line_no)?;
        if text.trim().is_empty() || text.starts_with('#') {
            continue;
        }
        let fields = split_csv(line_no, &text)?;
        let Some(index) = &index else {
            let mut found = [0; 4];
            for (i, (_, theirs)) in summary_columns::ALL.iter().enumerate() {
                found[i] = fields.iter().position(|f| f == theirs).ok_or_else(|| {
                    invalid(format!(
                        "the summary file's header (line {line_no}) must have a column {theirs:?} (it has {})",
                        fields.join(",")
                    ))
                })?;
            }
            index = Some(found);
            continue;
        };
        let get = |i: usize| fields.get(index[i]).map_or("", String::as_str);
        let count = |i: usize| {
            get(i).parse::<u64>().map_err(|_| {
                invalid(format!(
                    "line {line_no} of the summary file: {} must be a count (got {:?})",
                    summary_columns::ALL[i].1,
                    get(i)
                ))
            })
        };
        let money = |i: usize| match get(i) {
            "" => Ok(0),
            v => fen(line_no, summary_columns::ALL[i], v)
                .map_err(|e| invalid(format!("line {line_no} of the summary file: {e}"))),
        };
        let row =
            Totals { payments: count(0)?, refunds: count(1)?, amount_fen: money(2)?, fee_fen: money(3)? };
        if fields.iter().take(2).any(|f| f == "合计") {
            if total.is_some() {
                return Err(invalid("the summary file has two 合计 (total) rows".to_owned()));
            }
            total = Some(row);
        } else {
            sum.payments += row.payments;
            sum.refunds += row.refunds;
            sum.amount_fen += row.amount_fen;
            sum.fee_fen += row.fee_fen;
        }
    }
    if index.is_none() {
        return Err(invalid(
            "the summary file has no header line, so its totals cannot be checked".to_owned(),
        ));
    }
    Ok(total.unwrap_or(sum))
}

/// An entry's name: UTF-8 if it is, else GBK (Alipay's ZIPs do not flag their names UTF-8).
fn entry_name(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(name) => name.to_owned(),
        Err(_) => encoding_rs::GBK.decode_without_bom_handling(raw).0.into_owned(),
    }
}

/// Reads the detail CSV (GBK) line by line.
pub fn read_detail(
    mut reader: impl BufRead,
    each: &mut impl FnMut(BillItem) -> Result<(), BillError>,
) -> Result<Totals, BillError> {
    let mut raw = Vec::new();
    let mut line_no: u64 = 0;
    let mut header: Option<Header> = None;
    let mut totals = Totals::default();
    while next_line(&mut reader, &mut raw, line_no, "detail")? {
        line_no += 1;
        let text = gbk_line(&raw, line_no)?;
        if text.trim().is_empty() || text.starts_with('#') {
            continue;
        }
        let fields = split_csv(line_no, &text)?;
        match &header {
            None => header = Some(Header::read(line_no, &fields)?),
            Some(h) => {
                let (parsed, amount, fee) = line(line_no, h, &fields)?;
                match parsed.kind {
                    BillLineKind::Payment => totals.payments += 1,
                    _ => totals.refunds += 1,
                }
                totals.amount_fen = totals.amount_fen.saturating_add(amount);
                totals.fee_fen = totals.fee_fen.saturating_add(fee);
                each(BillItem::Line(parsed))?;
            }
        }
    }
    if header.is_none() {
        return Err(BillError::Line {
            line: line_no,
            field: "header",
            rule: "the detail file has no header line".to_owned(),
        });
    }
    Ok(totals)
}

/// One detail line, with its amount and fee in signed fen as written.
fn line(line_no: u64, header: &Header, fields: &[String]) -> Result<(BillLine, i64, i64), BillError> {
    let invalid = |field: &'static str, rule: String| BillError::Line { line: line_no, field, rule };
    let required = |column: (&'static str, &'static str)| {
        let value = header.get(fields, column);
        if value.is_empty() {
            Err(invalid(column.0, format!("{} must not be empty", column.1)))
        } else {
            Ok(value)
        }
    };
    let kind = match required(columns::KIND)? {
        "交易" => BillLineKind::Payment,
        "退款" => BillLineKind::Refund,
        other => return Err(invalid(columns::KIND.0, format!("must be 交易 or 退款 (got {other:?})"))),
    };
    let amount = fen(line_no, columns::AMOUNT, required(columns::AMOUNT)?)?;
    let fee = match header.get(fields, columns::FEE) {
        "" => 0,
        value => fen(line_no, columns::FEE, value)?,
    };
    if kind == BillLineKind::Refund && amount > 0 {
        return Err(invalid(
            columns::AMOUNT.0,
            format!("a refund's amount must be negative (got {amount} fen)"),
        ));
    }
    if kind == BillLineKind::Payment && amount < 0 {
        return Err(invalid(
            columns::AMOUNT.0,
            format!("a payment's amount must not be negative (got {amount} fen)"),
        ));
    }
    let refund_no = header.get(fields, columns::REFUND_NO);
    let refund_no = (kind == BillLineKind::Refund)
        .then(|| {
            if refund_no.is_empty() {
                Err(invalid(
                    columns::REFUND_NO.0,
                    format!("{} must not be empty on a refund", columns::REFUND_NO.1),
                ))
            } else {
                Ok(refund_no.to_owned())
            }
        })
        .transpose()?;
    let parsed = BillLine {
        kind,
        trade_no: required(columns::TRADE_NO)?.to_owned(),
        // Alipay has no refund id of its own: the refund is known by our request number.
        provider_refund_id: refund_no.clone(),
        refund_trade_no: refund_no,
        provider_txn_id: required(columns::TXN_ID)?.to_owned(),
        amount_minor: amount.abs(),
        fee_minor: fee.abs(),
        currency: "CNY".to_owned(),
        status: required(columns::KIND)?.to_owned(),
        // The bill lists completed business only.
        succeeded: true,
        completed_at: beijing(line_no, required(columns::COMPLETED_AT)?)?,
    };
    Ok((parsed, amount, fee))
}

/// A signed yuan amount (`-12.34`, `5`, `0.5`) in fen, exactly.
fn fen(line: u64, column: (&'static str, &'static str), value: &str) -> Result<i64, BillError> {
    let invalid = |rule: String| BillError::Line { line, field: column.0, rule };
    let digits = value.strip_prefix('-').unwrap_or(value);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || !all_digits(fraction) || fraction.len() > 2 {
        return Err(invalid(format!(
            "{} must be yuan with at most 2 decimals, such as -12.34 (got {value:?})",
            column.1
        )));
    }
    let yuan =
        Decimal::from_str(value).map_err(|e| invalid(format!("{} is not a decimal ({e})", column.1)))?;
    i64::try_from((yuan * Decimal::ONE_HUNDRED).trunc())
        .map_err(|_| invalid(format!("{} is too large (got {value:?})", column.1)))
}

/// A Beijing time `yyyy-MM-dd HH:mm:ss`, in UTC.
fn beijing(line: u64, value: &str) -> Result<DateTime<Utc>, BillError> {
    let naive = NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S").map_err(|_| BillError::Line {
        line,
        field: columns::COMPLETED_AT.0,
        rule: format!(
            "{} must be a Beijing time yyyy-MM-dd HH:mm:ss (got {value:?})",
            columns::COMPLETED_AT.1
        ),
    })?;
    let offset = crate::providers::provider_day::china_standard_time();
    Ok(offset
        .from_local_datetime(&naive)
        .single()
        .expect("a fixed offset maps every local time once")
        .with_timezone(&Utc))
}

/// Splits one CSV line into trimmed fields; a field may be quoted (`"a,b"`, `""` for a quote).
fn split_csv(line: u64, text: &str) -> Result<Vec<String>, BillError> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (false, ',') => fields.push(std::mem::take(&mut field).trim().to_owned()),
            (_, c) => field.push(c),
        }
    }
    if quoted {
        return Err(BillError::Line { line, field: "line", rule: "a quoted field is not closed".to_owned() });
    }
    fields.push(field.trim().to_owned());
    Ok(fields)
}

/// The lines of the bill ZIP at `path`, read on a blocking thread and streamed (at most 64 lines
/// wait in between). The file is removed once read when `remove` is set.
pub fn stream_file(path: std::path::PathBuf, remove: bool) -> BillStream {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<BillItem, BillError>>(64);
    tokio::task::spawn_blocking(move || {
        let result = std::fs::File::open(&path)
            .map_err(|e| BillError::Line { line: 0, field: "file", rule: format!("cannot be opened ({e})") })
            .and_then(|file| {
                read_zip(std::io::BufReader::new(file), |item| {
                    tx.blocking_send(Ok(item)).map_err(|_| BillError::Line {
                        line: 0,
                        field: "file",
                        rule: "the reader went away".to_owned(),
                    })
                })
                .map(|_| ())
            });
        if let Err(e) = result {
            let _ = tx.blocking_send(Err(e));
        }
        if remove {
            let _ = std::fs::remove_file(&path);
        }
    });
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    const HEADER: &str = "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注";

    fn detail(rows: &[&str]) -> String {
        let mut text = String::from(
            "#支付宝业务明细查询\r\n#账号：[20880000000000000156]\r\n#起始日期：[2026年01月01日 00:00:00]   终止日期：[2026年01月02日 00:00:00]\r\n#-----------------------------------------业务明细列表----------------------------------------\r\n",
        );
        text.push_str(HEADER);
        text.push_str("\r\n");
        for row in rows {
            text.push_str(row);
            text.push_str("\r\n");
        }
        text.push_str("#-----------------------------------------业务明细列表结束------------------------------------\r\n#交易合计：1笔，退款合计：1笔\r\n#导出时间：[2026年01月02日 09:00:00]\r\n");
        text
    }

    const PAY: &str = "2026010122001400001\t,0190a1b2c3d4e5f60718293a4b5c6d7e\t,交易,测试商品,2026-01-01 10:00:00,2026-01-01 10:00:05,,,,,buyer@example.com,123.45,123.45,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,,-0.74,0.00,";
    const REFUND: &str = "2026010122001400001\t,0190a1b2c3d4e5f60718293a4b5c6d7e\t,退款,测试商品,2026-01-01 10:00:00,2026-01-01 12:30:00,,,,,buyer@example.com,-23.45,-23.45,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,0190a1b2c3d4e5f60718293a4b5c6d7f,0.14,0.00,";

    fn gbk(text: &str) -> Vec<u8> {
        let (bytes, _, unmappable) = encoding_rs::GBK.encode(text);
        assert!(!unmappable);
        bytes.into_owned()
    }

    fn zip_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options =
            zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in files {
            out.start_file(*name, options).unwrap();
            out.write_all(bytes).unwrap();
        }
        out.finish().unwrap().into_inner()
    }

    const SUMMARY_HEADER: &str = "门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝优惠（元）,商家优惠（元）,卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）";

    fn yuan(fen: i64) -> String {
        let sign = if fen < 0 { "-" } else { "" };
        format!("{sign}{}.{:02}", fen.abs() / 100, fen.abs() % 100)
    }

    /// A summary file stating `t`, on a store row and the 合计 row.
    fn summary(t: Totals) -> String {
        let row = |name: &str| {
            format!(
                "{name},,{},{},{},{},0.00,0.00,0.00,{},0.00,{}\r\n",
                t.payments,
                t.refunds,
                yuan(t.amount_fen),
                yuan(t.amount_fen),
                yuan(t.fee_fen),
                yuan(t.amount_fen + t.fee_fen)
            )
        };
        format!(
            "#支付宝业务汇总查询\r\n#账号：[20880000000000000156]\r\n#-----业务汇总列表-----\r\n{SUMMARY_HEADER}\r\n{}{}#-----业务汇总列表结束-----\r\n#导出时间：[2026年01月02日 09:00:00]\r\n",
            row("S1"),
            row("合计")
        )
    }

    /// A bill whose summary agrees with `detail_text` (zeros when the detail does not read).
    fn bill(detail_text: &str) -> Vec<u8> {
        let totals = read_detail(Cursor::new(gbk(detail_text)), &mut |_| Ok(())).unwrap_or_default();
        bill_with(detail_text, &summary(totals))
    }

    fn bill_with(detail_text: &str, summary_text: &str) -> Vec<u8> {
        zip_of(&[
            ("20880000000000000156_20260101_业务明细.csv", gbk(detail_text)),
            ("20880000000000000156_20260101_业务明细(汇总).csv", gbk(summary_text)),
        ])
    }

    fn read(bytes: Vec<u8>) -> Result<Vec<BillLine>, BillError> {
        let mut lines = Vec::new();
        read_zip(Cursor::new(bytes), |item| {
            match item {
                BillItem::Line(l) => lines.push(l),
                BillItem::Total(_) => unreachable!(),
            }
            Ok(())
        })?;
        Ok(lines)
    }

    #[test]
    fn payments_and_negative_refunds_become_lines_in_fen_and_utc() {
        let lines = read(bill(&detail(&[PAY, REFUND]))).unwrap();
        assert_eq!(lines.len(), 2);
        let pay = &lines[0];
        assert_eq!(pay.kind, BillLineKind::Payment);
        assert_eq!(pay.trade_no, "0190a1b2c3d4e5f60718293a4b5c6d7e");
        assert_eq!(pay.provider_txn_id, "2026010122001400001");
        assert_eq!((pay.amount_minor, pay.fee_minor), (12345, 74));
        assert_eq!(pay.completed_at, "2026-01-01T02:00:05Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(pay.refund_trade_no, None);
        let refund = &lines[1];
        assert_eq!(refund.kind, BillLineKind::Refund);
        assert_eq!((refund.amount_minor, refund.fee_minor), (2345, 14));
        assert_eq!(refund.refund_trade_no.as_deref(), Some("0190a1b2c3d4e5f60718293a4b5c6d7f"));
        assert_eq!(refund.currency, "CNY");
    }

    #[test]
    fn columns_are_found_by_name_in_any_order() {
        let header =
            "完成时间,业务类型,服务费（元）,订单金额（元）,商户订单号,支付宝交易号,退款批次号/请求号";
        let text = format!("#a\n{header}\n2026-01-01 08:00:00,交易,0,1.5,t1,a1,\n#end\n");
        let lines = read(bill(&text)).unwrap();
        assert_eq!((lines[0].amount_minor, lines[0].trade_no.as_str()), (150, "t1"));
        assert_eq!(lines[0].completed_at, "2026-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap());
    }

    #[test]
    fn malformed_lines_name_the_line_and_the_field() {
        let bad_amount = PAY.replace(",123.45,123.45,", ",12.345,123.45,");
        let e = read(bill(&detail(&[PAY, &bad_amount]))).unwrap_err();
        assert!(matches!(&e, BillError::Line { line: 7, field: "amount", .. }), "{e}");
        assert!(e.to_string().starts_with("line 7: amount: 订单金额（元） must be yuan"), "{e}");
        let bad_time = PAY.replace("2026-01-01 10:00:05", "2026/01/01 10:00");
        let e = read(bill(&detail(&[&bad_time]))).unwrap_err();
        assert!(matches!(&e, BillError::Line { line: 6, field: "completed_at", .. }), "{e}");
        let bad_kind = PAY.replace(",交易,", ",转账,");
        let e = read(bill(&detail(&[&bad_kind]))).unwrap_err();
        assert_eq!(e.to_string(), "line 6: kind: must be 交易 or 退款 (got \"转账\")");
        let positive_refund = REFUND.replace(",-23.45,", ",23.45,");
        let e = read(bill(&detail(&[&positive_refund]))).unwrap_err();
        assert!(matches!(&e, BillError::Line { line: 6, field: "amount", .. }), "{e}");
        let e = read(bill("#x\n支付宝交易号,商户订单号\n")).unwrap_err();
        assert!(matches!(&e, BillError::Line { line: 2, field: "kind", .. }), "{e}");
        // A byte sequence that is not GBK.
        let mut bytes = gbk(&detail(&[PAY]));
        bytes.extend_from_slice(b"\x81\x20,broken\r\n");
        let zip = zip_of(&[("a_业务明细.csv", bytes), ("a_业务明细(汇总).csv", Vec::new())]);
        let e = read(zip).unwrap_err();
        assert_eq!(e.to_string(), "line 10: line: must be GBK text");
    }

    #[test]
    fn the_archive_must_hold_the_detail_and_summary_files() {
        let e = read(b"not a zip".to_vec()).unwrap_err();
        assert!(e.to_string().starts_with("line 0: file: must be a ZIP archive"), "{e}");
        let e = read(zip_of(&[("x_业务明细(汇总).csv", Vec::new())])).unwrap_err();
        assert!(e.to_string().contains("must hold a detail file"), "{e}");
        let e = read(zip_of(&[("x_业务明细.csv", gbk(&detail(&[PAY])))])).unwrap_err();
        assert!(e.to_string().contains("must hold a summary file"), "{e}");
    }

    #[test]
    fn the_summary_totals_are_checked_against_the_detail() {
        let agreed = Totals { payments: 1, refunds: 1, amount_fen: 10000, fee_fen: -60 };
        let totals = read_zip(Cursor::new(bill(&detail(&[PAY, REFUND]))), |_| Ok(())).unwrap();
        assert_eq!(totals, agreed);
        // Each disagreement: a count, the amounts, the fees.
        for stated in [
            Totals { payments: 2, ..agreed },
            Totals { refunds: 0, ..agreed },
            Totals { amount_fen: 10001, ..agreed },
            Totals { fee_fen: -74, ..agreed },
        ] {
            let zip = bill_with(&detail(&[PAY, REFUND]), &summary(stated));
            let mut seen = 0;
            let e = read_zip(Cursor::new(zip), |_| {
                seen += 1;
                Ok(())
            })
            .unwrap_err();
            assert!(matches!(&e, BillError::Line { field: "summary", .. }), "{e}");
            assert!(e.to_string().contains("the bill disagrees with itself"), "{e}");
            assert_eq!(seen, 2, "the lines come first; the check follows the last");
        }
        // Without a 合计 row, the store rows are summed.
        let text = summary(agreed);
        let no_total: String =
            text.lines().filter(|l| !l.starts_with("合计")).map(|l| format!("{l}\r\n")).collect();
        let e = read_zip(Cursor::new(bill_with(&detail(&[PAY, REFUND]), &no_total)), |_| Ok(()));
        assert_eq!(e.unwrap(), agreed);
        // A summary without its header cannot be checked.
        let e =
            read_zip(Cursor::new(bill_with(&detail(&[PAY]), "#支付宝业务汇总查询\r\n")), |_| Ok(()))
                .unwrap_err();
        assert!(e.to_string().contains("the summary file has no header line"), "{e}");
    }

    #[test]
    fn an_endless_line_is_an_error_not_a_growing_buffer() {
        let mut text = detail(&[PAY]);
        text.push_str(&"9".repeat(MAX_LINE + 10));
        let e = read(bill_with(&text, &summary(Totals::default()))).unwrap_err();
        assert!(e.to_string().contains("must be at most"), "{e}");
    }

    #[test]
    fn quoted_fields_and_gbk_names() {
        assert_eq!(split_csv(1, r#"a, "b,c" ,"d""e""#).unwrap(), ["a", "b,c", "d\"e"]);
        assert!(split_csv(1, r#"a,"b"#).is_err());
        assert_eq!(entry_name(&gbk("x_业务明细.csv")), "x_业务明细.csv");
    }

    #[tokio::test]
    async fn a_file_is_streamed_line_by_line() {
        use futures_util::StreamExt;
        let path = std::env::temp_dir().join(format!("paygate-alipay-bill-{}.zip", std::process::id()));
        std::fs::write(&path, bill(&detail(&[PAY, REFUND]))).unwrap();
        let items: Vec<_> = stream_file(path.clone(), true).collect().await;
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(Result::is_ok));
        assert!(!path.exists(), "removed once read");
    }
}
