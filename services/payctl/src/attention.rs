//! `payctl attention list`: the open needs-attention items, oldest first.

use crate::output::{self, at, or_dash};
use paygate::store::attention;
use sqlx::PgPool;

pub async fn list(pool: &PgPool, limit: i64, json: bool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let items = attention::open(&mut conn, limit).await?;
    if json {
        return output::json(&items);
    }
    if items.is_empty() {
        println!("nothing needs attention");
        return Ok(());
    }
    let mut table = output::table(&["id", "raised", "kind", "payment", "refund", "detail"]);
    for i in &items {
        table.add_row(vec![
            i.id.to_string(),
            at(i.created_at),
            i.kind.clone(),
            or_dash(i.payment_id),
            or_dash(i.refund_id),
            i.detail.to_string(),
        ]);
    }
    println!("{table}");
    println!("{} open item(s)", items.len());
    Ok(())
}
