//! PostgreSQL's `COPY` text format, one field at a time: what `COPY TO` writes (and
//! `pg_dump` puts between `COPY ... FROM stdin;` and `\.`), and what `COPY FROM` reads.
//!
//! Fields are separated by a tab and rows end with a newline; `\N` is SQL `NULL`, and a
//! backslash escapes the characters that would break that framing. Three parts of berth
//! speak it: the dump reader ([`crate::dump`]) decodes rows, the generator
//! ([`crate::generate`]) and the PostgreSQL store's `COPY FROM STDIN` encode them.
//!
//! ```
//! use rates::copy_text::{escape_field, push_fields, unescape_field};
//!
//! assert_eq!(escape_field(Some("a\tb\\")), "a\\tb\\\\");
//! assert_eq!(unescape_field("a\\tb\\\\"), Ok(Some("a\tb\\".to_owned())));
//! assert_eq!(unescape_field("\\N"), Ok(None));
//!
//! let mut row = String::new();
//! push_fields(&mut row, &[Some("x"), None, Some("new\nline")]);
//! assert_eq!(row, "x\t\\N\tnew\\nline");
//! ```

/// Escapes one value: `None` becomes `\N`; backslash, tab, newline, carriage return,
/// backspace, form feed and vertical tab become `\\`, `\t`, `\n`, `\r`, `\b`, `\f`,
/// `\v`, as `COPY TO` writes them.
#[must_use]
pub fn escape_field(value: Option<&str>) -> String {
    let mut out = String::new();
    escape_field_into(&mut out, value);
    out
}

/// Like [`escape_field`], but appends to `out` (no allocation when `out` has room).
pub fn escape_field_into(out: &mut String, value: Option<&str>) {
    let Some(value) = value else {
        out.push_str("\\N");
        return;
    };
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c => out.push(c),
        }
    }
}

/// Appends the fields of one row, escaped and separated by tabs (without the newline
/// that ends the row).
pub fn push_fields(out: &mut String, fields: &[Option<&str>]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        escape_field_into(out, *field);
    }
}

/// Decodes one field: `\N` alone is `None`, escapes are decoded.
///
/// # Errors
/// A message naming the bad escape: a trailing backslash, `\x` without hex digits, an
/// octal value above `\377`, a `\N` or other unknown escape inside a value, a value
/// decoding to a NUL byte or to invalid UTF-8.
pub fn unescape_field(field: &str) -> Result<Option<String>, String> {
    if field == "\\N" {
        return Ok(None);
    }
    if !field.contains('\\') {
        return Ok(Some(field.to_owned()));
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let Some(&e) = bytes.get(i + 1) else {
            return Err("backslash at the end of the field".to_owned());
        };
        i += 2;
        match e {
            b'\\' => out.push(b'\\'),
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let (value, used) = digits(&bytes[i - 1..], 8, 3);
                i += used - 1;
                let byte = u8::try_from(value)
                    .map_err(|_| format!("octal escape \\{value:o} is above \\377"))?;
                out.push(byte);
            }
            b'x' => {
                let (value, used) = digits(&bytes[i..], 16, 2);
                if used == 0 {
                    return Err("`\\x` is not followed by a hex digit".to_owned());
                }
                i += used;
                // At most two hex digits: below 256.
                out.push(u8::try_from(value).unwrap_or(u8::MAX));
            }
            other => {
                let shown = field[i - 1..].chars().next().unwrap_or(char::from(other));
                return Err(format!("unknown escape `\\{shown}`"));
            }
        }
    }
    if out.contains(&0) {
        return Err("value contains a NUL byte".to_owned());
    }
    String::from_utf8(out)
        .map(Some)
        .map_err(|_| "escapes decode to invalid UTF-8".to_owned())
}

/// The value of the up to `most` leading digits of `bytes` in `radix`, and how many
/// there were.
fn digits(bytes: &[u8], radix: u32, most: usize) -> (u32, usize) {
    let mut value = 0;
    let mut used = 0;
    while used < most {
        match bytes.get(used).and_then(|&d| char::from(d).to_digit(radix)) {
            Some(d) => {
                value = value * radix + d;
                used += 1;
            }
            None => break,
        }
    }
    (value, used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_table() {
        let ok: &[(&str, Option<&str>)] = &[
            ("plain", Some("plain")),
            ("", Some("")),
            ("\\N", None),
            ("\\\\", Some("\\")),
            ("a\\tb", Some("a\tb")),
            ("\\n\\r", Some("\n\r")),
            ("\\b\\f\\v", Some("\u{8}\u{c}\u{b}")),
            ("\\101", Some("A")),
            ("\\1011", Some("A1")),
            ("\\7x", Some("\u{7}x")),
            ("\\18", Some("\u{1}8")),
            ("\\x41", Some("A")),
            ("\\x4g", Some("\u{4}g")),
            ("\\x414", Some("A4")),
            ("\\303\\251", Some("é")),
            ("\\xc3\\xA9", Some("é")),
            ("Måløy", Some("Måløy")),
            ("\\\\N", Some("\\N")),
        ];
        for (raw, want) in ok {
            assert_eq!(
                unescape_field(raw).as_ref().map(Option::as_deref),
                Ok(*want),
                "{raw}"
            );
        }
        let bad: &[(&str, &str)] = &[
            ("abc\\", "backslash at the end"),
            ("\\x", "hex digit"),
            ("\\xg", "hex digit"),
            ("\\400", "above \\377"),
            ("\\0", "NUL"),
            ("\\xff", "invalid UTF-8"),
            ("a\\Nb", "unknown escape `\\N`"),
            ("\\q", "unknown escape `\\q`"),
            ("\\é", "unknown escape `\\é`"),
            ("\\.", "unknown escape `\\.`"),
        ];
        for (raw, want) in bad {
            let err = unescape_field(raw).expect_err(raw);
            assert!(err.contains(want), "{raw}: {err}");
        }
    }

    #[test]
    fn escape_round_trips() {
        let values: &[Option<&str>] = &[
            None,
            Some(""),
            Some("\\N"),
            Some("N"),
            Some("tab\there"),
            Some("multi\nline\r\n"),
            Some("\\"),
            Some("\\\\t"),
            Some("\u{8}\u{b}\u{c}"),
            Some("Copenhagen (København)"),
            Some("Ust'-Luga"),
            Some("\"quoted\" ; -- not a comment"),
            Some("\u{7f}\u{1}"),
        ];
        for value in values {
            let escaped = escape_field(*value);
            assert!(!escaped.contains(['\t', '\n', '\r']), "{escaped:?}");
            let back = unescape_field(&escaped).expect("decodes");
            assert_eq!(back.as_deref(), *value, "{escaped:?}");
        }
        assert_eq!(escape_field(None), "\\N");
        assert_eq!(escape_field(Some("a\tb\\")), "a\\tb\\\\");

        // A whole row splits back into its fields at the tabs.
        let mut row = String::new();
        push_fields(&mut row, values);
        let back: Vec<Option<String>> = row
            .split('\t')
            .map(|f| unescape_field(f).expect("decodes"))
            .collect();
        let want: Vec<Option<String>> = values.iter().map(|v| v.map(str::to_owned)).collect();
        assert_eq!(back, want);
    }
}
