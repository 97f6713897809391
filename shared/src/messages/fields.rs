//! Reading a command's JSON object field by field, so that every mistake is reported as
//! `<field>: <rule>`: a missing field, a field of the wrong JSON type, and a field we do not know
//! (a misspelt optional field must not be silently ignored in a payment system).

use crate::domain::ValidationError;
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// The fields of one JSON object, consumed one by one; [`Fields::finish`] refuses the rest.
pub struct Fields {
    object: Map<String, Value>,
    seen: BTreeSet<&'static str>,
}

impl Fields {
    /// The payload must be a JSON object.
    pub fn of(payload: Value) -> Result<Self, ValidationError> {
        match payload {
            Value::Object(object) => Ok(Self { object, seen: BTreeSet::new() }),
            other => {
                Err(ValidationError::new("payload", format!("must be a JSON object (got {})", kind(&other))))
            }
        }
    }

    fn take(&mut self, name: &'static str) -> Option<Value> {
        self.seen.insert(name);
        self.object.remove(name).filter(|v| !v.is_null())
    }

    /// A required string.
    pub fn string(&mut self, name: &'static str) -> Result<String, ValidationError> {
        self.optional_string(name)?.ok_or_else(|| ValidationError::new(name, "is required"))
    }

    /// An optional string (absent or `null` is `None`).
    pub fn optional_string(&mut self, name: &'static str) -> Result<Option<String>, ValidationError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => {
                Err(ValidationError::new(name, format!("must be a string (got {})", kind(&other))))
            }
        }
    }

    /// A required value parsed by `parse` from its string.
    pub fn parsed<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, ValidationError>,
    ) -> Result<T, ValidationError> {
        let s = self.string(name)?;
        parse(&s).map_err(|e| e.with_field(name))
    }

    /// An optional value parsed by `parse` from its string.
    pub fn optional_parsed<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, ValidationError>,
    ) -> Result<Option<T>, ValidationError> {
        match self.optional_string(name)? {
            None => Ok(None),
            Some(s) => parse(&s).map(Some).map_err(|e| e.with_field(name)),
        }
    }

    /// An optional JSON object (kept as it is).
    pub fn optional_object(
        &mut self,
        name: &'static str,
    ) -> Result<Option<Map<String, Value>>, ValidationError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Object(o)) => Ok(Some(o)),
            Some(other) => {
                Err(ValidationError::new(name, format!("must be a JSON object (got {})", kind(&other))))
            }
        }
    }

    /// Refuses any field that was not read: the first unknown one, with the known ones listed.
    pub fn finish(self) -> Result<(), ValidationError> {
        match self.object.keys().next() {
            None => Ok(()),
            Some(unknown) => {
                let known: Vec<&str> = self.seen.iter().copied().collect();
                let name: String = unknown.chars().take(40).collect();
                Err(ValidationError::new(name, format!("is not a known field (known: {})", known.join(", "))))
            }
        }
    }
}

/// A JSON value's type, as error messages name it.
pub fn kind(value: &Value) -> &'static str {
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
    use serde_json::json;

    #[test]
    fn missing_wrong_type_and_unknown_fields_are_named() {
        let mut f = Fields::of(json!({"a": 1, "b": "x", "c": true})).unwrap();
        assert_eq!(f.string("a").unwrap_err().to_string(), "a: must be a string (got a number)");
        assert_eq!(f.string("b").unwrap(), "x");
        assert_eq!(f.string("z").unwrap_err().to_string(), "z: is required");
        assert_eq!(f.finish().unwrap_err().to_string(), "c: is not a known field (known: a, b, z)");
    }

    #[test]
    fn null_is_absent() {
        let mut f = Fields::of(json!({"a": null})).unwrap();
        assert_eq!(f.optional_string("a").unwrap(), None);
        f.finish().unwrap();
    }

    #[test]
    fn the_payload_must_be_an_object() {
        assert_eq!(
            Fields::of(json!([1])).err().unwrap().to_string(),
            "payload: must be a JSON object (got an array)"
        );
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
