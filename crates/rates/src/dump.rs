//! A streaming reader of plain-format `pg_dump` files, for the loader.
//!
//! [`DumpReader`] reads any [`BufRead`] line by line and yields [`Event`]s: the
//! `COPY table (columns) FROM stdin;` blocks (their start, one event per row, their
//! end), and every other statement or psql meta-command (`SET`, `CREATE TABLE`,
//! `ALTER TABLE`, `\restrict`, ...) as [`Event::Other`], split at its `;` but not
//! parsed: the loader needs the rows and the columns they fill, nothing else. One
//! statement is looked into: `SET client_encoding`, which must name UTF-8 (the rows
//! are decoded as such). Only one statement or one row is held in memory at a time.
//!
//! The reader is strict: a row with the wrong number of fields, an escape that
//! `pg_dump` never writes, invalid UTF-8, a `COPY` block that is not closed by `\.` or
//! a statement without its `;` is a [`DumpError`] carrying the 1-based line number. A
//! loader is expected to reject the whole file on the first error.
//!
//! ```
//! use rates::dump::{DumpReader, Event};
//!
//! let sql = "COPY public.t (a, b) FROM stdin;\nx\t\\N\n\\.\n";
//! let mut rows = Vec::new();
//! for event in DumpReader::new(sql.as_bytes()) {
//!     if let Event::Row { fields, .. } = event.unwrap() {
//!         rows.push(fields);
//!     }
//! }
//! assert_eq!(rows, vec![vec![Some("x".to_owned()), None]]);
//! ```

use std::fmt;
use std::io::{self, BufRead};

use crate::copy_text::unescape_field;

/// An error found while reading a dump. Every variant names the 1-based
/// line where the problem is (see [`DumpError::line`]).
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// The underlying reader failed (for a download: the connection broke).
    #[error("line {line}: read error: {cause}")]
    Io {
        /// The line that was being read.
        line: u64,
        /// The I/O error (in the message, so not also a `source`).
        cause: io::Error,
    },
    /// A line is not valid UTF-8.
    #[error("line {line}: invalid UTF-8 (byte offset {offset} in the line)")]
    InvalidUtf8 {
        /// The offending line.
        line: u64,
        /// Byte offset of the first invalid byte within the line.
        offset: usize,
    },
    /// A `COPY` row has a different number of fields than the `COPY` column list.
    #[error("line {line}: row of table `{table}` has {got} fields, expected {expected}")]
    FieldCount {
        /// The offending line.
        line: u64,
        /// The table being copied into.
        table: String,
        /// Number of columns in the `COPY` statement.
        expected: usize,
        /// Number of tab-separated fields found.
        got: usize,
    },
    /// A backslash escape in a `COPY` row is malformed or not one `pg_dump` writes.
    #[error("line {line}: bad escape in field {field} of table `{table}`: {reason}")]
    BadEscape {
        /// The offending line.
        line: u64,
        /// The table being copied into.
        table: String,
        /// 1-based field number within the row.
        field: usize,
        /// What is wrong.
        reason: String,
    },
    /// A line starting with `\.` that is not exactly `\.`.
    #[error(
        "line {line}: corrupt end-of-copy marker in table `{table}`: the line must be exactly `\\.`"
    )]
    BadEndMarker {
        /// The offending line.
        line: u64,
        /// The table being copied into.
        table: String,
    },
    /// The file ended inside a `COPY` block (a truncated dump).
    #[error(
        "line {start_line}: COPY into table `{table}` is not terminated by a `\\.` line: \
         the file ended at line {end_line} after {rows} rows"
    )]
    UnterminatedCopy {
        /// The line of the `COPY` statement.
        start_line: u64,
        /// The table being copied into.
        table: String,
        /// The last line of the file.
        end_line: u64,
        /// Rows read before the end of the file.
        rows: u64,
    },
    /// A statement has no terminating `;`: the file ended, or a new statement
    /// started, before it was complete.
    #[error("line {line}: unterminated statement `{snippet}`: {reason}")]
    UnterminatedStatement {
        /// The first line of the statement.
        line: u64,
        /// The beginning of the statement text.
        snippet: String,
        /// Why it is considered unterminated (names the line where that was found).
        reason: String,
    },
    /// A `COPY ... FROM stdin` statement is malformed or not one the reader can follow
    /// (no column list, options).
    #[error("line {line}: invalid statement: {message}")]
    InvalidStatement {
        /// The first line of the statement.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// `SET client_encoding` names an encoding other than UTF-8.
    #[error("line {line}: unsupported client_encoding '{encoding}': only UTF8 dumps are supported")]
    UnsupportedEncoding {
        /// The line of the `SET` statement.
        line: u64,
        /// The encoding named.
        encoding: String,
    },
}

impl DumpError {
    /// The 1-based line number the error refers to.
    #[must_use]
    pub fn line(&self) -> u64 {
        match self {
            Self::Io { line, .. }
            | Self::InvalidUtf8 { line, .. }
            | Self::FieldCount { line, .. }
            | Self::BadEscape { line, .. }
            | Self::BadEndMarker { line, .. }
            | Self::UnterminatedStatement { line, .. }
            | Self::InvalidStatement { line, .. }
            | Self::UnsupportedEncoding { line, .. } => *line,
            Self::UnterminatedCopy { start_line, .. } => *start_line,
        }
    }
}

/// One item of a dump, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `COPY [schema.]table (columns) FROM stdin;`: rows of `table` follow.
    CopyStart {
        /// Line of the `COPY` statement.
        line: u64,
        /// Table name without schema.
        table: String,
        /// Column names, in the order of the row fields.
        columns: Vec<String>,
    },
    /// One data row of the current `COPY` block, escapes decoded.
    Row {
        /// Line of the row.
        line: u64,
        /// Field values in `COPY` column order; `None` is SQL `NULL` (`\N`).
        fields: Vec<Option<String>>,
    },
    /// The `\.` line that ends a `COPY` block.
    CopyEnd {
        /// Line of the `\.`.
        line: u64,
        /// Table name without schema.
        table: String,
        /// Number of rows in the block.
        rows: u64,
    },
    /// Any other statement or psql meta-command, raw (comments inside it kept).
    Other {
        /// First line of the statement.
        line: u64,
        /// The statement text.
        sql: String,
    },
}

/// Lexical state of SQL text, carried across lines of one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Lex {
    Normal,
    Single,
    Double,
    Dollar(String),
    Block(u32),
}

struct CopyState {
    table: String,
    columns: usize,
    start_line: u64,
    rows: u64,
}

/// Streams [`Event`]s from a plain-format dump. Also an [`Iterator`] of
/// `Result<Event, DumpError>` that stops after the first error.
pub struct DumpReader<R> {
    reader: R,
    buf: Vec<u8>,
    line_no: u64,
    copy: Option<CopyState>,
    stmt: String,
    stmt_line: u64,
    lex: Lex,
    carry: Option<String>,
    finished: bool,
}

impl<R: BufRead> DumpReader<R> {
    /// Wraps a reader positioned at the start of a dump.
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            buf: Vec::with_capacity(256),
            line_no: 0,
            copy: None,
            stmt: String::new(),
            stmt_line: 0,
            lex: Lex::Normal,
            carry: None,
            finished: false,
        }
    }

    /// The number of the last line read (1-based; 0 before the first).
    #[must_use]
    pub fn line(&self) -> u64 {
        self.line_no
    }

    /// Reads the next event; `Ok(None)` at a clean end of file.
    ///
    /// # Errors
    /// Any [`DumpError`]; after an error the reader is finished and returns `Ok(None)`.
    pub fn next_event(&mut self) -> Result<Option<Event>, DumpError> {
        if self.finished {
            return Ok(None);
        }
        let result = self.advance();
        if !matches!(result, Ok(Some(_))) {
            self.finished = true;
        }
        result
    }

    fn advance(&mut self) -> Result<Option<Event>, DumpError> {
        loop {
            if let Some(rest) = self.carry.take() {
                if let Some(event) = self.sql_line(&rest)? {
                    return Ok(Some(event));
                }
                continue;
            }
            self.buf.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.buf)
                .map_err(|cause| DumpError::Io {
                    line: self.line_no + 1,
                    cause,
                })?;
            if n == 0 {
                return self.at_eof();
            }
            self.line_no += 1;
            if self.buf.last() == Some(&b'\n') {
                self.buf.pop();
                if self.buf.last() == Some(&b'\r') {
                    self.buf.pop();
                }
            }
            if self.copy.is_some() {
                return self.copy_line().map(Some);
            }
            let line = self.text()?.to_owned();
            if let Some(event) = self.sql_line(&line)? {
                return Ok(Some(event));
            }
        }
    }

    /// The line just read, as text.
    fn text(&self) -> Result<&str, DumpError> {
        std::str::from_utf8(&self.buf).map_err(|e| DumpError::InvalidUtf8 {
            line: self.line_no,
            offset: e.valid_up_to(),
        })
    }

    fn at_eof(&mut self) -> Result<Option<Event>, DumpError> {
        if let Some(copy) = self.copy.take() {
            return Err(DumpError::UnterminatedCopy {
                start_line: copy.start_line,
                table: copy.table,
                end_line: self.line_no,
                rows: copy.rows,
            });
        }
        if !self.stmt.trim().is_empty() {
            return Err(DumpError::UnterminatedStatement {
                line: self.stmt_line,
                snippet: snippet(&self.stmt),
                reason: format!("the file ended at line {} before its `;`", self.line_no),
            });
        }
        Ok(None)
    }

    fn copy_line(&mut self) -> Result<Event, DumpError> {
        let line = self.line_no;
        let Some(copy) = self.copy.as_ref() else {
            unreachable!("copy_line is only called inside a COPY block");
        };
        if self.buf.starts_with(b"\\.") {
            if self.buf.len() != 2 {
                return Err(DumpError::BadEndMarker {
                    line,
                    table: copy.table.clone(),
                });
            }
            let copy = self.copy.take().unwrap_or_else(|| unreachable!());
            return Ok(Event::CopyEnd {
                line,
                table: copy.table,
                rows: copy.rows,
            });
        }
        let text = self.text()?;
        let got = text.bytes().filter(|&b| b == b'\t').count() + 1;
        if got != copy.columns {
            return Err(DumpError::FieldCount {
                line,
                table: copy.table.clone(),
                expected: copy.columns,
                got,
            });
        }
        let mut fields = Vec::with_capacity(got);
        for (i, raw) in text.split('\t').enumerate() {
            let value = unescape_field(raw).map_err(|reason| DumpError::BadEscape {
                line,
                table: copy.table.clone(),
                field: i + 1,
                reason,
            })?;
            fields.push(value);
        }
        if let Some(copy) = self.copy.as_mut() {
            copy.rows += 1;
        }
        Ok(Event::Row { line, fields })
    }

    /// Feeds one line of SQL (outside `COPY`); returns an event when a
    /// statement completes.
    fn sql_line(&mut self, line: &str) -> Result<Option<Event>, DumpError> {
        if self.stmt.is_empty() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with("--") {
                return Ok(None);
            }
            if trimmed.starts_with('\\') {
                // A psql meta-command such as `\connect` or `\restrict`.
                return Ok(Some(Event::Other {
                    line: self.line_no,
                    sql: trimmed.to_owned(),
                }));
            }
            self.stmt_line = self.line_no;
        } else if self.lex == Lex::Normal && starts_new_statement(line) {
            return Err(DumpError::UnterminatedStatement {
                line: self.stmt_line,
                snippet: snippet(&self.stmt),
                reason: format!(
                    "line {} starts a new statement before this one's `;`",
                    self.line_no
                ),
            });
        } else {
            self.stmt.push('\n');
        }
        let Some(end) = scan_line(line, &mut self.lex) else {
            self.stmt.push_str(line);
            return Ok(None);
        };
        self.stmt.push_str(&line[..end]);
        let rest = line[end..].trim();
        let stmt = std::mem::take(&mut self.stmt);
        let event = self.statement(stmt)?;
        if !rest.is_empty() && !rest.starts_with("--") {
            if matches!(event, Event::CopyStart { .. }) {
                return Err(DumpError::InvalidStatement {
                    line: self.line_no,
                    message: "text after `COPY ... FROM stdin;` on the same line".to_owned(),
                });
            }
            self.carry = Some(rest.to_owned());
        }
        Ok(Some(event))
    }

    /// Classifies a complete statement (ending with `;`): a `COPY ... FROM stdin`
    /// starts a block; `SET client_encoding` is checked; anything else is passed on.
    fn statement(&mut self, sql: String) -> Result<Event, DumpError> {
        let line = self.stmt_line;
        let toks = tokenize(&sql);
        let invalid = |message: String| DumpError::InvalidStatement {
            line,
            message: format!("{message} in `{}`", snippet(&sql)),
        };
        match toks.as_slice() {
            [Tok::Word(copy), rest @ ..] if copy == "copy" => {
                if let Some((table, columns)) = copy_from_stdin(rest).map_err(invalid)? {
                    self.copy = Some(CopyState {
                        table: table.clone(),
                        columns: columns.len(),
                        start_line: line,
                        rows: 0,
                    });
                    return Ok(Event::CopyStart {
                        line,
                        table,
                        columns,
                    });
                }
            }
            [
                Tok::Word(set),
                Tok::Word(name),
                Tok::Punct('=') | Tok::Word(_),
                value,
                ..,
            ] if set == "set" && name == "client_encoding" => {
                check_encoding(line, value)?;
            }
            _ => {}
        }
        Ok(Event::Other { line, sql })
    }
}

impl<R: BufRead> Iterator for DumpReader<R> {
    type Item = Result<Event, DumpError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_event().transpose()
    }
}

impl<R> fmt::Debug for DumpReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DumpReader")
            .field("line", &self.line_no)
            .field("in_copy", &self.copy.as_ref().map(|c| &c.table))
            .finish_non_exhaustive()
    }
}

/// The tokens of a `COPY` statement after `COPY`: `(table, columns)` when it is
/// `[schema.]table (columns) FROM stdin;`, `None` for any other `COPY` (`TO`, from a
/// file: not data of this dump).
fn copy_from_stdin(toks: &[Tok]) -> Result<Option<(String, Vec<String>)>, String> {
    let name = |tok: &Tok| match tok {
        Tok::Word(name) | Tok::Quoted(name) => Some(name.clone()),
        _ => None,
    };
    let Some((first, mut rest)) = toks.split_first() else {
        return Ok(None);
    };
    let Some(mut table) = name(first) else {
        return Ok(None);
    };
    if let [Tok::Punct('.'), second, tail @ ..] = rest {
        table = name(second).ok_or("COPY without a table name")?;
        rest = tail;
    }
    let mut columns = Vec::new();
    if let [Tok::Punct('('), tail @ ..] = rest {
        rest = tail;
        loop {
            let [column, separator, tail @ ..] = rest else {
                return Err("a column list without its `)`".to_owned());
            };
            columns.push(name(column).ok_or("expected a column name")?);
            rest = tail;
            match separator {
                Tok::Punct(')') => break,
                Tok::Punct(',') => {}
                _ => return Err("expected `,` or `)` in a column list".to_owned()),
            }
        }
    }
    let [Tok::Word(from), Tok::Word(stdin), tail @ ..] = rest else {
        return Ok(None);
    };
    if from != "from" || stdin != "stdin" {
        return Ok(None);
    }
    if tail != [Tok::Punct(';')] {
        return Err("COPY options are not supported; expected `FROM stdin;`".to_owned());
    }
    if columns.is_empty() {
        return Err(format!(
            "COPY into `{table}` without a column list (pg_dump always writes one)"
        ));
    }
    Ok(Some((table, columns)))
}

fn check_encoding(line: u64, value: &Tok) -> Result<(), DumpError> {
    let (Tok::Word(value) | Tok::Quoted(value) | Tok::Str(value)) = value else {
        return Ok(());
    };
    let norm = value.to_ascii_uppercase().replace(['-', '_'], "");
    if norm == "UTF8" || norm == "UNICODE" {
        return Ok(());
    }
    Err(DumpError::UnsupportedEncoding {
        line,
        encoding: value.clone(),
    })
}

fn snippet(stmt: &str) -> String {
    let first = stmt.trim().lines().next().unwrap_or("");
    let mut s: String = first.chars().take(60).collect();
    if s.len() < first.len() {
        s.push_str("...");
    }
    s
}

/// A column-0 line that can only be the start of a new top-level statement.
fn starts_new_statement(line: &str) -> bool {
    ["CREATE ", "ALTER ", "COPY ", "SET ", "SELECT pg_catalog."]
        .iter()
        .any(|k| line.starts_with(k))
}

/// Scans one line in lexical state `lex`; returns the byte index just past
/// a statement-ending `;` if there is one.
fn scan_line(line: &str, lex: &mut Lex) -> Option<usize> {
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match lex {
            Lex::Normal => match b[i] {
                b';' => return Some(i + 1),
                b'\'' => *lex = Lex::Single,
                b'"' => *lex = Lex::Double,
                b'-' if b.get(i + 1) == Some(&b'-') => return None,
                b'/' if b.get(i + 1) == Some(&b'*') => {
                    *lex = Lex::Block(1);
                    i += 1;
                }
                b'$' => {
                    if let Some(len) = dollar_tag(&b[i..]) {
                        *lex = Lex::Dollar(line[i..i + len].to_owned());
                        i += len - 1;
                    }
                }
                _ => {}
            },
            Lex::Single => {
                if b[i] == b'\'' {
                    *lex = Lex::Normal;
                }
            }
            Lex::Double => {
                if b[i] == b'"' {
                    *lex = Lex::Normal;
                }
            }
            Lex::Dollar(tag) => {
                if line[i..].starts_with(tag.as_str()) {
                    i += tag.len() - 1;
                    *lex = Lex::Normal;
                }
            }
            Lex::Block(depth) => {
                let (left, used) = comment_step(b, i, *depth);
                i += used;
                *lex = if left == 0 {
                    Lex::Normal
                } else {
                    Lex::Block(left)
                };
            }
        }
        i += 1;
    }
    None
}

/// Inside a block comment `depth` deep, at `b[i]`: the depth after this byte (comments
/// nest; 0 past the last `*/`) and how many bytes more the step used.
fn comment_step(b: &[u8], i: usize, depth: u32) -> (u32, usize) {
    match (b[i], b.get(i + 1)) {
        (b'*', Some(b'/')) => (depth - 1, 1),
        (b'/', Some(b'*')) => (depth + 1, 1),
        _ => (depth, 0),
    }
}

/// Length of a dollar-quote opener (`$$` or `$tag$`) at the start of `b`.
fn dollar_tag(b: &[u8]) -> Option<usize> {
    let end = b[1..].iter().position(|&c| c == b'$')? + 1;
    let tag = &b[1..end];
    let ok = tag
        .iter()
        .enumerate()
        .all(|(k, &c)| c == b'_' || c.is_ascii_alphabetic() || (k > 0 && c.is_ascii_digit()));
    ok.then_some(end + 1)
}

/// A token of the statements the reader looks into (`COPY`, `SET`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// Unquoted word, lower-cased.
    Word(String),
    /// Double-quoted identifier.
    Quoted(String),
    /// String literal, quotes removed.
    Str(String),
    Punct(char),
}

/// The tokens of a statement, comments skipped.
fn tokenize(sql: &str) -> Vec<Tok> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let ch = bytes[i];
        let start = i;
        i += 1;
        if ch.is_ascii_whitespace() {
        } else if ch == b'-' && bytes.get(i) == Some(&b'-') {
            i = sql[i..].find('\n').map_or(bytes.len(), |k| i + k);
        } else if ch == b'/' && bytes.get(i) == Some(&b'*') {
            let mut depth = 1;
            i += 1;
            while i < bytes.len() && depth > 0 {
                let (left, used) = comment_step(bytes, i, depth);
                depth = left;
                i += used + 1;
            }
        } else if ch == b'\'' || ch == b'"' {
            // A quote inside is doubled.
            let mut text = String::new();
            loop {
                let Some(k) = sql[i..].find(char::from(ch)) else {
                    text.push_str(&sql[i..]);
                    i = bytes.len();
                    break;
                };
                text.push_str(&sql[i..i + k]);
                i += k + 1;
                if bytes.get(i) != Some(&ch) {
                    break;
                }
                text.push(char::from(ch));
                i += 1;
            }
            out.push(if ch == b'"' {
                Tok::Quoted(text)
            } else {
                Tok::Str(text)
            });
        } else if ch.is_ascii_alphanumeric() || ch == b'_' || ch >= 0x80 {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric()
                    || bytes[i] == b'_'
                    || bytes[i] == b'$'
                    || bytes[i] >= 0x80)
            {
                i += 1;
            }
            out.push(Tok::Word(sql[start..i].to_lowercase()));
        } else {
            out.push(Tok::Punct(char::from(ch)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy_text::escape_field;

    fn events(sql: &str) -> Result<Vec<Event>, DumpError> {
        DumpReader::new(sql.as_bytes()).collect()
    }

    fn error(sql: &str) -> DumpError {
        match events(sql) {
            Ok(evs) => panic!("expected an error, got {evs:?}"),
            Err(e) => e,
        }
    }

    fn rows(evs: &[Event]) -> Vec<Vec<Option<String>>> {
        evs.iter()
            .filter_map(|e| match e {
                Event::Row { fields, .. } => Some(fields.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn row_with_wrong_field_count_names_line() {
        let sql = "SET client_encoding = 'UTF8';\n\nCOPY public.t (a, b, c) FROM stdin;\n1\t2\t3\n1\t2\n\\.\n";
        let err = error(sql);
        assert!(
            matches!(err, DumpError::FieldCount { line: 5, expected: 3, got: 2, ref table } if table == "t"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "line 5: row of table `t` has 2 fields, expected 3"
        );
        let err = error("COPY t (a) FROM stdin;\nx\ty\n\\.\n");
        assert!(matches!(
            err,
            DumpError::FieldCount {
                line: 2,
                expected: 1,
                got: 2,
                ..
            }
        ));
    }

    #[test]
    fn null_marker_is_none() {
        let evs = events("COPY public.regions (slug, name, parent_slug) FROM stdin;\nchina_main\tChina Main\t\\N\nx\t\\\\N\t\n\\.\n")
            .expect("parses");
        assert_eq!(
            rows(&evs),
            vec![
                vec![Some("china_main".into()), Some("China Main".into()), None],
                vec![Some("x".into()), Some("\\N".into()), Some(String::new())],
            ]
        );
        assert_eq!(
            evs[3],
            Event::CopyEnd {
                line: 4,
                table: "regions".into(),
                rows: 2,
            }
        );
    }

    #[test]
    fn escaped_rows_read_back() {
        let values: &[Option<&str>] = &[
            None,
            Some(""),
            Some("\\N"),
            Some("tab\there"),
            Some("multi\nline\r\n"),
            Some("\\\\t"),
            Some("\u{8}\u{b}\u{c}"),
            Some("Copenhagen (København)"),
            Some("\"quoted\" ; -- not a comment"),
        ];
        let mut sql = String::from("COPY x (a, b) FROM stdin;\n");
        for value in values {
            sql.push_str(&escape_field(*value));
            sql.push('\t');
            sql.push_str(&escape_field(Some("end")));
            sql.push('\n');
        }
        sql.push_str("\\.\n");
        let got = rows(&events(&sql).expect("parses"));
        let want: Vec<Vec<Option<String>>> = values
            .iter()
            .map(|v| vec![v.map(str::to_owned), Some("end".to_owned())])
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn bad_escape_in_row_names_line_and_field() {
        let err = error("COPY public.t (a, b) FROM stdin;\nok\tok\nok\tbad\\q\n\\.\n");
        assert!(
            matches!(
                err,
                DumpError::BadEscape {
                    line: 3,
                    field: 2,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("line 3: bad escape in field 2 of table `t`")
        );
    }

    #[test]
    fn unterminated_copy_at_eof() {
        let err = error("-- c\nCOPY public.t (a) FROM stdin;\nx\ny\n");
        assert!(
            matches!(
                err,
                DumpError::UnterminatedCopy {
                    start_line: 2,
                    end_line: 4,
                    rows: 2,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "line 2: COPY into table `t` is not terminated by a `\\.` line: the file ended at line 4 after 2 rows"
        );
        // A final row without a newline is still a row.
        let evs = events("COPY t (a) FROM stdin;\nx\n\\.").expect("parses");
        assert_eq!(rows(&evs).len(), 1);
    }

    #[test]
    fn corrupt_end_marker() {
        let err = error("COPY t (a) FROM stdin;\nx\n\\.junk\n");
        assert!(
            matches!(err, DumpError::BadEndMarker { line: 3, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn invalid_utf8_names_line() {
        let mut bytes = b"COPY t (a) FROM stdin;\nok\nbad \xff\n\\.\n".to_vec();
        let err = DumpReader::new(bytes.as_slice())
            .collect::<Result<Vec<_>, _>>()
            .expect_err("invalid");
        assert!(
            matches!(err, DumpError::InvalidUtf8 { line: 3, offset: 4 }),
            "{err:?}"
        );
        bytes = b"SET a = 1;\n-- \xc3\n".to_vec();
        let err = DumpReader::new(bytes.as_slice())
            .collect::<Result<Vec<_>, _>>()
            .expect_err("invalid");
        assert_eq!(err.line(), 2);
    }

    #[test]
    fn unterminated_statement() {
        let err = error("SET a = 1;\n\nCREATE TABLE public.ports (\n    code text NOT NULL,\n");
        assert!(
            matches!(&err, DumpError::UnterminatedStatement { line: 3, reason, .. } if reason.contains("line 4")),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("CREATE TABLE public.ports"),
            "{err}"
        );
        let err = error(
            "CREATE TABLE public.ports (\n    code text NOT NULL\n\n\nCREATE TABLE public.x (\n    a text\n);\n",
        );
        assert!(
            matches!(&err, DumpError::UnterminatedStatement { line: 1, reason, .. } if reason.contains("line 5")),
            "{err:?}"
        );
    }

    #[test]
    fn statements_of_a_full_dump() {
        let sql = "\\restrict abc123\n\
            SET statement_timeout = 0;\r\n\
            SELECT pg_catalog.set_config('search_path', '', false);\n\
            CREATE FUNCTION public.f() RETURNS integer\n    LANGUAGE sql\n    AS $_$ SELECT 1; SELECT 2; $_$;\n\
            CREATE TABLE public.\"Odd Name\" (\n    id integer NOT NULL,\n    \"Label\" character varying(20) DEFAULT 'a,b'::character varying,\n    amount numeric(10,2),\n    tags text[],\n    CONSTRAINT positive CHECK ((amount > (0)::numeric))\n);\n\
            ALTER TABLE public.\"Odd Name\" OWNER TO someone;\n\
            CREATE SEQUENCE public.s\n    START WITH 1\n    INCREMENT BY 1;\n\
            COMMENT ON TABLE public.\"Odd Name\" IS 'it''s; odd';\n\
            COPY public.\"Odd Name\" (id, \"Label\", amount, tags) FROM stdin;\n1\ta\\tb\t1.50\t{x,y}\n\\.\n\
            SELECT pg_catalog.setval('public.s', 1, false);\n\
            /* a comment; /* nested; */ still; */ COPY public.t /* here; too */ (a) TO stdout;\n\
            CREATE INDEX i ON public.\"Odd Name\" USING btree (id);\n\
            ALTER TABLE ONLY public.\"Odd Name\"\n    ADD CONSTRAINT \"Odd Name_pkey\" PRIMARY KEY (id);\n\
            copy T -- a comment; here\n  (\"A\", b) from STDIN;\nx\ty\n\\.\n\
            GRANT ALL ON SCHEMA public TO PUBLIC;\n\
            \\unrestrict abc123\n";
        let evs = events(sql).expect("parses");
        let kinds: Vec<String> = evs
            .iter()
            .map(|e| match e {
                Event::CopyStart {
                    table,
                    columns,
                    line,
                } => format!("copy {table} {columns:?} {line}"),
                Event::Row { line, .. } => format!("row {line}"),
                Event::CopyEnd { rows, table, .. } => format!("end {table} {rows}"),
                Event::Other { line, .. } => format!("other {line}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "other 1",
                "other 2",
                "other 3",
                "other 4",
                "other 7",
                "other 14",
                "other 15",
                "other 18",
                r#"copy Odd Name ["id", "Label", "amount", "tags"] 19"#,
                "row 20",
                "end Odd Name 1",
                "other 22",
                "other 23",
                "other 24",
                "other 25",
                r#"copy t ["A", "b"] 27"#,
                "row 29",
                "end t 1",
                "other 31",
                "other 32",
            ]
        );
        assert_eq!(
            rows(&evs)[0],
            [
                Some("1".into()),
                Some("a\tb".into()),
                Some("1.50".into()),
                Some("{x,y}".into())
            ]
        );
        let Event::Other { sql, .. } = &evs[3] else {
            panic!()
        };
        assert!(sql.ends_with("$_$;"), "{sql}");
        let Event::Other { sql, .. } = &evs[7] else {
            panic!()
        };
        assert_eq!(sql, "COMMENT ON TABLE public.\"Odd Name\" IS 'it''s; odd';");
    }

    #[test]
    fn copy_statements_the_reader_cannot_follow() {
        for (sql, want) in [
            ("COPY u FROM stdin;\n\\.\n", "without a column list"),
            (
                "COPY u (a) FROM stdin WITH (FORMAT csv);\n\\.\n",
                "options are not supported",
            ),
            ("COPY u (a b) FROM stdin;\n\\.\n", "expected `,` or `)`"),
            (
                "COPY u (a, 'b') FROM stdin;\n\\.\n",
                "expected a column name",
            ),
            ("COPY u (a) FROM stdin; SET x = 1;\n\\.\n", "text after"),
        ] {
            let err = error(sql);
            assert!(
                matches!(&err, DumpError::InvalidStatement { line: 1, message } if message.contains(want)),
                "{sql}: {err:?}"
            );
        }
        // Not data of this dump: passed on.
        let evs =
            events("COPY u (a) FROM '/tmp/x';\nCOPY (SELECT 1) TO stdout;\n").expect("parses");
        assert!(
            evs.iter().all(|e| matches!(e, Event::Other { .. })),
            "{evs:?}"
        );
    }

    #[test]
    fn two_statements_on_one_line() {
        let evs = events("SET a = 1; COPY t (x) FROM stdin;\ny\n\\.\n").expect("parses");
        assert_eq!(evs.len(), 4);
        assert!(matches!(&evs[1], Event::CopyStart { line: 1, table, .. } if table == "t"));
        assert!(matches!(&evs[2], Event::Row { line: 2, .. }));
    }

    #[test]
    fn non_utf8_client_encoding_is_rejected() {
        for sql in [
            "SET client_encoding = 'LATIN1';\n",
            "SET client_encoding TO latin1;\n",
        ] {
            let err = error(sql);
            assert!(
                matches!(&err, DumpError::UnsupportedEncoding { line: 1, encoding } if encoding.eq_ignore_ascii_case("latin1")),
                "{err:?}"
            );
        }
        assert!(events("SET client_encoding = 'utf-8';\n").is_ok());
        assert!(events("SET client_encoding TO UNICODE;\n").is_ok());
    }

    #[test]
    fn reader_stops_after_an_error() {
        let mut reader = DumpReader::new("COPY t (a) FROM stdin;\nx\ty\nz\n\\.\n".as_bytes());
        assert!(matches!(reader.next(), Some(Ok(Event::CopyStart { .. }))));
        assert!(matches!(reader.next(), Some(Err(_))));
        assert!(reader.next().is_none());
        assert_eq!(reader.line(), 2);
    }
}
