//! `payctl cashier methods set|list`: which methods a merchant's hosted cashier offers
//! (docs/cashier.md), stored in `cashier_methods` (migration 0033), read by ingest when a create
//! asks for the cashier and when the page lists them; `payctl cashier name`: the name the page
//! shows instead of the merchant id (`merchant_names`, migration 0036).

use crate::output;
use paygate::domain::{MerchantId, MerchantName, PayMethod, ProviderName};
use paygate::store::cashier::{self, CashierMethod};
use sqlx::PgPool;

#[derive(Debug, clap::Subcommand)]
pub enum CashierCommand {
    /// The methods of merchants' cashiers.
    #[command(subcommand)]
    Methods(MethodsCommand),
    /// Set the name a merchant's cashier shows its customers (the merchant id when none is set).
    Name {
        #[arg(long)]
        merchant: String,
        /// 1 to 100 characters, one line.
        #[arg(long, required_unless_present = "clear", conflicts_with = "clear")]
        name: Option<String>,
        /// Remove the name: the page shows the merchant id again.
        #[arg(long)]
        clear: bool,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum MethodsCommand {
    /// Set the methods a merchant's cashier offers through one provider, in this order (replacing
    /// that provider's methods; no --method removes the provider from the cashier).
    Set {
        #[arg(long)]
        merchant: String,
        /// A provider name as in PROVIDERS (e.g. mockpay).
        #[arg(long)]
        provider: String,
        /// qr, redirect, form or client_secret; repeat for several.
        #[arg(long = "method")]
        methods: Vec<String>,
    },
    /// The methods each merchant's cashier offers, in order.
    List {
        /// Only this merchant's.
        #[arg(long)]
        merchant: Option<String>,
    },
}

pub async fn run(pool: &PgPool, command: CashierCommand, json: bool) -> anyhow::Result<()> {
    let command = match command {
        CashierCommand::Methods(command) => command,
        CashierCommand::Name { merchant, name, clear: _ } => {
            return set_name(pool, &merchant, name, json).await;
        }
    };
    let mut conn = pool.acquire().await?;
    let methods = match command {
        MethodsCommand::Set { merchant, provider, methods } => {
            let merchant =
                MerchantId::parse(&merchant).map_err(|e| anyhow::anyhow!("--merchant: {}", e.rule()))?;
            let provider =
                ProviderName::parse(&provider).map_err(|e| anyhow::anyhow!("--provider: {}", e.rule()))?;
            for m in &methods {
                PayMethod::parse(m).map_err(|e| anyhow::anyhow!("--method: {}", e.rule()))?;
                if !cashier::OFFERABLE.contains(&m.as_str()) {
                    anyhow::bail!(
                        "--method: must be one a customer can take in a browser: {} (got {m:?})",
                        cashier::OFFERABLE.join(", ")
                    );
                }
            }
            let mut tx = pool.begin().await?;
            let set = cashier::set_methods(&mut tx, merchant.as_str(), provider.as_str(), &methods).await?;
            tx.commit().await?;
            set
        }
        MethodsCommand::List { merchant } => cashier::methods_of(&mut conn, merchant.as_deref()).await?,
    };
    print(&methods, json)
}

async fn set_name(pool: &PgPool, merchant: &str, name: Option<String>, json: bool) -> anyhow::Result<()> {
    let merchant = MerchantId::parse(merchant).map_err(|e| anyhow::anyhow!("--merchant: {}", e.rule()))?;
    let name = name
        .map(|n| MerchantName::parse(&n).map_err(|e| anyhow::anyhow!("--name: {}", e.rule())))
        .transpose()?;
    let mut conn = pool.acquire().await?;
    cashier::set_name(&mut conn, merchant.as_str(), name.as_ref()).await?;
    let shown = cashier::name_of(&mut conn, merchant.as_str()).await?;
    if json {
        return output::json(&serde_json::json!({"merchant_id": merchant.as_str(), "display_name": shown}));
    }
    match shown {
        Some(name) => println!("merchant {merchant}'s cashier shows {name:?}"),
        None => println!("merchant {merchant}'s cashier shows its id (no name set)"),
    }
    Ok(())
}

fn print(methods: &[CashierMethod], json: bool) -> anyhow::Result<()> {
    if json {
        return output::json(&methods);
    }
    let mut table = output::table(&["merchant", "position", "provider", "method"]);
    for m in methods {
        table.add_row(vec![
            m.merchant_id.clone(),
            m.position.to_string(),
            m.provider.clone(),
            m.pay_method.clone(),
        ]);
    }
    println!("{table}");
    println!("{} method(s)", methods.len());
    Ok(())
}
