//! A streaming parser for plain-format `pg_dump` files.
//!
//! [`DumpReader`] reads any [`BufRead`] line by line and yields [`Event`]s:
//! `SET` settings, `CREATE TABLE` definitions, `COPY ... FROM stdin` blocks
//! (start, one event per row, end) and `ALTER TABLE ... ADD CONSTRAINT`
//! statements. Everything else (`OWNER TO`, `CREATE SEQUENCE`, `GRANT`,
//! `COMMENT ON`, `SELECT setval`, psql meta-commands such as `\restrict`, ...)
//! is reported as [`Event::Other`]. Only one statement or one row is held in
//! memory at a time.
//!
//! The parser is strict inside `COPY` blocks: a row with the wrong number of
//! fields, an escape that `pg_dump` never writes, invalid UTF-8 or a block
//! that is not closed by `\.` is a [`DumpError`] carrying the 1-based line
//! number. A loader is expected to reject the whole file on the first error.
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

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufRead};
use std::sync::Arc;

/// An error found while reading a dump. Every variant names the 1-based
/// line where the problem is (see [`DumpError::line`]).
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// The underlying reader failed.
    #[error("line {line}: read error: {source}")]
    Io {
        /// The line that was being read.
        line: u64,
        /// The I/O error.
        #[source]
        source: io::Error,
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
    /// A statement the parser must understand (`CREATE TABLE`, `COPY`,
    /// `ALTER TABLE ... ADD CONSTRAINT`, `SET`) is malformed.
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

/// A column of a `CREATE TABLE` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef {
    /// Column name (unquoted; unquoted identifiers are folded to lower case).
    pub name: String,
    /// The type exactly as written, e.g. `text`, `integer`, `character varying(20)`.
    pub data_type: String,
    /// Whether the column is declared `NOT NULL`.
    pub not_null: bool,
}

/// A `CREATE TABLE` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDef {
    /// Line of the `CREATE TABLE`.
    pub line: u64,
    /// Schema, when the name was qualified (`public` for `public.ports`).
    pub schema: Option<String>,
    /// Table name without schema.
    pub name: String,
    /// Columns in declaration order.
    pub columns: Vec<ColumnDef>,
    /// Table constraints written inside the parentheses, as raw text.
    pub constraints: Vec<String>,
}

/// What an `ALTER TABLE ... ADD CONSTRAINT` adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConstraintKind {
    /// `PRIMARY KEY (columns)`.
    PrimaryKey {
        /// Key columns.
        columns: Vec<String>,
    },
    /// `UNIQUE (columns)`.
    Unique {
        /// Unique columns.
        columns: Vec<String>,
    },
    /// `FOREIGN KEY (columns) REFERENCES table(ref_columns)`.
    ForeignKey {
        /// Referencing columns.
        columns: Vec<String>,
        /// Referenced table, without schema.
        ref_table: String,
        /// Referenced columns (empty when the statement names none).
        ref_columns: Vec<String>,
    },
    /// Any other constraint (`CHECK`, `EXCLUDE`, ...); see [`ConstraintDef::sql`].
    Other,
}

/// An `ALTER TABLE [ONLY] table ADD CONSTRAINT name ...` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConstraintDef {
    /// First line of the statement.
    pub line: u64,
    /// Table the constraint is added to, without schema.
    pub table: String,
    /// Constraint name.
    pub name: String,
    /// The parsed constraint.
    pub kind: ConstraintKind,
    /// The raw statement text including the final `;`.
    pub sql: String,
}

/// One item of a dump, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `SET name = value;` or `SELECT pg_catalog.set_config('name', 'value', false);`.
    Set {
        /// Line of the statement.
        line: u64,
        /// Setting name.
        name: String,
        /// Value as written, with string quotes removed.
        value: String,
    },
    /// A `CREATE TABLE` statement.
    Table(TableDef),
    /// `COPY table (columns) FROM stdin;`: rows of `table` follow.
    CopyStart {
        /// Line of the `COPY` statement.
        line: u64,
        /// Schema, when the name was qualified.
        schema: Option<String>,
        /// Table name without schema (shared with the rows).
        table: Arc<str>,
        /// Column names, in the order of the row fields.
        columns: Vec<String>,
    },
    /// One data row of the current `COPY` block, escapes decoded.
    Row {
        /// Table name without schema.
        table: Arc<str>,
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
        table: Arc<str>,
        /// Number of rows in the block.
        rows: u64,
    },
    /// An `ALTER TABLE ... ADD CONSTRAINT` statement.
    Constraint(ConstraintDef),
    /// Any other statement or psql meta-command, raw (comments inside it kept).
    Other {
        /// First line of the statement.
        line: u64,
        /// The statement text.
        sql: String,
    },
}

/// Escapes one value for the `COPY` text format: `None` becomes `\N`;
/// backslash, tab, newline, carriage return, backspace, form feed and vertical
/// tab become `\\`, `\t`, `\n`, `\r`, `\b`, `\f`, `\v`, as `COPY TO` writes them.
#[must_use]
pub fn escape_copy_field(value: Option<&str>) -> String {
    let mut out = String::new();
    escape_copy_field_into(&mut out, value);
    out
}

/// Like [`escape_copy_field`], but appends to `out` (no allocation when
/// `out` has room).
pub fn escape_copy_field_into(out: &mut String, value: Option<&str>) {
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

/// Decodes one `COPY` text-format field: `\N` alone is `None`, escapes are
/// decoded. Errors describe a malformed escape.
///
/// # Errors
/// A message naming the bad escape: a trailing backslash, `\x` without hex
/// digits, an octal value above `\377`, a `\N` or other unknown escape inside
/// a value, a value decoding to a NUL byte or to invalid UTF-8.
pub fn unescape_copy_field(field: &str) -> Result<Option<String>, String> {
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
                let mut value = u32::from(e - b'0');
                let mut digits = 1;
                while digits < 3 {
                    match bytes.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            i += 1;
                            digits += 1;
                        }
                        _ => break,
                    }
                }
                let byte = u8::try_from(value)
                    .map_err(|_| format!("octal escape \\{value:o} is above \\377"))?;
                out.push(byte);
            }
            b'x' => {
                let mut value: u8 = 0;
                let mut digits = 0;
                while digits < 2 {
                    match bytes.get(i).and_then(|&d| char::from(d).to_digit(16)) {
                        Some(d) => {
                            // d < 16 and value < 16 here, so this cannot overflow.
                            value = value * 16 + u8::try_from(d).unwrap_or(0);
                            i += 1;
                            digits += 1;
                        }
                        None => break,
                    }
                }
                if digits == 0 {
                    return Err("`\\x` is not followed by a hex digit".to_owned());
                }
                out.push(value);
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
    table: Arc<str>,
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
    tables: BTreeMap<String, Vec<String>>,
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
            tables: BTreeMap::new(),
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
                .map_err(|source| DumpError::Io {
                    line: self.line_no + 1,
                    source,
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
            let line = match std::str::from_utf8(&self.buf) {
                Ok(s) => s.to_owned(),
                Err(e) => {
                    return Err(DumpError::InvalidUtf8 {
                        line: self.line_no,
                        offset: e.valid_up_to(),
                    });
                }
            };
            if let Some(event) = self.sql_line(&line)? {
                return Ok(Some(event));
            }
        }
    }

    fn at_eof(&mut self) -> Result<Option<Event>, DumpError> {
        if let Some(copy) = self.copy.take() {
            return Err(DumpError::UnterminatedCopy {
                start_line: copy.start_line,
                table: copy.table.to_string(),
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
        let line_no = self.line_no;
        let Some(copy) = self.copy.as_mut() else {
            unreachable!("copy_line is only called inside a COPY block");
        };
        if self.buf.starts_with(b"\\.") {
            if self.buf.len() != 2 {
                return Err(DumpError::BadEndMarker {
                    line: line_no,
                    table: copy.table.to_string(),
                });
            }
            let copy = self.copy.take().unwrap_or_else(|| unreachable!());
            return Ok(Event::CopyEnd {
                line: line_no,
                table: copy.table,
                rows: copy.rows,
            });
        }
        let text = std::str::from_utf8(&self.buf).map_err(|e| DumpError::InvalidUtf8 {
            line: line_no,
            offset: e.valid_up_to(),
        })?;
        let got = text.bytes().filter(|&b| b == b'\t').count() + 1;
        if got != copy.columns {
            return Err(DumpError::FieldCount {
                line: line_no,
                table: copy.table.to_string(),
                expected: copy.columns,
                got,
            });
        }
        let mut fields = Vec::with_capacity(got);
        for (i, raw) in text.split('\t').enumerate() {
            let value = unescape_copy_field(raw).map_err(|reason| DumpError::BadEscape {
                line: line_no,
                table: copy.table.to_string(),
                field: i + 1,
                reason,
            })?;
            fields.push(value);
        }
        copy.rows += 1;
        Ok(Event::Row {
            table: Arc::clone(&copy.table),
            line: line_no,
            fields,
        })
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
        match scan_line(line, &mut self.lex) {
            None => {
                self.stmt.push_str(line);
                Ok(None)
            }
            Some(end) => {
                self.stmt.push_str(&line[..end]);
                let rest = line[end..].trim();
                let stmt = std::mem::take(&mut self.stmt);
                let event = self.statement(stmt)?;
                if !rest.is_empty() && !rest.starts_with("--") {
                    if matches!(event, Event::CopyStart { .. }) {
                        return Err(DumpError::InvalidStatement {
                            line: self.line_no,
                            message: "text after `COPY ... FROM stdin;` on the same line"
                                .to_owned(),
                        });
                    }
                    self.carry = Some(rest.to_owned());
                }
                Ok(Some(event))
            }
        }
    }

    /// Classifies a complete statement (ending with `;`).
    fn statement(&mut self, sql: String) -> Result<Event, DumpError> {
        let line = self.stmt_line;
        let toks = tokenize(&sql);
        let mut p = Parser {
            sql: &sql,
            toks: &toks,
            pos: 0,
            line,
        };
        if p.keyword("set") {
            return p.set_statement();
        }
        if p.keywords(&["select", "pg_catalog", "."]) || p.keyword("select") {
            if let Some(event) = p.set_config()? {
                return Ok(event);
            }
            return Ok(Event::Other { line, sql });
        }
        if p.keyword("create") {
            p.keyword("unlogged");
            if p.keyword("table") {
                let table = p.create_table()?;
                self.tables.insert(
                    table.name.clone(),
                    table.columns.iter().map(|c| c.name.clone()).collect(),
                );
                return Ok(Event::Table(table));
            }
            return Ok(Event::Other { line, sql });
        }
        if p.keywords(&["alter", "table"]) {
            if let Some(constraint) = p.add_constraint()? {
                return Ok(Event::Constraint(ConstraintDef { sql, ..constraint }));
            }
            return Ok(Event::Other { line, sql });
        }
        if p.keyword("copy")
            && let Some(event) = self.copy_statement(&mut p)?
        {
            return Ok(event);
        }
        Ok(Event::Other { line, sql })
    }

    /// After `COPY`; `None` unless it is `COPY ... FROM stdin`.
    fn copy_statement(&mut self, p: &mut Parser<'_>) -> Result<Option<Event>, DumpError> {
        let line = p.line;
        let (schema, name) = p
            .qualified_name()
            .ok_or_else(|| p.error("COPY without a table name"))?;
        let columns = if p.peek_punct(b'(') {
            p.column_list()?
        } else {
            Vec::new()
        };
        if !p.keywords(&["from", "stdin"]) {
            // COPY ... TO, or FROM a file: not data of this dump.
            return Ok(None);
        }
        let columns = if columns.is_empty() {
            self.tables.get(&name).cloned().ok_or_else(|| {
                p.error(&format!(
                    "COPY into `{name}` without a column list and no CREATE TABLE for it before"
                ))
            })?
        } else {
            columns
        };
        if !p.peek_punct(b';') {
            return Err(p.error("COPY options are not supported; expected `FROM stdin;`"));
        }
        let table: Arc<str> = Arc::from(name.as_str());
        self.copy = Some(CopyState {
            table: Arc::clone(&table),
            columns: columns.len(),
            start_line: line,
            rows: 0,
        });
        Ok(Some(Event::CopyStart {
            line,
            schema,
            table,
            columns,
        }))
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
            .field("in_copy", &self.copy.as_ref().map(|c| &*c.table))
            .finish_non_exhaustive()
    }
}

fn check_encoding(line: u64, name: &str, value: &str) -> Result<(), DumpError> {
    if name == "client_encoding" {
        let norm = value.to_ascii_uppercase().replace(['-', '_'], "");
        if norm != "UTF8" && norm != "UNICODE" {
            return Err(DumpError::UnsupportedEncoding {
                line,
                encoding: value.to_owned(),
            });
        }
    }
    Ok(())
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
                if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    *depth -= 1;
                    i += 1;
                    if *depth == 0 {
                        *lex = Lex::Normal;
                    }
                } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    *depth += 1;
                    i += 1;
                }
            }
        }
        i += 1;
    }
    None
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

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// Unquoted word, lower-cased.
    Word(String),
    /// Double-quoted identifier.
    Quoted(String),
    /// String literal, quotes removed.
    Str(String),
    Punct(u8),
}

/// Tokens with their byte span in the statement.
fn tokenize(sql: &str) -> Vec<(Tok, usize, usize)> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let ch = bytes[i];
        let start = i;
        if ch.is_ascii_whitespace() {
            i += 1;
        } else if ch == b'-' && bytes.get(i + 1) == Some(&b'-') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if ch == b'/' && bytes.get(i + 1) == Some(&b'*') {
            let mut lex = Lex::Block(1);
            i += 2;
            while i < bytes.len() && lex != Lex::Normal {
                if let Lex::Block(d) = &mut lex {
                    if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                        *d -= 1;
                        i += 1;
                        if *d == 0 {
                            lex = Lex::Normal;
                        }
                    } else if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                        *d += 1;
                        i += 1;
                    }
                }
                i += 1;
            }
        } else if ch == b'\'' || ch == b'"' {
            let mut text = String::new();
            i += 1;
            let mut seg = i;
            loop {
                match bytes.get(i) {
                    None => {
                        text.push_str(&sql[seg..]);
                        break;
                    }
                    Some(&q) if q == ch => {
                        text.push_str(&sql[seg..i]);
                        if bytes.get(i + 1) == Some(&ch) {
                            text.push(char::from(ch));
                            i += 2;
                            seg = i;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(_) => i += 1,
                }
            }
            let tok = if ch == b'"' {
                Tok::Quoted(text)
            } else {
                Tok::Str(text)
            };
            out.push((tok, start, i));
        } else if ch == b'$' && dollar_tag(&bytes[i..]).is_some() {
            let len = dollar_tag(&bytes[i..]).unwrap_or(1);
            let tag = &sql[i..i + len];
            let body_start = i + len;
            let body_end = sql[body_start..]
                .find(tag)
                .map_or(sql.len(), |k| body_start + k);
            i = (body_end + len).min(sql.len());
            out.push((Tok::Str(sql[body_start..body_end].to_owned()), start, i));
        } else if ch.is_ascii_alphanumeric() || ch == b'_' || ch >= 0x80 {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric()
                    || bytes[i] == b'_'
                    || bytes[i] == b'$'
                    || bytes[i] >= 0x80)
            {
                i += 1;
            }
            out.push((Tok::Word(sql[start..i].to_lowercase()), start, i));
        } else {
            i += 1;
            out.push((Tok::Punct(ch), start, i));
        }
    }
    out
}

struct Parser<'a> {
    sql: &'a str,
    toks: &'a [(Tok, usize, usize)],
    pos: usize,
    line: u64,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }

    fn error(&self, message: &str) -> DumpError {
        DumpError::InvalidStatement {
            line: self.line,
            message: format!("{message} in `{}`", snippet(self.sql)),
        }
    }

    fn keyword(&mut self, kw: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Word(w)) if w == kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Matches a sequence of keywords (or single-character punctuation); all or nothing.
    fn keywords(&mut self, kws: &[&str]) -> bool {
        let save = self.pos;
        for kw in kws {
            let ok = if kw.len() == 1 && !kw.as_bytes()[0].is_ascii_alphanumeric() {
                self.punct(kw.as_bytes()[0])
            } else {
                self.keyword(kw)
            };
            if !ok {
                self.pos = save;
                return false;
            }
        }
        true
    }

    fn peek_punct(&self, c: u8) -> bool {
        matches!(self.peek(), Some(Tok::Punct(p)) if *p == c)
    }

    fn punct(&mut self, c: u8) -> bool {
        if self.peek_punct(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> Option<String> {
        let id = match self.peek()? {
            Tok::Word(w) => w.clone(),
            Tok::Quoted(q) => q.clone(),
            _ => return None,
        };
        self.pos += 1;
        Some(id)
    }

    fn qualified_name(&mut self) -> Option<(Option<String>, String)> {
        let first = self.ident()?;
        if self.punct(b'.') {
            let second = self.ident()?;
            Some((Some(first), second))
        } else {
            Some((None, first))
        }
    }

    /// `( ident, ident, ... )`
    fn column_list(&mut self) -> Result<Vec<String>, DumpError> {
        if !self.punct(b'(') {
            return Err(self.error("expected `(` and a column list"));
        }
        let mut cols = Vec::new();
        loop {
            cols.push(
                self.ident()
                    .ok_or_else(|| self.error("expected a column name"))?,
            );
            if self.punct(b')') {
                return Ok(cols);
            }
            if !self.punct(b',') {
                return Err(self.error("expected `,` or `)` in a column list"));
            }
        }
    }

    /// Text of the remaining tokens up to the final `;`, string quotes removed.
    fn value_until_semicolon(&mut self) -> String {
        let start = self.pos;
        let mut end = self.toks.len();
        while end > start && matches!(self.toks[end - 1].0, Tok::Punct(b';')) {
            end -= 1;
        }
        self.pos = self.toks.len();
        if end == start + 1
            && let Tok::Str(s) = &self.toks[start].0
        {
            return s.clone();
        }
        if end == start {
            return String::new();
        }
        self.sql[self.toks[start].1..self.toks[end - 1].2].to_owned()
    }

    /// After `SET`.
    fn set_statement(&mut self) -> Result<Event, DumpError> {
        let line = self.line;
        let name = self
            .ident()
            .ok_or_else(|| self.error("SET without a setting name"))?;
        if !(self.punct(b'=') || self.keyword("to")) {
            return Err(self.error("SET without `=` or `TO`"));
        }
        let value = self.value_until_semicolon();
        check_encoding(line, &name, &value)?;
        Ok(Event::Set { line, name, value })
    }

    /// `SELECT pg_catalog.set_config('name', 'value', bool);` after `SELECT [pg_catalog.]`.
    fn set_config(&mut self) -> Result<Option<Event>, DumpError> {
        if !self.keyword("set_config") || !self.punct(b'(') {
            return Ok(None);
        }
        let mut args = Vec::new();
        while let Some((tok, _, _)) = self.toks.get(self.pos) {
            self.pos += 1;
            match tok {
                Tok::Str(s) => args.push(s.clone()),
                Tok::Word(w) => args.push(w.clone()),
                Tok::Punct(b')') => break,
                _ => {}
            }
        }
        if args.len() != 3 {
            return Err(self.error("set_config expects three arguments"));
        }
        args.truncate(2);
        let value = args.pop().unwrap_or_default();
        let name = args.pop().unwrap_or_default();
        check_encoding(self.line, &name, &value)?;
        Ok(Some(Event::Set {
            line: self.line,
            name,
            value,
        }))
    }

    /// After `CREATE [UNLOGGED] TABLE`.
    fn create_table(&mut self) -> Result<TableDef, DumpError> {
        self.keywords(&["if", "not", "exists"]);
        let (schema, name) = self
            .qualified_name()
            .ok_or_else(|| self.error("CREATE TABLE without a table name"))?;
        if !self.punct(b'(') {
            return Err(self.error("CREATE TABLE without `(`"));
        }
        let mut columns = Vec::new();
        let mut constraints = Vec::new();
        loop {
            // One element: tokens up to a top-level `,` or the closing `)`.
            let start = self.pos;
            let mut depth = 0usize;
            let end_tok = loop {
                match self.toks.get(self.pos) {
                    None => return Err(self.error("CREATE TABLE without its closing `)`")),
                    Some((Tok::Punct(b'('), _, _)) => depth += 1,
                    Some((Tok::Punct(b')'), _, _)) if depth == 0 => break b')',
                    Some((Tok::Punct(b')'), _, _)) => depth -= 1,
                    Some((Tok::Punct(b','), _, _)) if depth == 0 => break b',',
                    Some(_) => {}
                }
                self.pos += 1;
            };
            let element = &self.toks[start..self.pos];
            self.pos += 1;
            if !element.is_empty() {
                self.table_element(element, &mut columns, &mut constraints)?;
            } else if end_tok == b',' || !columns.is_empty() || !constraints.is_empty() {
                return Err(self.error("empty element in CREATE TABLE"));
            }
            if end_tok == b')' {
                break;
            }
        }
        Ok(TableDef {
            line: self.line,
            schema,
            name,
            columns,
            constraints,
        })
    }

    fn table_element(
        &self,
        element: &[(Tok, usize, usize)],
        columns: &mut Vec<ColumnDef>,
        constraints: &mut Vec<String>,
    ) -> Result<(), DumpError> {
        const STOP: &[&str] = &[
            "not",
            "null",
            "default",
            "constraint",
            "primary",
            "unique",
            "check",
            "references",
            "collate",
            "generated",
        ];
        let text = &self.sql[element[0].1..element[element.len() - 1].2];
        let word = |k: usize| match element.get(k) {
            Some((Tok::Word(w), _, _)) => w.as_str(),
            _ => "",
        };
        if matches!(
            word(0),
            "constraint" | "primary" | "unique" | "check" | "foreign" | "exclude" | "like"
        ) {
            constraints.push(text.to_owned());
            return Ok(());
        }
        let name = match &element[0].0 {
            Tok::Word(w) => w.clone(),
            Tok::Quoted(q) => q.clone(),
            _ => return Err(self.error(&format!("bad column definition `{text}`"))),
        };
        let mut depth = 0usize;
        let mut type_end = 1;
        for (k, (tok, _, _)) in element.iter().enumerate().skip(1) {
            match tok {
                Tok::Punct(b'(') => depth += 1,
                Tok::Punct(b')') => depth = depth.saturating_sub(1),
                Tok::Word(w) if depth == 0 && STOP.contains(&w.as_str()) => break,
                _ => {}
            }
            type_end = k + 1;
        }
        if type_end == 1 {
            return Err(self.error(&format!("column `{name}` has no type")));
        }
        let data_type = self.sql[element[1].1..element[type_end - 1].2].to_owned();
        let not_null = (type_end..element.len().saturating_sub(1))
            .any(|k| word(k) == "not" && word(k + 1) == "null");
        columns.push(ColumnDef {
            name,
            data_type,
            not_null,
        });
        Ok(())
    }

    /// After `ALTER TABLE`: `[ONLY] [IF EXISTS] name ADD CONSTRAINT cname ...`.
    /// `None` for any other `ALTER TABLE`.
    fn add_constraint(&mut self) -> Result<Option<ConstraintDef>, DumpError> {
        self.keywords(&["if", "exists"]);
        self.keyword("only");
        let Some((_, table)) = self.qualified_name() else {
            return Ok(None);
        };
        if !self.keywords(&["add", "constraint"]) {
            return Ok(None);
        }
        let name = self
            .ident()
            .ok_or_else(|| self.error("ADD CONSTRAINT without a name"))?;
        let kind = if self.keywords(&["primary", "key"]) {
            ConstraintKind::PrimaryKey {
                columns: self.column_list()?,
            }
        } else if self.keyword("unique") {
            self.keywords(&["nulls", "not", "distinct"]);
            ConstraintKind::Unique {
                columns: self.column_list()?,
            }
        } else if self.keywords(&["foreign", "key"]) {
            let columns = self.column_list()?;
            if !self.keyword("references") {
                return Err(self.error("FOREIGN KEY without REFERENCES"));
            }
            let (_, ref_table) = self
                .qualified_name()
                .ok_or_else(|| self.error("REFERENCES without a table"))?;
            let ref_columns = if self.peek_punct(b'(') {
                self.column_list()?
            } else {
                Vec::new()
            };
            ConstraintKind::ForeignKey {
                columns,
                ref_table,
                ref_columns,
            }
        } else {
            ConstraintKind::Other
        };
        Ok(Some(ConstraintDef {
            line: self.line,
            table,
            name,
            kind,
            sql: String::new(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// The real dump, when it is there: `RATES_SQL` or `shared/data/rates.sql` beside
    /// the repository. Under CI (`CI` set) a missing dump is a failure, not a skip.
    fn real_dump() -> Option<Vec<u8>> {
        let path = crate::real_dump_path();
        match std::fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI is set but the real dump {} cannot be read: {e}",
                    path.display()
                );
                eprintln!("skipping: cannot read {}: {e}", path.display());
                None
            }
        }
    }

    /// Independent count: (COPY line number, data lines) per table, by plain line counting.
    fn count_copy_lines(text: &str) -> BTreeMap<String, (u64, u64)> {
        let mut out = BTreeMap::new();
        let mut current: Option<(String, u64, u64)> = None;
        for (i, line) in text.lines().enumerate() {
            let n = i as u64 + 1;
            if let Some((table, start, count)) = current.as_mut() {
                if line == "\\." {
                    out.insert(table.clone(), (*start, *count));
                    current = None;
                } else {
                    *count += 1;
                }
            } else if let Some(rest) = line.strip_prefix("COPY public.") {
                let table = rest.split(' ').next().unwrap_or_default().to_owned();
                current = Some((table, n, 0));
            }
        }
        out
    }

    #[test]
    fn real_dump_parses_with_independent_counts() {
        let Some(bytes) = real_dump() else { return };
        let text = std::str::from_utf8(&bytes).expect("real dump is UTF-8");
        let expected = count_copy_lines(text);
        assert_eq!(expected.len(), 3, "ports, prices, regions");

        let mut tables = Vec::new();
        let mut row_counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut end_counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut starts: BTreeMap<String, u64> = BTreeMap::new();
        let mut constraints = Vec::new();
        let mut settings = Vec::new();
        let mut last_row_line = 0;
        for event in DumpReader::new(bytes.as_slice()) {
            match event.expect("real dump parses") {
                Event::Table(t) => tables.push(t),
                Event::CopyStart {
                    table,
                    line,
                    columns,
                    schema,
                } => {
                    assert_eq!(schema.as_deref(), Some("public"));
                    assert!(!columns.is_empty());
                    starts.insert(table.to_string(), line);
                }
                Event::Row {
                    table,
                    line,
                    fields,
                } => {
                    assert!(line > last_row_line, "row lines increase");
                    last_row_line = line;
                    if &*table == "prices" {
                        assert_eq!(fields.len(), 4);
                        assert!(fields.iter().all(Option::is_some), "line {line}");
                    }
                    *row_counts.entry(table.to_string()).or_default() += 1;
                }
                Event::CopyEnd { table, rows, .. } => {
                    end_counts.insert(table.to_string(), rows);
                }
                Event::Constraint(c) => constraints.push(c),
                Event::Set { name, value, .. } => settings.push((name, value)),
                Event::Other { .. } => {}
            }
        }
        for (table, (start, count)) in &expected {
            assert_eq!(starts[table], *start, "{table} COPY line");
            assert_eq!(row_counts[table], *count, "{table} rows");
            assert_eq!(end_counts[table], *count, "{table} CopyEnd rows");
        }
        assert_eq!(expected["prices"].1, 56_689);
        assert_eq!(expected["ports"].1, 143);
        assert_eq!(expected["regions"].1, 20);

        let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["ports", "prices", "regions"]);
        let prices = &tables[1];
        let cols: Vec<(&str, &str, bool)> = prices
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.data_type.as_str(), c.not_null))
            .collect();
        assert_eq!(
            cols,
            [
                ("orig_code", "text", true),
                ("dest_code", "text", true),
                ("day", "date", true),
                ("price", "integer", true)
            ]
        );
        assert!(
            !tables[2].columns[2].not_null,
            "regions.parent_slug is nullable"
        );

        assert_eq!(constraints.len(), 6);
        assert_eq!(
            constraints[0].kind,
            ConstraintKind::PrimaryKey {
                columns: vec!["code".into()]
            }
        );
        assert_eq!(constraints[0].table, "ports");
        assert!(
            constraints[0]
                .sql
                .starts_with("ALTER TABLE ONLY public.ports\n    ADD CONSTRAINT")
        );
        assert_eq!(
            constraints[5].kind,
            ConstraintKind::ForeignKey {
                columns: vec!["parent_slug".into()],
                ref_table: "regions".into(),
                ref_columns: vec!["slug".into()],
            }
        );
        assert!(settings.contains(&("search_path".to_owned(), String::new())));
        assert!(settings.contains(&("client_encoding".to_owned(), "UTF8".to_owned())));
    }

    #[test]
    fn truncated_real_dump_names_the_copy_line() {
        let Some(bytes) = real_dump() else { return };
        let text = std::str::from_utf8(&bytes).expect("UTF-8");
        let (start, count) = count_copy_lines(text)["prices"];
        // Cut after a whole line in the middle of the prices block.
        let keep = usize::try_from(start + count / 2).expect("fits");
        let end: usize = text.lines().take(keep).map(|l| l.len() + 1).sum();
        let cut = &text[..end];
        match events(cut).expect_err("truncated") {
            DumpError::UnterminatedCopy {
                start_line,
                table,
                end_line,
                rows,
            } => {
                assert_eq!(start_line, start);
                assert_eq!(table, "prices");
                assert_eq!(end_line, keep as u64);
                assert_eq!(rows, count / 2);
            }
            other => panic!("unexpected {other}"),
        }
        // Cut in the middle of a line: that last, partial line is rejected
        // (too few fields) or the block is unterminated; either way an error.
        let at = cut.len() + 7;
        let err = events(std::str::from_utf8(&bytes[..at]).expect("ASCII cut"))
            .expect_err("truncated mid-line");
        assert!(err.line() >= start, "{err}");
        let message = err.to_string();
        assert!(message.contains("line"), "{message}");
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
        assert!(matches!(
            &evs[3],
            Event::CopyEnd {
                rows: 2,
                line: 4,
                ..
            }
        ));
    }

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
                unescape_copy_field(raw).as_ref().map(Option::as_deref),
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
            let err = unescape_copy_field(raw).expect_err(raw);
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
            let escaped = escape_copy_field(*value);
            assert!(!escaped.contains(['\t', '\n', '\r']), "{escaped:?}");
            let back = unescape_copy_field(&escaped).expect("decodes");
            assert_eq!(back.as_deref(), *value, "{escaped:?}");
        }
        assert_eq!(escape_copy_field(None), "\\N");
        assert_eq!(escape_copy_field(Some("a\tb\\")), "a\\tb\\\\");

        // Whole rows through the reader.
        let mut sql = String::from("COPY x (a, b) FROM stdin;\n");
        for value in values {
            sql.push_str(&escape_copy_field(*value));
            sql.push('\t');
            sql.push_str(&escape_copy_field(Some("end")));
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
    fn unterminated_create_table() {
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
        let err = error("CREATE TABLE public.ports (\n    code text NOT NULL\n;\n");
        assert!(
            matches!(err, DumpError::InvalidStatement { line: 1, .. }),
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
            CREATE INDEX i ON public.\"Odd Name\" USING btree (id);\n\
            ALTER TABLE ONLY public.\"Odd Name\"\n    ADD CONSTRAINT \"Odd Name_pkey\" PRIMARY KEY (id);\n\
            ALTER TABLE ONLY public.a\n    ADD CONSTRAINT a_u UNIQUE (x, y);\n\
            ALTER TABLE ONLY public.a\n    ADD CONSTRAINT a_c CHECK ((x > 0));\n\
            GRANT ALL ON SCHEMA public TO PUBLIC;\n\
            \\unrestrict abc123\n";
        let evs = events(sql).expect("parses");
        let kinds: Vec<String> = evs
            .iter()
            .map(|e| match e {
                Event::Set { name, value, .. } => format!("set {name}={value}"),
                Event::Table(t) => format!("table {}", t.name),
                Event::CopyStart { table, .. } => format!("copy {table}"),
                Event::Row { line, .. } => format!("row {line}"),
                Event::CopyEnd { rows, .. } => format!("end {rows}"),
                Event::Constraint(c) => format!("constraint {} {}", c.table, c.name),
                Event::Other { line, .. } => format!("other {line}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "other 1",
                "set statement_timeout=0",
                "set search_path=",
                "other 4",
                "table Odd Name",
                "other 14",
                "other 15",
                "other 18",
                "copy Odd Name",
                "row 20",
                "end 1",
                "other 22",
                "other 23",
                "constraint Odd Name Odd Name_pkey",
                "constraint a a_u",
                "constraint a a_c",
                "other 30",
                "other 31",
            ]
        );
        let Event::Table(t) = &evs[4] else { panic!() };
        let cols: Vec<(&str, &str, bool)> = t
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.data_type.as_str(), c.not_null))
            .collect();
        assert_eq!(
            cols,
            [
                ("id", "integer", true),
                ("Label", "character varying(20)", false),
                ("amount", "numeric(10,2)", false),
                ("tags", "text[]", false),
            ]
        );
        assert_eq!(
            t.constraints,
            ["CONSTRAINT positive CHECK ((amount > (0)::numeric))"]
        );
        assert_eq!(
            rows(&evs),
            [vec![
                Some("1".into()),
                Some("a\tb".into()),
                Some("1.50".into()),
                Some("{x,y}".into())
            ]]
        );
        let Event::Constraint(c) = &evs[14] else {
            panic!()
        };
        assert_eq!(
            c.kind,
            ConstraintKind::Unique {
                columns: vec!["x".into(), "y".into()]
            }
        );
        let Event::Constraint(c) = &evs[15] else {
            panic!()
        };
        assert_eq!(c.kind, ConstraintKind::Other);
        let Event::Other { sql, .. } = &evs[3] else {
            panic!()
        };
        assert!(sql.ends_with("$_$;"), "{sql}");
    }

    #[test]
    fn copy_without_column_list_uses_create_table() {
        let evs = events("CREATE TABLE t (a int, b text);\nCOPY t FROM stdin;\n1\tx\n\\.\n")
            .expect("parses");
        assert!(
            matches!(&evs[1], Event::CopyStart { columns, .. } if columns == &["a", "b"]),
            "{evs:?}"
        );
        let err = error("COPY u FROM stdin;\n\\.\n");
        assert!(
            matches!(err, DumpError::InvalidStatement { line: 1, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn two_statements_on_one_line() {
        let evs = events("SET a = 1; SET b = 'x';\n").expect("parses");
        assert_eq!(evs.len(), 2);
        assert!(
            matches!(&evs[1], Event::Set { line: 1, name, value, .. } if name == "b" && value == "x")
        );
    }

    #[test]
    fn non_utf8_client_encoding_is_rejected() {
        let err = error("SET client_encoding = 'LATIN1';\n");
        assert!(
            matches!(err, DumpError::UnsupportedEncoding { line: 1, .. }),
            "{err:?}"
        );
        assert!(events("SET client_encoding = 'utf-8';\n").is_ok());
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
