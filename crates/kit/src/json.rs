//! [`JsonBody`]: the one way every service reads a JSON request body.
//!
//! The rules, the same for every endpoint that takes JSON:
//!
//! - the `Content-Type` must be `application/json` (or `application/<x>+json`), else
//!   415;
//! - a body larger than the limit is a 413 (the kit's body limit, or the service's
//!   own); one cut short is a 400;
//! - a body that is empty, not JSON, or followed by anything but white space is a 400;
//! - a body that is JSON but not what the endpoint takes is a 422 whose `field` names
//!   the member at fault: a missing, unknown (`deny_unknown_fields`) or repeated member,
//!   or a member of the wrong type or value. A repeated member is refused by the
//!   derived `Deserialize` of a struct, so `{"id":"a","id":"b"}` never stores under
//!   either id.
//!
//! The target type is an ordinary `#[derive(Deserialize)]` struct; the detail of a
//! 422 is the path of the member and serde's message, whose "expected ..." part comes
//! from the member's type. Types with their own rule (an integer in a range, say) give
//! it in their `expecting`, so the message tells the client what would be accepted;
//! a message never names a Rust type, because a body that is not even an object is
//! answered 400 before its struct's name could appear.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{HeaderMap, StatusCode, header},
};
use serde::de::{self, DeserializeOwned, Deserializer, Unexpected, Visitor};

use crate::Problem;

/// `#[serde(deserialize_with = "kit::json::integer::<_, MIN>")]`: a JSON integer from
/// `MIN` to `i64::MAX`, exactly. A fraction, an exponent (`1e3`, `10.0`), a string, a
/// `null` or a number out of range is refused, never rounded, wrapped or truncated; the
/// message says "expected an integer from MIN to 9223372036854775807".
pub fn integer<'de, D: Deserializer<'de>, const MIN: i64>(
    deserializer: D,
) -> Result<i64, D::Error> {
    deserializer.deserialize_i64(IntegerFrom::<MIN>)
}

/// The visitor of [`integer`].
struct IntegerFrom<const MIN: i64>;

impl<const MIN: i64> Visitor<'_> for IntegerFrom<MIN> {
    type Value = i64;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "an integer from {MIN} to {}", i64::MAX)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        if v < MIN {
            return Err(E::invalid_value(Unexpected::Signed(v), &self));
        }
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        match i64::try_from(v) {
            Ok(v) => self.visit_i64(v),
            Err(_) => Err(E::invalid_value(Unexpected::Unsigned(v), &self)),
        }
    }
}

/// A JSON request body, read by the rules of the module docs. The rejection is the
/// problem+json answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        if !is_json(req.headers()) {
            return Err(Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE)
                .with_detail("the body must be JSON: send Content-Type: application/json"));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            // 413 past the body limit, 400 for a body cut short.
            Problem::new(e.status())
                .with_detail(format!("the body could not be read: {}", e.body_text()))
        })?;
        parse(&bytes).map(Self)
    }
}

/// Whether the request says its body is JSON.
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
}

/// Parses `bytes` as a `T` by the module's rules.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => {
            return Err(Problem::bad_request(
                "the body is empty; expected a JSON object",
            ));
        }
        // A derived struct would also take an array of its fields, in order: the body
        // must be an object, whose members are named.
        Some(b) if *b != b'{' => {
            return Err(Problem::bad_request("the body must be a JSON object"));
        }
        Some(_) => {}
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize::<_, T>(&mut de).map_err(refusal)?;
    de.end()
        .map_err(|e| Problem::bad_request(format!("the body is not valid JSON: {e}")))?;
    Ok(value)
}

/// A JSON object read member by member, where a repeated member is an error (serde's
/// `duplicate field` message, which [`parse`] answers with a 422 naming it), for bodies
/// whose members are checked by hand (a batch of rows, say). Anything but an object is
/// refused: unlike a derived struct, it does not take an array of values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UniqueObject(pub serde_json::Map<String, serde_json::Value>);

impl<'de> serde::Deserialize<'de> for UniqueObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = UniqueObject;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<UniqueObject, A::Error> {
                let mut members = serde_json::Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    if members.contains_key(&key) {
                        return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
                    }
                    let value = map.next_value()?;
                    members.insert(key, value);
                }
                Ok(UniqueObject(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// The answer to a body serde refused.
fn refusal(error: serde_path_to_error::Error<serde_json::Error>) -> Problem {
    let path = error.path().to_string();
    let inner = error.into_inner();
    // serde's message, without its " at line 1 column 9" suffix.
    let text = inner.to_string();
    let message = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(m, _)| m);
    // A number too large for any type (`1e400`) is valid JSON but no value: the
    // member's fault, like any other out-of-range number.
    let out_of_range = inner.is_syntax() && message == "number out of range" && path != ".";
    if !inner.is_data() && !out_of_range {
        return Problem::bad_request(format!("the body is not valid JSON: {text}"));
    }
    let field = if path == "." {
        // A member the struct itself refused (missing, unknown, repeated) is named in
        // backquotes; anything else at the top is a body that is no object at all.
        match named_member(message) {
            Some(name) => name.to_owned(),
            None => {
                return Problem::bad_request("the body must be a JSON object");
            }
        }
    } else {
        path
    };
    let shown: String = field.chars().take(64).collect();
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY)
        .with_detail(format!("{shown}: {message}"))
        .with("field", shown)
}

/// The member named by serde's `missing field `x``, `unknown field `x`, expected ...`
/// or `duplicate field `x`` messages.
fn named_member(message: &str) -> Option<&str> {
    ["missing field `", "unknown field `", "duplicate field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Body {
        id: String,
        #[serde(default)]
        n: u8,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Amount {
        #[serde(deserialize_with = "integer::<_, 1>")]
        amount: i64,
    }

    #[test]
    fn integers_are_exact() {
        let ok = |text: &str| parse::<Amount>(text.as_bytes()).map(|a| a.amount);
        assert_eq!(ok(r#"{"amount":9223372036854775807}"#).unwrap(), i64::MAX);
        assert_eq!(ok(r#"{"amount":1}"#).unwrap(), 1);
        for bad in [
            "9223372036854775808",
            "99999999999999999999999",
            "1e400",
            "1e3",
            "1.5",
            "10.0",
            "0",
            "-1",
            "-99999999999999999999",
            "\"10\"",
            "null",
            "[1]",
        ] {
            let p = ok(&format!(r#"{{"amount":{bad}}}"#)).unwrap_err();
            let detail = p.detail.clone().unwrap();
            assert_eq!(p.status, 422, "{bad}: {detail}");
            assert_eq!(p.extensions["field"], "amount");
            if bad == "1e400" {
                assert!(detail.contains("out of range"), "{bad}: {detail}");
                continue;
            }
            assert_eq!(p.status, 422, "{bad}: {detail}");
            assert_eq!(p.extensions["field"], "amount");
            assert!(
                detail.contains("expected an integer from 1 to 9223372036854775807"),
                "{bad}: {detail}"
            );
        }
    }

    fn refused(body: &str) -> Problem {
        parse::<Body>(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn accepts_what_the_struct_takes() {
        assert_eq!(
            parse::<Body>(br#" {"id":"a","n":3} "#).unwrap(),
            Body {
                id: "a".into(),
                n: 3
            }
        );
    }

    #[test]
    fn names_the_member_at_fault() {
        for (body, field, says) in [
            (r#"{"id":"a","id":"b"}"#, "id", "duplicate field"),
            (r#"{"n":1}"#, "id", "missing field"),
            (r#"{"id":"a","x":1}"#, "x", "unknown field"),
            (r#"{"id":5}"#, "id", "expected a string"),
            (r#"{"id":"a","n":300}"#, "n", "invalid value"),
        ] {
            let p = refused(body);
            assert_eq!(p.status, 422, "{body}");
            assert_eq!(p.extensions["field"], field, "{body}");
            let detail = p.detail.unwrap();
            assert!(detail.contains(says), "{body}: {detail}");
            assert!(!detail.contains("line 1"), "{body}: {detail}");
        }
    }

    #[test]
    fn bodies_that_are_no_object_are_400_without_type_names() {
        for body in [
            "",
            "  ",
            "[]",
            "[\"a\"]",
            "[\"a\", 1]",
            "5",
            "\"x\"",
            "{",
            "{\"id\":\"a\"} x",
            "nul",
        ] {
            let p = refused(body);
            assert_eq!(p.status, 400, "{body:?}");
            assert!(!p.detail.unwrap().contains("Body"), "{body:?}");
        }
        assert_eq!(parse::<Body>(b"{\"id\":\"\xff\"}").unwrap_err().status, 400);
    }

    #[test]
    fn a_unique_object_refuses_repeated_members_and_arrays() {
        let ok: UniqueObject = serde_json::from_str(r#"{"a":1,"b":[2]}"#).unwrap();
        assert_eq!(ok.0.len(), 2);
        let err = serde_json::from_str::<UniqueObject>(r#"{"a":1,"a":2}"#).unwrap_err();
        assert!(err.to_string().contains("duplicate field `a`"), "{err}");
        assert!(serde_json::from_str::<UniqueObject>("[1]").is_err());
    }

    #[test]
    fn media_types() {
        let mut h = HeaderMap::new();
        assert!(!is_json(&h));
        for (v, ok) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("Application/JSON", true),
            ("application/merge-patch+json", true),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
            ("text/json", false),
        ] {
            h.insert(header::CONTENT_TYPE, v.parse().unwrap());
            assert_eq!(is_json(&h), ok, "{v}");
        }
    }
}
