//! What WeChat Pay's bill files have in common, whichever bill they are (the trade bill,
//! [`super::bill`]; the fund-flow bill, [`super::fundflow`]): where the file is, how a line's
//! fields are written, and the stream that feeds a file through its line parser.
//!
//! - Both bill APIs answer `{hash_type: "SHA1", hash_value, download_url}` ([`BillLocation`]);
//!   the file itself is not signed (WeChat's "下载账单" page: the download's answer carries no
//!   signature), so the SHA-1 of the bytes is computed as they stream and must equal
//!   `hash_value` ([`items`]).
//! - Lines are CSV read with the `csv` crate (a quoted field may hold a comma, [`fields`]); every
//!   data field starts with a backtick ([`unticked`]) so that spreadsheets keep long numbers as
//!   text; amounts are yuan with at most 2 decimals, read exactly into fen ([`yuan`], never a
//!   float); times are Beijing time (`2026-01-01 10:00:05`, [`beijing_time`]).
//! - [`items`] holds one chunk and one partial line ([`LineSplitter`]) plus what the parser
//!   itself holds; memory stays bounded whatever the file's length.

use crate::domain::{Currency, Money};
use crate::providers::bill::{BillError, BillItem, BillStream, LineSplitter};
use chrono::{DateTime, NaiveDateTime, Utc};
use futures_util::{Stream, StreamExt};
use sha1::{Digest, Sha1};
use std::collections::VecDeque;

/// Where the day's bill is: the bill API's answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct BillLocation {
    pub hash_type: String,
    pub hash_value: String,
    pub download_url: String,
}

/// A bill's parser, fed one line at a time; it keeps the state between lines itself.
pub trait LineParser: Send + 'static {
    /// Parses line `line_no` (1-based), handing every item it completes to `emit` (none, one,
    /// or several: a parser may hold a line back until a later one completes it).
    fn line(&mut self, line_no: u64, line: &str, emit: &mut dyn FnMut(BillItem)) -> Result<(), BillError>;

    /// The end of the file after `last_line` lines: the trailer must have been there; items
    /// still held are handed out.
    fn finish(&mut self, last_line: u64, emit: &mut dyn FnMut(BillItem)) -> Result<(), BillError>;
}

/// The fields of one CSV line (a quoted field may hold a comma).
pub fn fields(line_no: u64, line: &str) -> Result<Vec<String>, BillError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(line.as_bytes());
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(true) => Ok(record.iter().map(str::to_owned).collect()),
        Ok(false) => Ok(Vec::new()),
        Err(e) => Err(BillError::Line { line: line_no, field: "line", rule: format!("must be CSV ({e})") }),
    }
}

/// A data field without its leading backtick.
pub fn unticked(line_no: u64, field: &'static str, raw: &str) -> Result<String, BillError> {
    raw.strip_prefix('`').map(str::to_owned).ok_or_else(|| BillError::Line {
        line: line_no,
        field,
        rule: format!("must start with a backtick (got {raw:?})"),
    })
}

/// Yuan with at most 2 decimals (optionally negative) as fen.
pub fn yuan(line_no: u64, field: &'static str, v: &str) -> Result<i64, BillError> {
    let (negative, digits) = match v.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, v),
    };
    let fen = Money::parse(digits, Currency::CNY).map(Money::minor_units).map_err(|_| BillError::Line {
        line: line_no,
        field,
        rule: format!("must be yuan with at most 2 decimals, such as 19.99 (got {v:?})"),
    })?;
    Ok(if negative { -fen } else { fen })
}

/// `yyyy-MM-dd HH:mm:ss`, Beijing time, as UTC.
pub fn beijing_time(line_no: u64, field: &'static str, v: &str) -> Result<DateTime<Utc>, BillError> {
    let naive = NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S").map_err(|_| BillError::Line {
        line: line_no,
        field,
        rule: format!("must be a Beijing time such as 2026-01-01 10:00:05 (got {v:?})"),
    })?;
    Ok(naive
        .and_local_timezone(super::transformers::beijing())
        .single()
        .expect("a fixed offset")
        .with_timezone(&Utc))
}

/// The items of a bill file arriving as `chunks` (an `Err` chunk is a broken download), parsed by
/// `parser` and checked at the end against `sha1_hex` (the API's `hash_value`, any case) when
/// given. The stream ends after the first error; the checks at the end (trailer, hash) can only
/// end it, so a consumer must take an error at the end as failing the whole file, as
/// reconciliation does.
pub fn items<S, B, P>(operation: &'static str, chunks: S, sha1_hex: Option<String>, parser: P) -> BillStream
where
    S: Stream<Item = Result<B, String>> + Send + 'static,
    B: AsRef<[u8]> + Send,
    P: LineParser,
{
    struct State<S, P> {
        chunks: S,
        splitter: LineSplitter,
        parser: P,
        hasher: Sha1,
        expected: Option<String>,
        ready: VecDeque<Result<BillItem, BillError>>,
        done: bool,
    }
    let state = State {
        chunks: Box::pin(chunks),
        splitter: LineSplitter::new(),
        parser,
        hasher: Sha1::new(),
        expected: sha1_hex,
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
            let parser = &mut st.parser;
            let mut emit = |item: BillItem| ready.push_back(Ok(item));
            let fed = match st.chunks.next().await {
                Some(Ok(chunk)) => {
                    st.hasher.update(chunk.as_ref());
                    st.splitter.feed(chunk.as_ref(), |n, line| parser.line(n, line, &mut emit))
                }
                Some(Err(reason)) => Err(BillError::BrokeOff { operation, line: st.splitter.line_no, reason }),
                None => {
                    st.done = true;
                    let line_no = st.splitter.line_no;
                    let finished = st
                        .splitter
                        .finish(|n, line| parser.line(n, line, &mut emit))
                        .and_then(|()| parser.finish(st.splitter.line_no, &mut emit));
                    finished.and_then(|()| {
                        let Some(expected) = &st.expected else { return Ok(()) };
                        let got = hex::encode(std::mem::take(&mut st.hasher).finalize());
                        if got.eq_ignore_ascii_case(expected.trim()) {
                            Ok(())
                        } else {
                            Err(BillError::Line {
                                line: line_no.max(st.splitter.line_no),
                                field: "hash_value",
                                rule: format!(
                                    "the file's SHA-1 is {got}, the bill API said {expected}: the download is not the bill"
                                ),
                            })
                        }
                    })
                }
            };
            if let Err(e) = fed {
                st.ready.push_back(Err(e));
            }
        }
    })
    .boxed()
}
