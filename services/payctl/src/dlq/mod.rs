//! `payctl dlq`: the dead-letter queues, for SREs: `list` them (depth, oldest message's age,
//! counts by reason), `show` one's messages decoded, `replay` messages to where they came from,
//! `purge` a queue. `replay` and `purge` are recorded in the dead-letter audit with the
//! operator's identity ([`audit`]); `list` and `show` change nothing.
//!
//! How a queue is read without losing or reordering anything: [`reading`] (basic.get with manual
//! acknowledgement; what is not acknowledged returns to the queue, in order, when the channel
//! closes or payctl dies). Why a replay loses nothing and applies nothing twice: [`replay`]
//! (message id kept, so the consumers' inbox de-duplicates; confirm before acknowledging).

pub mod audit;
pub mod list;
pub mod purge;
pub mod reading;
pub mod replay;
pub mod show;

use paygate::runtime::config::CommonConfig;

#[derive(Debug, clap::Subcommand)]
pub enum DlqCommand {
    /// Every dead-letter queue: depth, the age of its oldest message, counts by reason.
    List,
    /// One dead-letter queue's messages, decoded, a page at a time.
    Show {
        /// The dead-letter queue, e.g. paygate.orders.shard.0.dlq.
        queue: String,
        /// Skip this many messages from the head of the queue.
        #[arg(long, default_value_t = 0)]
        offset: u32,
        /// Show at most this many (1 to 500).
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Republish dead letters to where they came from, message id kept (the consumers' inbox
    /// de-duplicates); each confirmed by the broker before its dead letter is acknowledged.
    Replay {
        /// The dead-letter queue.
        queue: String,
        /// The message to replay (repeat for several).
        #[arg(
            long = "message-id",
            value_name = "ID",
            required_unless_present = "all",
            conflicts_with = "all"
        )]
        message_ids: Vec<String>,
        /// Replay every message in the queue.
        #[arg(long)]
        all: bool,
        /// Say what would be replayed, and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Who replays (audited); required unless --dry-run.
        #[arg(long, env = "PAYCTL_OPERATOR")]
        operator: Option<String>,
        /// Why (optional; audited).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Drop every message of a dead-letter queue, for good; audited with who, which and why.
    Purge {
        /// The dead-letter queue.
        queue: String,
        /// Confirm that the messages are to be dropped.
        #[arg(long)]
        yes: bool,
        /// Why (required; audited).
        #[arg(long)]
        reason: String,
        /// Who purges (audited).
        #[arg(long, env = "PAYCTL_OPERATOR")]
        operator: Option<String>,
    },
}

pub async fn run(common: &CommonConfig, command: DlqCommand, json: bool) -> anyhow::Result<()> {
    match command {
        DlqCommand::List => list::run(common, json).await,
        DlqCommand::Show { queue, offset, limit } => show::run(common, &queue, offset, limit, json).await,
        DlqCommand::Replay { queue, message_ids, all, dry_run, operator, reason } => {
            let ids = (!all).then(|| message_ids.into_iter().collect());
            let selection = replay::Selection { ids, dry_run, operator, reason };
            replay::run(common, &queue, selection, json).await
        }
        DlqCommand::Purge { queue, yes, reason, operator } => {
            purge::run(common, &queue, yes, &reason, operator.as_deref(), json).await
        }
    }
}
