//! The domain: users, transfers, idempotency keys and paging, with their rules. No HTTP,
//! no SQL.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Error;

/// Longest user name, in characters.
pub const NAME_MAX_CHARS: usize = 64;
/// Longest idempotency key, in bytes.
pub const KEY_MAX_LEN: usize = 255;
/// Rows per page when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 100;
/// Most rows per page.
pub const MAX_LIMIT: u32 = 1000;

/// A user and their coin balance: exactly the original's list entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct User {
    /// The user's id (positive).
    #[schema(example = 1)]
    pub id: i64,
    /// The user's name: 1–64 characters, unique.
    #[schema(example = "alice")]
    pub name: String,
    /// The user's balance: a non-negative integer.
    #[schema(example = 120)]
    pub coins: i64,
}

/// A user to create: the body of `POST /user`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 1–64 characters, stored in Unicode NFC; no control, format or other invisible
    /// characters, no leading or trailing whitespace (422 otherwise); unique without
    /// regard to case (409 otherwise: `alice` and `ALICE` are one user).
    #[schema(example = "frank", min_length = 1, max_length = 64)]
    pub name: String,
    /// Opening balance: an integer from 0 to 9223372036854775807; 0 when absent.
    #[schema(example = 100, minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    #[serde(default, deserialize_with = "kit::json::integer::<_, 0>")]
    pub coins: i64,
}

/// A transfer to make: the body of `POST /transfers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    /// The sender's id.
    #[schema(example = 1, minimum = 1, maximum = 9_223_372_036_854_775_807_i64)]
    #[serde(deserialize_with = "kit::json::integer::<_, 1>")]
    pub from: i64,
    /// The recipient's id; not the sender.
    #[schema(example = 2, minimum = 1, maximum = 9_223_372_036_854_775_807_i64)]
    #[serde(deserialize_with = "kit::json::integer::<_, 1>")]
    pub to: i64,
    /// Coins to move: an integer from 1 to 9223372036854775807.
    #[schema(example = 10, minimum = 1, maximum = 9_223_372_036_854_775_807_i64)]
    #[serde(deserialize_with = "kit::json::integer::<_, 1>")]
    pub amount: i64,
}

/// A committed transfer: a row of the ledger, with both balances right after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Transfer {
    /// The transfer's id; ids grow with time.
    #[schema(example = 7)]
    pub id: i64,
    /// The sender's id.
    #[schema(example = 1)]
    #[sqlx(rename = "from_id")]
    pub from: i64,
    /// The recipient's id.
    #[schema(example = 2)]
    #[sqlx(rename = "to_id")]
    pub to: i64,
    /// Coins moved.
    #[schema(example = 10)]
    pub amount: i64,
    /// The sender's balance right after this transfer.
    #[schema(example = 110)]
    pub from_balance: i64,
    /// The recipient's balance right after this transfer.
    #[schema(example = 90)]
    pub to_balance: i64,
    /// When it was committed (RFC 3339, UTC).
    #[schema(value_type = String, format = DateTime, example = "2026-11-22T10:15:30.123456Z")]
    pub created_at: DateTime<Utc>,
}

impl Transfer {
    /// Whether this transfer is what `request` asks for.
    pub fn matches(&self, request: &TransferRequest) -> bool {
        self.from == request.from && self.to == request.to && self.amount == request.amount
    }
}

/// The outcome of a transfer request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transferred {
    /// The transfer.
    pub transfer: Transfer,
    /// Whether it was committed earlier, under the same idempotency key (nothing moved
    /// this time).
    pub replayed: bool,
}

/// One page of a listing ordered by id: rows after the cursor `after`, at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Most rows to return.
    pub limit: u32,
    /// The id of the last row of the previous page (ascending listings: rows with a
    /// greater id; descending ones: rows with a smaller id).
    pub after: Option<i64>,
}

impl Page {
    /// The same page, one row longer (to learn whether a next page exists).
    #[must_use]
    pub fn probe(self) -> Self {
        Self {
            limit: self.limit + 1,
            after: self.after,
        }
    }
}

/// Letters that render as nothing: Unicode's default-ignorable code points of category
/// Lo (Hangul fillers).
const FILLERS: [char; 4] = ['\u{115F}', '\u{1160}', '\u{3164}', '\u{FFA0}'];

/// Normalises and checks a user name, returning the name to store:
///
/// - stored in Unicode NFC, so a name typed composed (`café`, U+00E9) or decomposed
///   (`cafe` + U+0301) is one name;
/// - 1–64 characters (after normalisation), no leading or trailing whitespace;
/// - no control, format or other invisible characters (a zero-width space, a
///   bidirectional override, a Hangul filler...), no unassigned or private-use code
///   points: two names that look alike must not differ by a character nobody sees.
///
/// Uniqueness ignores case ([`name_key`]): `alice` and `ALICE` are one user.
pub fn normalize_name(raw: &str) -> Result<String, Error> {
    use unicode_normalization::UnicodeNormalization as _;
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};

    let name: String = raw.nfc().collect();
    let chars = name.chars().count();
    if chars == 0 {
        return Err(Error::field("name", "name must not be empty"));
    }
    if chars > NAME_MAX_CHARS {
        return Err(Error::field(
            "name",
            format!("name has {chars} characters; at most {NAME_MAX_CHARS} are allowed"),
        ));
    }
    if let Some(bad) = name.chars().find(|c| {
        FILLERS.contains(c)
            || matches!(
                c.general_category(),
                GeneralCategory::Control
                    | GeneralCategory::Format
                    | GeneralCategory::Unassigned
                    | GeneralCategory::PrivateUse
                    | GeneralCategory::Surrogate
                    | GeneralCategory::LineSeparator
                    | GeneralCategory::ParagraphSeparator
            )
    }) {
        return Err(Error::field(
            "name",
            format!(
                "name must not contain control, format or invisible characters; U+{:04X} is one",
                u32::from(bad)
            ),
        ));
    }
    if name.starts_with(char::is_whitespace) || name.ends_with(char::is_whitespace) {
        return Err(Error::field(
            "name",
            "name must not start or end with whitespace",
        ));
    }
    Ok(name)
}

/// The key names are unique by: the (normalised) name in lower case.
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// Checks a transfer's rules beyond each number's range: no transfer to oneself.
pub fn check_transfer(request: &TransferRequest) -> Result<(), Error> {
    if request.from == request.to {
        return Err(Error::field(
            "to",
            format!(
                "from and to are both {}: a transfer needs two different users",
                request.from
            ),
        ));
    }
    Ok(())
}

/// Checks an `Idempotency-Key`: 1–255 visible ASCII characters.
pub fn check_key(key: &str) -> Result<(), Error> {
    if key.is_empty() || key.len() > KEY_MAX_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::param(
            "Idempotency-Key",
            format!(
                "the Idempotency-Key header must be 1 to {KEY_MAX_LEN} visible ASCII characters (a UUID is a good key)"
            ),
        ));
    }
    Ok(())
}

/// The demo users seeded into an empty SQLite store.
pub const DEMO_USERS: [(&str, i64); 5] = [
    ("alice", 120),
    ("bob", 80),
    ("carol", 250),
    ("dave", 0),
    ("erin", 42),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(normalize_name("alice").unwrap(), "alice");
        assert!(normalize_name("Ω-ünïcode 名前").is_ok());
        assert!(normalize_name(&"é".repeat(64)).is_ok());
        // 64 characters once composed: "e" + U+0301 sixty-four times.
        assert!(normalize_name(&"e\u{301}".repeat(64)).is_ok());
        for bad in [
            "",
            " bob",
            "bob ",
            "a\u{0}b",
            "tab\there",
            &"x".repeat(65),
            "al\u{200b}ice",
            "\u{202e}ecila",
            "al\u{feff}ice",
            "a\u{3164}b",
            "a\u{e000}b",
            "a\u{2028}b",
        ] {
            assert!(normalize_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_are_stored_composed_and_unique_without_case() {
        let composed = normalize_name("caf\u{e9}").unwrap();
        let decomposed = normalize_name("cafe\u{301}").unwrap();
        assert_eq!(composed, decomposed);
        assert_eq!(name_key("ALICE"), name_key("alice"));
        assert_eq!(
            name_key(&normalize_name("CAFE\u{301}").unwrap()),
            name_key(&composed)
        );
    }

    #[test]
    fn keys() {
        assert!(check_key("8c6f0a2e-1d3b-4c5e-9f7a-0b1c2d3e4f50").is_ok());
        assert!(check_key(&"k".repeat(255)).is_ok());
        for bad in ["", "with space", "naïve", &"k".repeat(256)] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn transfer_to_oneself_is_refused() {
        let t = TransferRequest {
            from: 3,
            to: 3,
            amount: 1,
        };
        assert!(matches!(check_transfer(&t), Err(Error::Invalid { .. })));
    }
}
