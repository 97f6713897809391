//! How a command's JSON fields are read. Each command's fields derive `Deserialize` with
//! `#[serde(deny_unknown_fields)]` (a misspelt optional field must not be silently ignored in a
//! payment system), each field parsed into its domain type by the helpers here; `serde_path_to_error`
//! says which field an error is about, and [`read`] turns the error into the `<field>: <rule>` that
//! a `command.rejected` carries: a missing field (`is required`), a field of the wrong JSON type
//! (`must be a string (got a number)`), a field we do not know, or the rule its type broke.

use crate::domain::ValidationError;
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde_json::{Map, Value};

/// Reads `payload`, a JSON object, into `T`; the first error names its field and the rule.
pub fn read<T: DeserializeOwned>(payload: Value) -> Result<T, ValidationError> {
    require_object(&payload)?;
    serde_path_to_error::deserialize(payload).map_err(|e| {
        let field = e.path().to_string();
        let message = e.into_inner().to_string();
        // serde's own words (`serde::de::Error::missing_field`, `unknown_field`), in ours.
        if let Some(missing) = message.strip_prefix("missing field `").and_then(|m| m.strip_suffix('`')) {
            ValidationError::new(missing.to_owned(), "is required")
        } else if let Some((_, expected)) =
            message.strip_prefix("unknown field `").and_then(|m| m.split_once("`, "))
        {
            let field: String = field.chars().take(40).collect();
            let known = expected.strip_prefix("expected one of ").unwrap_or(expected).replace('`', "");
            ValidationError::new(field, format!("is not a known field (known: {known})"))
        } else {
            ValidationError::new(field, message)
        }
    })
}

/// A command's payload must be a JSON object.
pub fn require_object(payload: &Value) -> Result<(), ValidationError> {
    match payload {
        Value::Object(_) => Ok(()),
        other => Err(ValidationError::new("payload", format!("must be a JSON object (got {})", kind(other)))),
    }
}

/// A required field parsed from its string by its domain type (`MerchantId`, `Currency`, …);
/// `null` counts as absent.
pub fn parsed<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<String, Error = ValidationError>,
{
    with(deserializer, |s| T::try_from(s.to_owned()))
}

/// An optional field parsed from its string by its domain type; absent or `null` is `None`.
/// Takes `#[serde(default)]` beside it.
pub fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<String, Error = ValidationError>,
{
    optional_with(deserializer, |s| T::try_from(s.to_owned()))
}

/// A required field parsed from its string by `parse`; `null` counts as absent.
pub fn with<'de, D, T>(
    deserializer: D,
    parse: impl FnOnce(&str) -> Result<T, ValidationError>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    optional_with(deserializer, parse)?.ok_or_else(|| D::Error::custom("is required"))
}

/// An optional field parsed from its string by `parse`; absent or `null` is `None`.
pub fn optional_with<'de, D, T>(
    deserializer: D,
    parse: impl FnOnce(&str) -> Result<T, ValidationError>,
) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
{
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(None),
        Value::String(s) => parse(&s).map(Some).map_err(|e| D::Error::custom(e.rule())),
        other => Err(D::Error::custom(format!("must be a string (got {})", kind(&other)))),
    }
}

/// An optional JSON object, kept as it is; absent or `null` is empty.
pub fn object<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Map<String, Value>, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::Null => Ok(Map::new()),
        Value::Object(o) => Ok(o),
        other => Err(D::Error::custom(format!("must be a JSON object (got {})", kind(&other)))),
    }
}

/// A JSON value's type, as error messages name it.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A required short free text (subject, reason, a person's id): 1 to `max` characters, no
/// control characters.
pub fn text(name: &'static str, input: &str, max: usize) -> Result<String, ValidationError> {
    let count = input.chars().count();
    if input.trim().is_empty() {
        return Err(ValidationError::new(name, "must not be empty or only spaces"));
    }
    if count > max {
        return Err(ValidationError::new(name, format!("must be at most {max} characters (got {count})")));
    }
    if let Some(position) = input.chars().position(char::is_control) {
        return Err(ValidationError::new(
            name,
            format!("must not contain control characters (got one at position {})", position + 1),
        ));
    }
    Ok(input.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MerchantId;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        #[serde(deserialize_with = "parsed")]
        a: MerchantId,
        #[serde(deserialize_with = "parsed")]
        b: MerchantId,
        #[serde(default, deserialize_with = "optional")]
        z: Option<MerchantId>,
    }

    fn error(payload: Value) -> String {
        read::<Sample>(payload).unwrap_err().to_string()
    }

    #[test]
    fn missing_wrong_type_and_unknown_fields_are_named() {
        assert_eq!(error(json!({"a": 1, "b": "x"})), "a: must be a string (got a number)");
        assert_eq!(error(json!({"a": "x"})), "b: is required");
        assert_eq!(error(json!({"a": "x", "b": "x", "c": true})), "c: is not a known field (known: a, b, z)");
        let rule = MerchantId::parse("a b").unwrap_err().rule().to_owned();
        assert_eq!(
            error(json!({"a": "x", "b": "a b"})),
            format!("b: {rule}"),
            "the rule, named by the field"
        );
    }

    #[test]
    fn null_is_absent() {
        assert!(read::<Sample>(json!({"a": "x", "b": "y", "z": null})).unwrap().z.is_none());
        assert_eq!(error(json!({"a": null, "b": "y"})), "a: is required");
    }

    #[test]
    fn the_payload_must_be_an_object() {
        assert_eq!(error(json!([1])), "payload: must be a JSON object (got an array)");
    }

    #[test]
    fn free_text_rules() {
        assert!(text("subject", "Coffee", 10).is_ok());
        assert_eq!(
            text("subject", "  ", 10).unwrap_err().to_string(),
            "subject: must not be empty or only spaces"
        );
        assert_eq!(
            text("subject", "abcdef", 3).unwrap_err().to_string(),
            "subject: must be at most 3 characters (got 6)"
        );
        assert!(text("subject", "a\u{7}", 3).unwrap_err().to_string().contains("position 2"));
    }
}
