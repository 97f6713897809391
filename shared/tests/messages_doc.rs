//! docs/messages.md is the message contract: every JSON example in it must be a valid envelope
//! whose payload parses into the type its `message_type` names, every envelope field must be
//! documented there, and every message (each command, `command.rejected`, each order work
//! message, each payment event with each customer action shape, and the refund events) must
//! have an example. The currencies it lists are the code's (`shared/src/domain/currency.rs`).

use paygate::broker::envelope::Envelope;
use paygate::domain::Currency;
use paygate::messages::commands::{self, Command};
use paygate::messages::events::{COMMAND_REJECTED, CommandRejected, CustomerAction, OrderEvent};
use paygate::messages::orders::OrderWork;
use std::collections::BTreeSet;

const DOC: &str = include_str!("../../docs/messages.md");

fn json_examples() -> Vec<&'static str> {
    DOC.split("```json").skip(1).map(|block| block.split("```").next().unwrap_or("")).collect()
}

fn envelopes() -> Vec<Envelope<serde_json::Value>> {
    json_examples()
        .into_iter()
        .map(|example| {
            serde_json::from_str(example).unwrap_or_else(|e| panic!("not an envelope ({e}):\n{example}"))
        })
        .collect()
}

#[test]
fn every_example_is_a_valid_envelope() {
    let examples = envelopes();
    assert!(!examples.is_empty(), "docs/messages.md has no ```json examples");
    for envelope in examples {
        assert!(!envelope.order_key.is_empty());
    }
}

#[test]
fn every_envelope_field_is_documented() {
    let example = json_examples()[0];
    let envelope: Envelope<serde_json::Value> = serde_json::from_str(example).unwrap();
    let value = serde_json::to_value(&envelope).unwrap();
    for field in value.as_object().unwrap().keys() {
        assert!(DOC.contains(&format!("| `{field}` |")), "envelope field `{field}` is not in the table");
    }
}

/// The shape of a customer action, for coverage.
fn shape(action: &CustomerAction) -> &'static str {
    match action {
        CustomerAction::Redirect { .. } => "redirect",
        CustomerAction::Form { .. } => "form",
        CustomerAction::QrCode { .. } => "qr_code",
        CustomerAction::ClientSecret { .. } => "client_secret",
    }
}

#[test]
fn every_payload_parses_into_its_type() {
    let mut seen = BTreeSet::new();
    let mut actions = BTreeSet::new();
    // The first example shows the envelope alone, with an empty payload.
    for envelope in envelopes().into_iter().skip(1) {
        let kind = envelope.message_type.clone();
        let payload = envelope.payload.clone();
        if kind == COMMAND_REJECTED {
            let r: CommandRejected = serde_json::from_value(payload)
                .unwrap_or_else(|e| panic!("{kind}: not a CommandRejected ({e})"));
            assert_eq!(r.message, format!("{}: {}", r.field, r.rule), "{kind}: message is `<field>: <rule>`");
        } else if kind.starts_with("command.") {
            Command::parse(&kind, payload).unwrap_or_else(|e| panic!("{kind}: the example is refused: {e}"));
        } else if kind.starts_with("order.") {
            let work: OrderWork =
                serde_json::from_value(payload).unwrap_or_else(|e| panic!("{kind}: not an OrderWork ({e})"));
            assert_eq!(work.message_type(), kind, "the payload's op and the message_type differ");
            assert_eq!(
                envelope.order_key,
                work.payment_id().to_string(),
                "{kind}: order_key is the payment id"
            );
        } else if kind.starts_with("payment.") || kind.starts_with("refund.") {
            let event: OrderEvent =
                serde_json::from_value(payload).unwrap_or_else(|e| panic!("{kind}: not an OrderEvent ({e})"));
            assert_eq!(event.kind, kind, "the payload's kind and the message_type differ");
            assert_eq!(
                envelope.order_key,
                event.payment_id.to_string(),
                "{kind}: order_key is the payment id"
            );
            assert_eq!(event.routing_key(), format!("{kind}.{}", event.order_type));
            if kind == "payment.captured" {
                // A manual-capture payment captured: succeeded, with what was captured.
                assert_eq!(event.state, "succeeded", "payment.captured is a succeeded payment");
                assert!(event.captured.is_some(), "payment.captured says what was captured");
            } else if kind.starts_with("payment.") {
                assert_eq!(kind, format!("payment.{}", event.state), "a payment event is named by its state");
            } else {
                let refund = event.refund.as_ref().unwrap_or_else(|| panic!("{kind}: no refund"));
                assert_eq!(
                    kind,
                    format!("refund.{}", refund.state),
                    "a refund event is named by the refund's state"
                );
            }
            match (&event.action, kind == "payment.action_required") {
                (Some(action), true) => {
                    actions.insert(shape(action));
                }
                (None, false) => {}
                _ => panic!("{kind}: only payment.action_required carries the customer's action"),
            }
        } else {
            panic!("an example of an unknown message type {kind}");
        }
        seen.insert(kind);
    }
    let mut expected: Vec<String> = commands::ALL.iter().map(|c| (*c).to_owned()).collect();
    expected.push(COMMAND_REJECTED.to_owned());
    for op in
        ["dispatch_pay", "query", "close", "capture", "void", "dispatch_refund", "decide_refund", "report"]
    {
        expected.push(format!("order.{op}"));
    }
    for state in [
        "pending",
        "action_required",
        "unknown",
        "succeeded",
        "failed",
        "closed",
        "expired",
        "partially_refunded",
        "refunded",
        "authorized",
        "captured",
        "voided",
    ] {
        expected.push(format!("payment.{state}"));
    }
    for state in ["awaiting_approval", "rejected", "processing", "unknown", "succeeded", "failed"] {
        expected.push(format!("refund.{state}"));
    }
    let missing: Vec<&String> = expected.iter().filter(|m| !seen.contains(*m)).collect();
    assert!(missing.is_empty(), "docs/messages.md has no example of {missing:?}");
    let shapes: Vec<&str> = actions.into_iter().collect();
    assert_eq!(
        shapes,
        ["client_secret", "form", "qr_code", "redirect"],
        "each customer action shape has an example"
    );
}

/// The currencies table docs/messages.md must show, made from the code's table
/// (`Currency::ALL`): one row per exponent, with how an amount is written at that exponent.
fn currencies_table() -> String {
    let mut table = String::from("| exponent | 1234 minor units are written | currencies |\n|---|---|---|\n");
    let exponents: BTreeSet<u8> = Currency::ALL.iter().map(|c| c.exponent()).collect();
    for exponent in exponents {
        let digits = "1234";
        let split = digits.len() - usize::from(exponent);
        let amount = if exponent == 0 {
            digits.to_owned()
        } else {
            format!("{}.{}", &digits[..split], &digits[split..])
        };
        let codes: Vec<&str> =
            Currency::ALL.iter().filter(|c| c.exponent() == exponent).map(|c| c.code()).collect();
        table.push_str(&format!("| {exponent} | `\"{amount}\"` | {} |\n", codes.join(", ")));
    }
    table
}

#[test]
fn the_currencies_table_is_the_codes() {
    let table = currencies_table();
    assert!(
        DOC.contains(&table),
        "docs/messages.md's currencies table is not shared/src/domain/currency.rs's; under \"## Currencies\" it must read:\n\n{table}"
    );
}
