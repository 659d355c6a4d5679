//! The body of `POST /set`, read and checked before anything is stored. No HTTP here
//! beyond the bytes of the body.

use serde_json::Value;

use crate::error::{Error, Result};

/// Longest id accepted, in bytes (UTF-8).
pub const MAX_ID_BYTES: usize = 512;

/// A checked `POST /set` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetRequest {
    /// The key: 1 to [`MAX_ID_BYTES`] bytes.
    pub id: String,
    /// The value: at most the configured limit.
    pub data: String,
}

impl SetRequest {
    /// Parses a body `{"id":"...","data":"..."}` (other members are ignored), with
    /// `data` at most `max_data` bytes.
    pub fn parse(body: &[u8], max_data: usize) -> Result<Self> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| Error::NotJson(e.to_string()))?;
        let Value::Object(mut object) = value else {
            return Err(Error::NotJson(format!(
                "expected an object, got {}",
                kind(&value)
            )));
        };
        let id = string_field(object.remove("id"), "id")?;
        let data = string_field(object.remove("data"), "data")?;
        check_id(&id)?;
        if data.len() > max_data {
            return Err(Error::TooLarge {
                size: data.len(),
                limit: max_data,
            });
        }
        Ok(Self { id, data })
    }
}

/// Checks an id: not empty, at most [`MAX_ID_BYTES`] bytes.
pub fn check_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::Invalid {
            field: "id",
            detail: "id must not be empty".into(),
        });
    }
    if id.len() > MAX_ID_BYTES {
        return Err(Error::Invalid {
            field: "id",
            detail: format!(
                "id is {} bytes long; at most {MAX_ID_BYTES} bytes are accepted",
                id.len()
            ),
        });
    }
    Ok(())
}

fn string_field(value: Option<Value>, field: &'static str) -> Result<String> {
    match value {
        Some(Value::String(s)) => Ok(s),
        None => Err(Error::Invalid {
            field,
            detail: format!("{field} is required"),
        }),
        Some(other) => Err(Error::Invalid {
            field,
            detail: format!("{field} must be a string, got {}", kind(&other)),
        }),
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn status(body: &str) -> u16 {
        match SetRequest::parse(body.as_bytes(), 8) {
            Ok(_) => 200,
            Err(Error::NotJson(_)) => 400,
            Err(Error::Invalid { .. }) => 422,
            Err(Error::TooLarge { .. }) => 413,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn accepts_strings_and_ignores_other_members() {
        let r = SetRequest::parse(br#"{"id":"a","data":"","x":1}"#, 8).unwrap();
        assert_eq!((r.id.as_str(), r.data.as_str()), ("a", ""));
    }

    #[test]
    fn rejects_what_is_not_a_pair_of_strings() {
        for (body, want) in [
            ("", 400),
            ("nope", 400),
            ("[1]", 400),
            ("\"id\"", 400),
            (r#"{"id":"a"}"#, 422),
            (r#"{"data":"a"}"#, 422),
            (r#"{"id":1,"data":"a"}"#, 422),
            (r#"{"id":"a","data":null}"#, 422),
            (r#"{"id":"","data":"a"}"#, 422),
            (r#"{"id":"a","data":"123456789"}"#, 413),
            (r#"{"id":"a","data":"12345678"}"#, 200),
        ] {
            assert_eq!(status(body), want, "{body}");
        }
    }

    #[test]
    fn limits_count_bytes_not_characters() {
        let id = "é".repeat(256); // 512 bytes
        assert!(check_id(&id).is_ok());
        assert!(check_id(&format!("{id}x")).is_err());
        // "ééééé" is 10 bytes > 8.
        assert_eq!(status(r#"{"id":"a","data":"ééééé"}"#), 413);
    }
}
