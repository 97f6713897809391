//! `payctl callback add|list|remove|failed|show|resend`: the merchants' signed callbacks
//! (docs/callbacks.md). An endpoint's signing secret is printed once, when it is added; a list
//! never shows it. compensation-scheduler delivers; payctl registers and looks after what gave up.

use crate::output::{self, at, or_dash};
use paygate::domain::MerchantId;
use paygate::store::callbacks::{self, AddedEndpoint, Delivery, Endpoint, NewEndpoint};
use sqlx::PgPool;

#[derive(Debug, clap::Subcommand)]
pub enum CallbackCommand {
    /// Register a URL that receives a merchant's events, signed; prints the endpoint's signing
    /// secret (only this once).
    Add {
        /// The merchant whose events it receives.
        #[arg(long)]
        merchant: String,
        /// Where events are POSTed: an absolute http:// or https:// URL.
        #[arg(long)]
        url: String,
        /// Only this event kind (e.g. payment.succeeded, refund.failed); repeat for several.
        /// None: every kind.
        #[arg(long = "event", value_name = "KIND")]
        events: Vec<String>,
        /// Only orders of this order type (e.g. retail); repeat for several. None: every type.
        #[arg(long = "order-type", value_name = "ORDER_TYPE")]
        order_types: Vec<String>,
    },
    /// The endpoints (never their secrets), oldest first.
    List {
        /// Only this merchant's.
        #[arg(long)]
        merchant: Option<String>,
        /// Removed endpoints too.
        #[arg(long)]
        all: bool,
    },
    /// Stop sending to an endpoint: no new event is owed to it, and its pending deliveries end
    /// exhausted (listed by `failed`).
    Remove {
        /// The endpoint id (`cbe_…`).
        id: String,
    },
    /// The deliveries that used up their retry schedule, newest first.
    Failed {
        /// Only this merchant's.
        #[arg(long)]
        merchant: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// One delivery and every attempt (status, latency, response excerpt, error).
    Show {
        /// The delivery id (a number, from `failed`).
        id: i64,
    },
    /// Send an exhausted delivery again, at once, then on the retry schedule from its start.
    Resend {
        /// The delivery id (a number, from `failed`).
        id: i64,
    },
}

pub async fn run(pool: &PgPool, command: CallbackCommand, json: bool) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    match command {
        CallbackCommand::Add { merchant, url, events, order_types } => {
            let merchant =
                MerchantId::parse(&merchant).map_err(|e| anyhow::anyhow!("--merchant: {}", e.rule()))?;
            let new = NewEndpoint {
                merchant_id: merchant.as_str().to_owned(),
                url,
                order_types,
                event_kinds: events,
            };
            new.check().map_err(|e| {
                let flag = match e.field() {
                    "event" => "--event",
                    "order_type" => "--order-type",
                    _ => "--url",
                };
                anyhow::anyhow!("{flag}: {}", e.rule())
            })?;
            let added = callbacks::add(&mut conn, &new).await?;
            print_added(&added, json)
        }
        CallbackCommand::List { merchant, all } => {
            let endpoints = callbacks::list(&mut conn, merchant.as_deref(), all).await?;
            if json {
                return output::json(&endpoints);
            }
            let mut table =
                output::table(&["id", "merchant", "url", "events", "order types", "created", "removed"]);
            for e in &endpoints {
                table.add_row(vec![
                    e.id.clone(),
                    e.merchant_id.clone(),
                    e.url.clone(),
                    every_or(&e.event_kinds),
                    every_or(&e.order_types),
                    at(e.created_at),
                    or_dash(e.removed_at.map(at)),
                ]);
            }
            println!("{table}");
            println!("{} endpoint(s)", endpoints.len());
            Ok(())
        }
        CallbackCommand::Remove { id } => {
            let Some(endpoint) = callbacks::remove(&mut conn, &id).await? else {
                anyhow::bail!("id: no callback endpoint {id:?} (payctl callback list shows them)");
            };
            if json {
                return output::json(&endpoint);
            }
            print_endpoint(&endpoint);
            Ok(())
        }
        CallbackCommand::Failed { merchant, limit } => {
            let failed = callbacks::exhausted(&mut conn, merchant.as_deref(), limit.clamp(1, 10_000)).await?;
            if json {
                return output::json(&failed);
            }
            let mut table = output::table(&[
                "id",
                "merchant",
                "url",
                "kind",
                "event id",
                "seq",
                "attempts",
                "last status",
                "last error",
                "gave up",
            ]);
            for d in &failed {
                table.add_row(vec![
                    d.id.to_string(),
                    d.merchant_id.clone(),
                    d.url.clone(),
                    d.kind.clone(),
                    d.event_id.to_string(),
                    d.sequence.to_string(),
                    d.attempts.to_string(),
                    or_dash(d.last_status),
                    or_dash(d.last_error.as_deref()),
                    or_dash(d.finished_at.map(at)),
                ]);
            }
            println!("{table}");
            println!(
                "{} exhausted deliver{} (payctl callback resend <id> sends one again)",
                failed.len(),
                if failed.len() == 1 { "y" } else { "ies" }
            );
            Ok(())
        }
        CallbackCommand::Show { id } => {
            let Some(delivery) = callbacks::delivery(&mut conn, id).await? else {
                anyhow::bail!("id: no callback delivery {id} (payctl callback failed lists them)");
            };
            let attempts = callbacks::attempts(&mut conn, id).await?;
            if json {
                return output::json(&serde_json::json!({"delivery": delivery, "attempts": attempts}));
            }
            print_delivery(&delivery);
            let mut table =
                output::table(&["attempt", "started", "latency ms", "status", "response excerpt", "error"]);
            for a in &attempts {
                table.add_row(vec![
                    a.attempt.to_string(),
                    at(a.started_at),
                    a.latency_ms.to_string(),
                    or_dash(a.status),
                    or_dash(a.response_excerpt.as_deref()),
                    or_dash(a.error.as_deref()),
                ]);
            }
            println!("{table}");
            Ok(())
        }
        CallbackCommand::Resend { id } => {
            let mut tx = pool.begin().await?;
            let delivery = callbacks::resend(&mut tx, id).await??;
            tx.commit().await?;
            if json {
                return output::json(&delivery);
            }
            print_delivery(&delivery);
            println!("due now: compensation-scheduler sends it at its next poll");
            Ok(())
        }
    }
}

fn every_or(filter: &[String]) -> String {
    if filter.is_empty() { "(every)".to_owned() } else { filter.join(", ") }
}

fn print_added(added: &AddedEndpoint, json: bool) -> anyhow::Result<()> {
    if json {
        return output::json(added);
    }
    print_endpoint(&added.endpoint);
    println!("secret:      {}", added.secret);
    println!("The secret is shown only now. Each delivery carries Paygate-Signature: t=<unix>,v1=<hex>,");
    println!("the HMAC-SHA256 of \"<t>.<body>\" keyed with this secret (docs/callbacks.md).");
    Ok(())
}

fn print_endpoint(e: &Endpoint) {
    println!("endpoint:    {}", e.id);
    println!("merchant:    {}", e.merchant_id);
    println!("url:         {}", e.url);
    println!("events:      {}", every_or(&e.event_kinds));
    println!("order types: {}", every_or(&e.order_types));
    if let Some(removed) = e.removed_at {
        println!("removed:     {}", at(removed));
    }
}

fn print_delivery(d: &Delivery) {
    println!("delivery:    {}", d.id);
    println!("endpoint:    {} ({})", d.endpoint_id, d.url);
    println!("merchant:    {}", d.merchant_id);
    println!("event:       {} {} (sequence {} of payment {})", d.kind, d.event_id, d.sequence, d.payment_id);
    println!("state:       {} after {} attempt(s)", d.state, d.attempts);
    if let Some(next) = d.next_attempt_at {
        println!("next:        {}", at(next));
    }
}
