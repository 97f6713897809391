//! What each payctl command does.

use crate::cli::{
    AttentionCommand, Cli, PayctlCommand, PaymentCommand, RefundDecisionCommand, TopologyCommand,
};
use crate::order_work::{self, Decision};
use crate::{attention, timeline};
use paygate::broker::topology::Topology;
use paygate::broker::{connection, definitions};
use paygate::runtime::database;
use std::io::Write;

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        PayctlCommand::Migrate => {
            database::create_and_migrate(&cli.common).await?;
            println!("migrations applied");
        }
        PayctlCommand::Topology(TopologyCommand::Definitions { out, vhost }) => {
            let topology = Topology::new(cli.common.topology_config())?;
            let json = definitions::render(&topology, &vhost);
            if out.as_os_str() == "-" {
                std::io::stdout().write_all(json.as_bytes())?;
            } else {
                std::fs::write(&out, json)?;
                eprintln!("wrote {}", out.display());
            }
        }
        PayctlCommand::Topology(TopologyCommand::Declare) => {
            let topology = Topology::new(cli.common.topology_config())?;
            let conn = connection::connect_once(&cli.common.amqp_url, "payctl/topology").await?;
            let channel = conn.create_channel().await?;
            topology.declare(&channel).await?;
            let _ = conn.close(200, "declared".into()).await;
            println!("topology declared at {}", connection::redact_url(&cli.common.amqp_url));
        }
        PayctlCommand::Payment(PaymentCommand::Show { payment, merchant }) => {
            let pool = database::connect_and_migrate(&cli.common).await?;
            timeline::show(&pool, &payment, merchant.as_deref(), cli.json).await?;
        }
        PayctlCommand::Payment(PaymentCommand::Query { payment, merchant }) => {
            let pool = database::connect_and_migrate(&cli.common).await?;
            order_work::query(&pool, &cli.common, &payment, merchant.as_deref(), cli.json).await?;
        }
        PayctlCommand::Refund(command) => {
            let (refund, merchant, decision) = match &command {
                RefundDecisionCommand::Approve { refund, merchant, approver, reason } => {
                    (refund, merchant, Decision { approve: true, approver, reason: reason.as_deref() })
                }
                RefundDecisionCommand::Reject { refund, merchant, approver, reason } => {
                    (refund, merchant, Decision { approve: false, approver, reason: Some(reason.as_str()) })
                }
            };
            let pool = database::connect_and_migrate(&cli.common).await?;
            order_work::decide(&pool, &cli.common, refund, merchant.as_deref(), &decision, cli.json).await?;
        }
        PayctlCommand::Attention(AttentionCommand::List { limit }) => {
            let pool = database::connect_and_migrate(&cli.common).await?;
            attention::list(&pool, limit, cli.json).await?;
        }
        PayctlCommand::Recon(command) => crate::recon::run(&cli.common, command, cli.json).await?,
        PayctlCommand::ApiKey(command) => {
            let pool = database::connect_and_migrate(&cli.common).await?;
            crate::api_keys::run(&pool, command, cli.json).await?;
        }
        PayctlCommand::Callback(command) => {
            let pool = database::connect_and_migrate(&cli.common).await?;
            crate::callbacks::run(&pool, command, cli.json).await?;
        }
        PayctlCommand::Cashier(command) => {
            let pool = database::connect_and_migrate(&cli.common).await?;
            crate::cashier::run(&pool, command, cli.json).await?;
        }
        PayctlCommand::Dlq(command) => crate::dlq::run(&cli.common, command, cli.json).await?,
        PayctlCommand::Demo(args) => crate::demo::run(&cli.common, &args).await?,
    }
    Ok(())
}
