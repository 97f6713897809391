//! The consumer's handler for the commands queue: parse the envelope's payload into a
//! [`Command`], apply it (`crate::commands`), and answer a refusal with `command.rejected`
//! (`crate::rejection`), all in the transaction the consumer gives (effect, outbox and inbox row
//! commit together).
//!
//! A batch of commands ([`Handler::handle_batch`]) is applied in one transaction: its pay
//! commands together (`commands::pay::apply_many`, one statement for all the new payments), then
//! every other command, and every pay command that batch could not settle, as above, one after
//! the other.
//!
//! Before its payload, a command's envelope is checked ([`parse`]): a `content_type` other than
//! JSON and a `schema_version` other than the one this build reads are refused, naming the field
//! (a version 99 is not read as version 1).
//!
//! A command is always `Done` once decided, accepted or rejected: a rejection is an answer, not
//! a failure, and retrying it would only say the same again. Database trouble is a transient
//! error (the consumer retries). A body that is not an envelope never reaches this handler: the
//! consumer dead-letters it with the reason (`paygate::broker::consumer`, step 1).

use crate::commands::{self, CommandOutcome, Context};
use crate::metrics::CommandMetrics;
use crate::rejection;
use paygate::broker::consumer::{Batched, Delivered, Handler, HandlerError, Outcome};
use paygate::broker::envelope::CONTENT_TYPE;
use paygate::broker::topology::Topology;
use paygate::domain::ValidationError;
use paygate::messages::commands::{Command, PayCommand, SCHEMA_VERSION};
use paygate::providers::ProviderNames;
use sqlx::{PgConnection, Postgres, Transaction};
use std::sync::Arc;

pub struct CommandHandler {
    topology: Arc<Topology>,
    providers: ProviderNames,
    metrics: CommandMetrics,
}

impl CommandHandler {
    pub fn new(topology: Arc<Topology>, providers: ProviderNames, metrics: CommandMetrics) -> Self {
        Self { topology, providers, metrics }
    }

    async fn decide(&self, conn: &mut PgConnection, msg: &Delivered) -> Result<CommandOutcome, HandlerError> {
        let cause = &msg.envelope;
        let command = match parse(msg) {
            Ok(command) => command,
            Err(error) => return Ok(CommandOutcome::Rejected(rejection::unparsed(error, &cause.payload))),
        };
        let ctx = Context { topology: &self.topology, providers: &self.providers, cause };
        match &command {
            Command::Pay(c) => commands::pay::apply(conn, &ctx, c).await,
            Command::Refund(c) => commands::refund::apply(conn, &ctx, c).await,
            Command::Close(c) => commands::close::apply(conn, &ctx, c).await,
            Command::Query(c) => commands::query::apply(conn, &ctx, c).await,
            Command::ApproveRefund(c) => commands::decide_refund::apply(conn, &ctx, c, true).await,
            Command::RejectRefund(c) => commands::decide_refund::apply(conn, &ctx, c, false).await,
            Command::Capture(c) => commands::capture::apply(conn, &ctx, c).await,
            Command::Void(c) => commands::void::apply(conn, &ctx, c).await,
        }
    }
}

/// The command `msg` carries, or the first thing wrong with it: its content type, when the
/// publisher set one, must be JSON (`application/json`, parameters allowed); its schema version
/// must be [`SCHEMA_VERSION`]; then its payload must parse ([`Command::parse`]).
pub fn parse(msg: &Delivered) -> Result<Command, ValidationError> {
    if let Some(content_type) = msg.content_type.as_deref() {
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        if !media_type.eq_ignore_ascii_case(CONTENT_TYPE) {
            let shown: String = content_type.chars().take(64).collect();
            return Err(ValidationError::new(
                "content_type",
                format!("must be {CONTENT_TYPE}: the body is a JSON envelope (got {shown:?})"),
            ));
        }
    }
    let envelope = &msg.envelope;
    if envelope.schema_version != SCHEMA_VERSION {
        return Err(ValidationError::new(
            "schema_version",
            format!(
                "must be {}, the only version of the commands this paygate reads (got {})",
                SCHEMA_VERSION, envelope.schema_version
            ),
        ));
    }
    Command::parse(&envelope.message_type, envelope.payload.clone())
}

impl Handler for CommandHandler {
    type Prepared = ();

    async fn handle(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        msg: &Delivered,
        _: &(),
    ) -> Result<Outcome, HandlerError> {
        let conn: &mut PgConnection = tx;
        let command_outcome = self.decide(conn, msg).await?;
        if let CommandOutcome::Rejected(rejection) = &command_outcome {
            tracing::info!(
                message_id = %msg.envelope.message_id,
                command = %msg.envelope.message_type,
                field = rejection.error.field(),
                rule = rejection.error.rule(),
                "command rejected"
            );
            rejection::emit(conn, &self.topology, &msg.envelope, rejection).await?;
        }
        // Counted before the consumer commits: a commit that fails is retried and counted again.
        self.metrics.count(&msg.envelope.message_type, command_outcome.label());
        Ok(Outcome::Done)
    }

    async fn handle_batch(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        msgs: &[(&Delivered, &())],
    ) -> Result<Batched, HandlerError> {
        let mut pays = Vec::new();
        let mut others = Vec::new();
        for &(msg, _) in msgs {
            match parse(msg) {
                Ok(Command::Pay(cmd)) => pays.push((msg, cmd)),
                _ => others.push(msg),
            }
        }
        let commands: Vec<(Context<'_>, &PayCommand)> = pays
            .iter()
            .map(|(msg, cmd)| {
                let ctx =
                    Context { topology: &self.topology, providers: &self.providers, cause: &msg.envelope };
                (ctx, cmd)
            })
            .collect();
        let unsettled = commands::pay::apply_many(tx, &commands).await?;
        for (i, (msg, _)) in pays.iter().enumerate() {
            if unsettled.binary_search(&i).is_ok() {
                others.push(msg);
            } else {
                self.metrics.count(&msg.envelope.message_type, CommandOutcome::Accepted.label());
            }
        }
        for msg in others {
            if self.handle(tx, msg, &()).await? != Outcome::Done {
                return Ok(Batched::OneByOne { reason: "a command was not done".into() });
            }
        }
        Ok(Batched::AllDone)
    }
}
