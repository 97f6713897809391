//! What each payctl command does.

use crate::cli::{AttentionCommand, Cli, Command, PaymentCommand, RefundCommand, TopologyCommand};
use crate::order_work::{self, Decision};
use crate::{attention, timeline};
use paygate::broker::definitions;
use paygate::broker::topology::Topology;
use paygate::runtime::database;
use std::io::Write;

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Migrate => {
            database::create_and_migrate(&cli.common).await?;
            println!("migrations applied");
        }
        Command::Topology(TopologyCommand::Definitions { out, vhost }) => {
            let topology = Topology::new(cli.common.topology_config())?;
            let json = definitions::render(&topology, &vhost);
            if out.as_os_str() == "-" {
                std::io::stdout().write_all(json.as_bytes())?;
            } else {
                std::fs::write(&out, json)?;
                eprintln!("wrote {}", out.display());
            }
        }
        Command::Payment(PaymentCommand::Show { payment, merchant }) => {
            let pool = database::connect_and_migrate(&cli.common).await?;
            timeline::show(&pool, &payment, merchant.as_deref(), cli.json).await?;
        }
        Command::Payment(PaymentCommand::Query { payment, merchant }) => {
            let pool = database::connect_and_migrate(&cli.common).await?;
            order_work::query(&pool, &cli.common, &payment, merchant.as_deref(), cli.json).await?;
        }
        Command::Refund(command) => {
            let (refund, merchant, decision) = match &command {
                RefundCommand::Approve { refund, merchant, approver, reason } => {
                    (refund, merchant, Decision { approve: true, approver, reason: reason.as_deref() })
                }
                RefundCommand::Reject { refund, merchant, approver, reason } => {
                    (refund, merchant, Decision { approve: false, approver, reason: Some(reason.as_str()) })
                }
            };
            let pool = database::connect_and_migrate(&cli.common).await?;
            order_work::decide(&pool, &cli.common, refund, merchant.as_deref(), &decision, cli.json).await?;
        }
        Command::Attention(AttentionCommand::List { limit }) => {
            let pool = database::connect_and_migrate(&cli.common).await?;
            attention::list(&pool, limit, cli.json).await?;
        }
        Command::Recon(command) => crate::recon::run(&cli.common, command, cli.json).await?,
        Command::Demo(args) => crate::demo::run(&cli.common, &args).await?,
    }
    Ok(())
}
