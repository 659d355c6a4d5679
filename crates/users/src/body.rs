//! Strict JSON request bodies.
//!
//! A body is read as a JSON object whose members are kept as *raw JSON text*, so every
//! field is judged on what the client actually wrote: `10` is an integer, while `10.5`,
//! `1e3`, `"10"`, `null` and `99999999999999999999` are refused with a 422 naming the
//! field and saying why — never rounded, wrapped or truncated. Unknown and duplicated
//! members are refused too (a typo such as `ammount` must not pass silently).
//! A body that is not a JSON object at all is a 400; a `Content-Type` other than
//! `application/json` is a 415.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::header,
};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::{
    Error,
    model::{NewUser, TransferRequest},
};

/// A JSON object body, its members unparsed.
#[derive(Debug)]
pub struct JsonObject(Vec<(String, Box<RawValue>)>);

struct Members(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Box<RawValue>>()? {
                    members.push((k, v));
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(V)
    }
}

impl JsonObject {
    /// Parses bytes as one JSON object.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(Error::MalformedBody(
                "the body is empty; expected a JSON object".into(),
            ));
        }
        serde_json::from_slice::<Members>(bytes)
            .map(|m| Self(m.0))
            .map_err(|e| Error::MalformedBody(format!("the body is not a JSON object: {e}")))
    }

    /// The members, checked against the names the endpoint takes: an unknown or
    /// repeated member is a 422.
    pub fn fields(self, known: &'static [&'static str]) -> Result<Fields, Error> {
        let mut found: Vec<(&'static str, Box<RawValue>)> = Vec::with_capacity(self.0.len());
        for (name, value) in self.0 {
            let Some(&known_name) = known.iter().find(|k| **k == name) else {
                let shown: String = name.chars().take(64).collect();
                return Err(Error::field(
                    &shown,
                    format!("unknown field {shown:?}; expected {}", known.join(", ")),
                ));
            };
            if found.iter().any(|(n, _)| *n == known_name) {
                return Err(Error::field(
                    known_name,
                    format!("field {known_name:?} is given more than once"),
                ));
            }
            found.push((known_name, value));
        }
        Ok(Fields(found))
    }

    /// The body of `POST /user`.
    pub fn new_user(self) -> Result<NewUser, Error> {
        let f = self.fields(&["name", "coins"])?;
        let name = f.string("name")?;
        crate::model::check_name(&name)?;
        let coins = f.optional_integer("coins", 0)?.unwrap_or(0);
        Ok(NewUser { name, coins })
    }

    /// The body of `POST /transfers`.
    pub fn transfer(self) -> Result<TransferRequest, Error> {
        let f = self.fields(&["from", "to", "amount"])?;
        let request = TransferRequest {
            from: f.integer("from", 1)?,
            to: f.integer("to", 1)?,
            amount: f.integer("amount", 1)?,
        };
        crate::model::check_transfer(&request)?;
        Ok(request)
    }
}

/// The members of a [`JsonObject`], known names only.
#[derive(Debug)]
pub struct Fields(Vec<(&'static str, Box<RawValue>)>);

impl Fields {
    fn raw(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.get())
    }

    /// A required string member.
    pub fn string(&self, name: &str) -> Result<String, Error> {
        let raw = self
            .raw(name)
            .ok_or_else(|| Error::field(name, format!("field {name:?} is required")))?;
        if !raw.starts_with('"') {
            return Err(Error::field(
                name,
                format!("{name} must be a string, not {}", kind(raw)),
            ));
        }
        serde_json::from_str::<String>(raw)
            .map_err(|e| Error::field(name, format!("{name} is not a valid string: {e}")))
    }

    /// A required integer member, at least `min`.
    pub fn integer(&self, name: &str, min: i64) -> Result<i64, Error> {
        self.optional_integer(name, min)?
            .ok_or_else(|| Error::field(name, format!("field {name:?} is required")))
    }

    /// An optional integer member, at least `min`.
    pub fn optional_integer(&self, name: &str, min: i64) -> Result<Option<i64>, Error> {
        self.raw(name)
            .map(|raw| parse_integer(name, raw, min))
            .transpose()
    }
}

/// What kind of JSON value `raw` is, for messages.
fn kind(raw: &str) -> &'static str {
    match raw.as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// Parses the raw JSON text of a member as an integer in `min..=i64::MAX`, exactly.
fn parse_integer(name: &str, raw: &str, min: i64) -> Result<i64, Error> {
    let range = || format!("an integer from {min} to {}", i64::MAX);
    let k = kind(raw);
    if k != "a number" {
        return Err(Error::field(
            name,
            format!("{name} must be {}, not {k}", range()),
        ));
    }
    let shown: String = raw.chars().take(40).collect();
    if raw.contains(['.', 'e', 'E']) {
        return Err(Error::field(
            name,
            format!(
                "{name} must be {}, written without a fraction or exponent; got {shown}",
                range()
            ),
        ));
    }
    let value: i64 = raw.parse().map_err(|_| {
        if raw.starts_with('-') {
            Error::field(name, format!("{name} must be {}; got {shown}", range()))
        } else {
            Error::field(
                name,
                format!("{name} is too large: it must be {}; got {shown}", range()),
            )
        }
    })?;
    if value < min {
        return Err(Error::field(
            name,
            format!("{name} must be {}; got {value}", range()),
        ));
    }
    Ok(value)
}

fn is_json(content_type: Option<&header::HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
}

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(Error::UnsupportedMediaType(
                "the body must be JSON: send Content-Type: application/json".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| Error::BodyUnreadable {
                // 413 past the kit's body limit, 400 for a body cut short.
                status: e.status(),
                detail: format!("the body could not be read: {}", e.body_text()),
            })?;
        Self::parse(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transfer(body: &str) -> Result<TransferRequest, String> {
        JsonObject::parse(body.as_bytes())
            .and_then(JsonObject::transfer)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn integers_are_exact() {
        let t = transfer(r#"{"from":1,"to":2,"amount":9223372036854775807}"#).unwrap();
        assert_eq!(t.amount, i64::MAX);
        for (body, says) in [
            (
                r#"{"from":1,"to":2,"amount":9223372036854775808}"#,
                "too large",
            ),
            (
                r#"{"from":1,"to":2,"amount":99999999999999999999999}"#,
                "too large",
            ),
            (r#"{"from":1,"to":2,"amount":1e400}"#, "without a fraction"),
            (r#"{"from":1,"to":2,"amount":1.5}"#, "without a fraction"),
            (r#"{"from":1,"to":2,"amount":10.0}"#, "without a fraction"),
            (r#"{"from":1,"to":2,"amount":-1}"#, "from 1 to"),
            (r#"{"from":1,"to":2,"amount":0}"#, "from 1 to"),
            (
                r#"{"from":1,"to":2,"amount":-99999999999999999999}"#,
                "from 1 to",
            ),
            (r#"{"from":1,"to":2,"amount":"10"}"#, "not a string"),
            (r#"{"from":1,"to":2,"amount":null}"#, "not null"),
            (r#"{"from":1,"to":2,"amount":[1]}"#, "not an array"),
            (r#"{"from":1,"to":2}"#, "required"),
            (
                r#"{"from":1,"to":2,"amount":1,"ammount":1}"#,
                "unknown field",
            ),
            (
                r#"{"from":1,"to":2,"amount":1,"amount":5}"#,
                "more than once",
            ),
            (r#"{"from":1,"to":1,"amount":1}"#, "two different users"),
        ] {
            let err = transfer(body).unwrap_err();
            assert!(err.contains(says), "{body}: {err}");
        }
    }

    #[test]
    fn malformed_bodies() {
        for body in ["", "  ", "[]", "5", "{", "{\"from\":1} x", "\u{0}"] {
            assert!(
                matches!(
                    JsonObject::parse(body.as_bytes()),
                    Err(Error::MalformedBody(_))
                ),
                "{body:?}"
            );
        }
        assert!(JsonObject::parse(b"{\"name\":\"\xff\"}").is_err());
    }
}
