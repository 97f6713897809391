//! docs/messages.md is the message contract: every JSON example in it must be a valid envelope,
//! and every envelope field must be documented there.

use paygate::broker::envelope::Envelope;

const DOC: &str = include_str!("../../docs/messages.md");

fn json_examples() -> Vec<&'static str> {
    DOC.split("```json").skip(1).map(|block| block.split("```").next().unwrap_or("")).collect()
}

#[test]
fn every_example_is_a_valid_envelope() {
    let examples = json_examples();
    assert!(!examples.is_empty(), "docs/messages.md has no ```json examples");
    for example in examples {
        let parsed: Result<Envelope<serde_json::Value>, _> = serde_json::from_str(example);
        let envelope = parsed.unwrap_or_else(|e| panic!("not an envelope ({e}):\n{example}"));
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
