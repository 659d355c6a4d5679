//! The body of `POST /set`, checked before anything is stored. No HTTP here: the body
//! is read by the kit's rules ([`kit::json::JsonBody`]: 415 for a media type that is not
//! JSON, 400 for a body that is no JSON object, 422 naming a missing, unknown, repeated
//! or non-string member), then [`SetRequest::check`] applies kv's own.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Error, Result};

/// Longest id accepted, in bytes (UTF-8).
pub const MAX_ID_BYTES: usize = 512;

/// The body of `POST /set`: `{"id":"...","data":"..."}`, nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRequest {
    /// The key: 1 to 512 bytes (UTF-8).
    #[schema(example = "one", min_length = 1, max_length = 512)]
    pub id: String,
    /// The value: at most `--kv-max-data` bytes (1 MiB by default; 413 past it).
    #[schema(example = "one")]
    pub data: String,
}

impl SetRequest {
    /// kv's rules: `id` 1 to [`MAX_ID_BYTES`] bytes (422), `data` at most `max_data`
    /// bytes (413).
    pub fn check(&self, max_data: usize) -> Result<()> {
        check_id(&self.id)?;
        if self.data.len() > max_data {
            return Err(Error::TooLarge {
                size: self.data.len(),
                limit: max_data,
            });
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn status(body: &str) -> u16 {
        match kit::json::parse::<SetRequest>(body.as_bytes()) {
            Err(problem) => problem.status,
            Ok(request) => match request.check(8) {
                Ok(()) => 200,
                Err(Error::Invalid { .. }) => 422,
                Err(Error::TooLarge { .. }) => 413,
                Err(e) => panic!("{e}"),
            },
        }
    }

    #[test]
    fn takes_a_pair_of_strings_and_nothing_else() {
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
            (r#"{"id":"a","data":"","x":1}"#, 422),
            (r#"{"id":"a","id":"b","data":"x"}"#, 422),
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
