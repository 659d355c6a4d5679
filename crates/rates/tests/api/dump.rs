//! The dump reader and the generator against the real `rates.sql`: the reader's events
//! against a plain count of its lines, and the generator's schema against its
//! statements.

use std::collections::BTreeMap;

use rates::{
    dump::{DumpError, DumpReader, Event},
    generate::{GenerateOptions, generate},
};

use crate::helpers::real_dump;

fn events(text: &str) -> Result<Vec<Event>, DumpError> {
    DumpReader::new(text.as_bytes()).collect()
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
fn the_reader_agrees_with_a_plain_count_of_the_real_dump() {
    let bytes = std::fs::read(real_dump()).unwrap();
    let text = std::str::from_utf8(&bytes).expect("real dump is UTF-8");
    let expected = count_copy_lines(text);
    assert_eq!(expected.len(), 3, "ports, prices, regions");
    // Every statement of this dump ends its last line with `;` (outside COPY
    // blocks, whose rows never do).
    let statement_ends = text
        .lines()
        .filter(|l| l.ends_with(';') && !l.starts_with("--"))
        .count();

    let mut row_counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut end_counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut starts: BTreeMap<String, (u64, Vec<String>)> = BTreeMap::new();
    let mut others = Vec::new();
    let mut current = String::new();
    let mut last_row_line = 0;
    for event in DumpReader::new(bytes.as_slice()) {
        match event.expect("real dump parses") {
            Event::CopyStart {
                table,
                line,
                columns,
            } => {
                current.clone_from(&table);
                starts.insert(table, (line, columns));
            }
            Event::Row { line, fields } => {
                assert!(line > last_row_line, "row lines increase");
                last_row_line = line;
                if current == "prices" {
                    assert_eq!(fields.len(), 4);
                    assert!(fields.iter().all(Option::is_some), "line {line}");
                }
                *row_counts.entry(current.clone()).or_default() += 1;
            }
            Event::CopyEnd { table, rows, .. } => {
                end_counts.insert(table, rows);
            }
            Event::Other { sql, .. } => others.push(sql),
        }
    }
    for (table, (start, count)) in &expected {
        assert_eq!(starts[table].0, *start, "{table} COPY line");
        assert_eq!(row_counts[table], *count, "{table} rows");
        assert_eq!(end_counts[table], *count, "{table} CopyEnd rows");
    }
    assert_eq!(expected["prices"].1, 56_689);
    assert_eq!(expected["ports"].1, 143);
    assert_eq!(expected["regions"].1, 20);
    assert_eq!(
        starts["prices"].1,
        ["orig_code", "dest_code", "day", "price"]
    );
    assert_eq!(starts["regions"].1, ["slug", "name", "parent_slug"]);

    assert_eq!(others.len() + starts.len(), statement_ends);
    let creates = others.iter().filter(|s| s.starts_with("CREATE TABLE"));
    assert_eq!(creates.count(), 3);
    let constraints: Vec<&String> = others
        .iter()
        .filter(|s| s.starts_with("ALTER TABLE"))
        .collect();
    assert_eq!(constraints.len(), 6);
    assert_eq!(
        constraints[0],
        "ALTER TABLE ONLY public.ports\n    ADD CONSTRAINT ports_pkey PRIMARY KEY (code);"
    );
    assert!(others.contains(&"SET client_encoding = 'UTF8';".to_owned()));
}

#[test]
fn a_truncated_real_dump_names_the_copy_line() {
    let bytes = std::fs::read(real_dump()).unwrap();
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

/// The `CREATE TABLE` and `ALTER TABLE` statements of a dump, as written.
fn schema(dump: &[u8]) -> Vec<String> {
    DumpReader::new(dump)
        .filter_map(|event| match event.expect("the dump reads") {
            Event::Other { sql, .. }
                if sql.starts_with("CREATE TABLE") || sql.starts_with("ALTER TABLE") =>
            {
                Some(sql)
            }
            _ => None,
        })
        .collect()
}

#[test]
fn the_generator_writes_the_schema_of_the_real_dump() {
    let original = schema(&std::fs::read(real_dump()).unwrap());
    assert_eq!(original.len(), 9, "3 tables, 6 constraints");
    let mut generated = Vec::new();
    generate(&mut generated, &GenerateOptions::default()).unwrap();
    assert_eq!(schema(&generated), original);
}
