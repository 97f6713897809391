//! payctl's command line.

use clap::{Parser, Subcommand};
use paygate::runtime::config::CommonConfig;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "payctl", version, about = "paygate's operator command line")]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonConfig,
    /// Print JSON instead of tables, for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: PayctlCommand,
}

#[derive(Debug, Subcommand)]
pub enum PayctlCommand {
    /// Create the database if it does not exist and apply the migrations.
    Migrate,
    /// The RabbitMQ topology.
    #[command(subcommand)]
    Topology(TopologyCommand),
    /// Drive a small demo batch of payments and refunds through a running system (with mockpay
    /// as its provider) and print what happened; exits non-zero if any did not reach its
    /// expected state before the deadline.
    Demo(crate::demo::DemoArgs),
    /// Payments: an order's whole story.
    #[command(subcommand)]
    Payment(PaymentCommand),
    /// The needs-attention list: what paygate could not settle by itself.
    #[command(subcommand)]
    Attention(AttentionCommand),
    /// Refunds: decide on one awaiting approval.
    #[command(subcommand)]
    Refund(RefundDecisionCommand),
    /// Reconciliation: run a provider's bill or settlement, list and show batches, resolve
    /// discrepancies.
    #[command(subcommand)]
    Recon(crate::recon::ReconCommand),
    /// The upstream HTTP API's merchant keys: create (the secret is shown once), list, rotate,
    /// revoke.
    #[command(subcommand, name = "api-key")]
    ApiKey(crate::api_keys::ApiKeyCommand),
    /// Merchant callbacks: register signed callback URLs (the secret is shown once), list and
    /// remove them, list the deliveries that gave up and send one again.
    #[command(subcommand)]
    Callback(crate::callbacks::CallbackCommand),
    /// The hosted cashier: the methods each merchant's cashier offers.
    #[command(subcommand)]
    Cashier(crate::cashier::CashierCommand),
    /// Dead-letter queues: list them, show, replay or purge one's messages.
    #[command(subcommand)]
    Dlq(crate::dlq::DlqCommand),
}

#[derive(Debug, Subcommand)]
pub enum PaymentCommand {
    /// The payment's timeline: its transitions and its refunds', the raw provider exchanges
    /// (redacted), notifications and needs-attention items.
    Show {
        /// The payment id (a UUID), or the merchant's order number with --merchant.
        payment: String,
        /// The merchant whose order number `payment` is.
        #[arg(long)]
        merchant: Option<String>,
    },
    /// Ask the provider about the payment now: sends a query to the order's shard; the
    /// dispatcher applies the answer.
    Query {
        /// The payment id (a UUID), or the merchant's order number with --merchant.
        payment: String,
        /// The merchant whose order number `payment` is.
        #[arg(long)]
        merchant: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RefundDecisionCommand {
    /// Approve a refund awaiting approval (the approver must not be its requester).
    Approve {
        /// The refund id (a UUID), or the merchant's refund number with --merchant.
        refund: String,
        /// The merchant whose refund number `refund` is.
        #[arg(long)]
        merchant: Option<String>,
        /// Who approves.
        #[arg(long)]
        approver: String,
        /// Why (optional).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Reject a refund awaiting approval.
    Reject {
        /// The refund id (a UUID), or the merchant's refund number with --merchant.
        refund: String,
        /// The merchant whose refund number `refund` is.
        #[arg(long)]
        merchant: Option<String>,
        /// Who rejects.
        #[arg(long)]
        approver: String,
        /// Why (required).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AttentionCommand {
    /// Open items, oldest first.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum TopologyCommand {
    /// Declare the topology (exchanges, queues, bindings, retry ladder, dead-letter queues) on the
    /// broker of AMQP_URL, as the services do at start. Run it before a rollout so that commands
    /// published before any service starts are routed, not dropped (deploy/k8s's topology job).
    Declare,
    /// Write the topology as RabbitMQ definitions JSON (importable with the management plugin).
    Definitions {
        /// Where to write it; `-` for stdout.
        #[arg(long, default_value = "deploy/rabbitmq/definitions.json")]
        out: PathBuf,
        /// The vhost the definitions are for.
        #[arg(long, default_value = "/")]
        vhost: String,
    },
}
