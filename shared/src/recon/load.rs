//! Loading a provider's lines into `recon_lines` with COPY, in chunks committed together with the
//! batch's resume cursor (`recon_batches.lines_loaded`).
//!
//! Each chunk is one transaction: `COPY recon_lines FROM STDIN` of up to [`CHUNK_LINES`] lines,
//! then the cursor moves to the chunk's last line. A crash loses at most the chunk in flight, and
//! the next run skips exactly the lines already committed. Settlement totals are collected (one
//! per currency: small) and returned.

use crate::providers::adapter::{id_of_trade_no, refund_id_of_line};
use crate::providers::bill::{BillError, BillItem, BillLine, BillLineKind, SettlementTotal};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use sqlx::PgPool;

/// Lines per committed chunk.
pub const CHUNK_LINES: usize = 20_000;

/// Why loading stopped.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Bill(#[from] BillError),
    #[error("storing the lines failed: {0}")]
    Database(#[from] sqlx::Error),
}

/// Where loading starts.
#[derive(Debug, Clone, Copy)]
pub struct From {
    /// Lines of the batch already loaded by an earlier run.
    pub skip: u64,
    /// Of those, how many the source already left out (the stream begins after them).
    pub already_loaded: u64,
    /// Lines per committed chunk (at least 1).
    pub chunk_lines: usize,
}

/// Loads `items` into batch `batch_id`, skipping the lines an earlier run loaded. Returns the
/// settlement totals seen and the number of lines now loaded.
pub async fn load(
    pool: &PgPool,
    batch_id: i64,
    from: From,
    mut items: BoxStream<'_, Result<BillItem, BillError>>,
    progress: &dyn super::Progress,
) -> Result<(Vec<SettlementTotal>, u64), LoadError> {
    let From { skip, already_loaded, chunk_lines } = from;
    let chunk_lines = chunk_lines.max(1);
    let mut totals = Vec::new();
    let mut seen: u64 = already_loaded;
    let mut chunk = String::with_capacity(chunk_lines.min(CHUNK_LINES) * 160);
    let mut in_chunk = 0usize;
    while let Some(item) = items.next().await {
        let item = match item {
            Ok(item) => item,
            Err(e) => {
                // The lines before a break are good: keep them, so the next run resumes after
                // them (a sweep does not ask about them again).
                if in_chunk > 0 {
                    commit(pool, batch_id, &chunk, seen).await?;
                    progress.lines(seen);
                }
                return Err(e.into());
            }
        };
        match item {
            BillItem::Total(t) => totals.push(t),
            BillItem::Line(line) => {
                seen += 1;
                if seen <= skip {
                    continue;
                }
                push_row(&mut chunk, batch_id, seen, &line);
                in_chunk += 1;
                if in_chunk == chunk_lines {
                    commit(pool, batch_id, &chunk, seen).await?;
                    progress.lines(seen);
                    chunk.clear();
                    in_chunk = 0;
                }
            }
        }
    }
    if in_chunk > 0 {
        commit(pool, batch_id, &chunk, seen).await?;
    }
    progress.lines(seen.max(skip));
    Ok((totals, seen.max(skip)))
}

async fn commit(pool: &PgPool, batch_id: i64, rows: &str, cursor: u64) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut copy = tx
        .copy_in_raw(
            "COPY recon_lines (batch_id, line_no, kind, trade_no, refund_trade_no, payment_id, refund_id, \
             provider_txn_id, provider_refund_id, amount_minor, fee_minor, currency, status, succeeded, \
             completed_at) FROM STDIN",
        )
        .await?;
    copy.send(rows.as_bytes()).await?;
    copy.finish().await?;
    sqlx::query("UPDATE recon_batches SET lines_loaded = $2 WHERE id = $1")
        .bind(batch_id)
        .bind(i64::try_from(cursor).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Appends one row in COPY's text format (tab-separated, `\N` for NULL, escaped).
fn push_row(out: &mut String, batch_id: i64, line_no: u64, l: &BillLine) {
    use std::fmt::Write;
    let payment_id = id_of_trade_no(&l.trade_no);
    // A refund line: its refund number's refund, or the reversal refund of a payment a provider's
    // reversal refunded under the payment's own number (`adapter::refund_id_of_line`).
    let refund_id = match l.kind {
        BillLineKind::Refund => refund_id_of_line(&l.trade_no, l.refund_trade_no.as_deref()),
        _ => l.refund_trade_no.as_deref().and_then(id_of_trade_no),
    };
    let _ = write!(out, "{batch_id}\t{line_no}\t{}\t", l.kind.as_str());
    text(out, Some(&l.trade_no));
    text(out, l.refund_trade_no.as_deref());
    uuid(out, payment_id);
    uuid(out, refund_id);
    text(out, Some(&l.provider_txn_id));
    text(out, l.provider_refund_id.as_deref());
    let _ = write!(out, "{}\t{}\t", l.amount_minor, l.fee_minor);
    text(out, Some(&l.currency));
    text(out, Some(&l.status));
    let _ = writeln!(out, "{}\t{}", if l.succeeded { 't' } else { 'f' }, l.completed_at.to_rfc3339());
}

fn uuid(out: &mut String, id: Option<uuid::Uuid>) {
    match id {
        Some(id) => {
            out.push_str(&id.to_string());
            out.push('\t');
        }
        None => out.push_str("\\N\t"),
    }
}

fn text(out: &mut String, value: Option<&str>) {
    match value {
        None => out.push_str("\\N"),
        Some(v) => {
            for c in v.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
        }
    }
    out.push('\t');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::bill::BillLineKind;

    #[test]
    fn rows_are_escaped_for_copy() {
        let line = BillLine {
            kind: BillLineKind::Payment,
            trade_no: "a\tb\\c".into(),
            refund_trade_no: None,
            provider_txn_id: "2001".into(),
            provider_refund_id: None,
            amount_minor: 100,
            fee_minor: 1,
            currency: "CNY".into(),
            status: "SUCCEEDED".into(),
            succeeded: true,
            completed_at: chrono::DateTime::UNIX_EPOCH,
        };
        let mut out = String::new();
        push_row(&mut out, 7, 2, &line);
        assert_eq!(
            out,
            "7\t2\tpayment\ta\\tb\\\\c\t\\N\t\\N\t\\N\t2001\t\\N\t100\t1\tCNY\tSUCCEEDED\tt\t1970-01-01T00:00:00+00:00\n"
        );
    }
}
