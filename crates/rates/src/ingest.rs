//! Parsing a `POST /prices` body — a JSON array of objects or CSV — into [`Price`]s,
//! row by row, with the first bad row named. Rows are numbered from 1 in body order
//! (a CSV header line is not a row).

use kit::json::UniqueObject;
use serde_json::{Value, value::RawValue};

use crate::{
    Error,
    domain::{MAX_CODE_LEN, Price, parse_day},
};

/// The fields of a row, in CSV column order.
pub const FIELDS: [&str; 4] = ["orig_code", "dest_code", "day", "price"];

fn bad(row: usize, field: Option<&'static str>, detail: impl Into<String>) -> Error {
    Error::BadRow {
        row,
        field,
        detail: detail.into(),
        line: None,
    }
}

fn too_many(max_rows: usize) -> Error {
    Error::TooLarge(format!(
        "the batch has more than {max_rows} rows; send at most {max_rows} per request"
    ))
}

fn code(row: usize, field: &'static str, text: &str) -> Result<String, Error> {
    if text.is_empty() {
        return Err(bad(row, Some(field), format!("{field} must not be empty")));
    }
    if text.len() > MAX_CODE_LEN || text.chars().any(char::is_control) {
        return Err(bad(
            row,
            Some(field),
            format!("{field} is not a port code (at most {MAX_CODE_LEN} printable characters)"),
        ));
    }
    Ok(text.to_owned())
}

fn day(row: usize, text: &str) -> Result<chrono::NaiveDate, Error> {
    parse_day(text).ok_or_else(|| {
        bad(
            row,
            Some("day"),
            format!(
                "day {:?} is not a date: expected YYYY-MM-DD",
                text.chars().take(32).collect::<String>()
            ),
        )
    })
}

fn price_range(row: usize) -> Error {
    bad(
        row,
        Some("price"),
        format!("price must be an integer from 0 to {}", i32::MAX),
    )
}

/// Parses a JSON array of `{"orig_code","dest_code","day","price"}` objects (`price` an
/// integer number; no other member).
pub fn parse_json(body: &[u8], max_rows: usize) -> Result<Vec<Price>, Error> {
    // Rows are kept as their raw text first, then each is read as an object whose
    // members must be unique (the kit's one rule for JSON bodies): a repeated member is
    // refused, not silently overwritten.
    let raw: Vec<Box<RawValue>> = serde_json::from_slice(body).map_err(|e| {
        Error::BadBody(format!(
            "the body is not a JSON array of prices ({e}); expected \
             [{{\"orig_code\":\"CNSGH\",\"dest_code\":\"NLRTM\",\"day\":\"2016-01-01\",\"price\":1200}}]"
        ))
    })?;
    if raw.len() > max_rows {
        return Err(too_many(max_rows));
    }
    let mut values = Vec::with_capacity(raw.len());
    for (i, row) in raw.iter().enumerate() {
        let text = row.get();
        values.push(if text.starts_with('{') {
            let object = serde_json::from_str::<UniqueObject>(text).map_err(|e| {
                let message = e.to_string();
                let field = message
                    .strip_prefix("duplicate field `")
                    .and_then(|m| m.split_once('`'))
                    .and_then(|(name, _)| FIELDS.iter().find(|f| **f == name).copied());
                let message = message
                    .rsplit_once(" at line ")
                    .map_or(message.as_str(), |(m, _)| m);
                bad(i + 1, field, message)
            })?;
            Value::Object(object.0)
        } else {
            serde_json::from_str(text).unwrap_or(Value::Null)
        });
    }
    values
        .into_iter()
        .enumerate()
        .map(|(i, value)| json_row(i + 1, value))
        .collect()
}

fn json_row(row: usize, value: Value) -> Result<Price, Error> {
    let Value::Object(mut object) = value else {
        return Err(bad(
            row,
            None,
            "expected an object with orig_code, dest_code, day and price",
        ));
    };
    if let Some(extra) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(bad(
            row,
            None,
            format!(
                "unknown member {:?}; a price has orig_code, dest_code, day and price",
                extra.chars().take(32).collect::<String>()
            ),
        ));
    }
    let mut text = |field: &'static str| match object.remove(field) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(bad(row, Some(field), format!("{field} must be a string"))),
        None => Err(bad(row, Some(field), format!("{field} is missing"))),
    };
    let orig = text("orig_code")?;
    let dest = text("dest_code")?;
    let day_text = text("day")?;
    let price = match object.remove("price") {
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|p| i32::try_from(p).ok())
            .filter(|p| *p >= 0)
            .ok_or_else(|| price_range(row))?,
        Some(_) => return Err(bad(row, Some("price"), "price must be a number")),
        None => return Err(bad(row, Some("price"), "price is missing")),
    };
    Ok(Price {
        orig_code: code(row, "orig_code", &orig)?,
        dest_code: code(row, "dest_code", &dest)?,
        day: day(row, &day_text)?,
        price,
    })
}

/// Parses CSV: one `orig_code,dest_code,day,price` row per line, an optional header line
/// naming those columns, fields optionally in double quotes, blank lines ignored.
pub fn parse_csv(body: &[u8], max_rows: usize) -> Result<Vec<Price>, Error> {
    let text = std::str::from_utf8(body).map_err(|e| {
        Error::BadBody(format!(
            "the CSV body is not UTF-8 (byte {} is invalid)",
            e.valid_up_to()
        ))
    })?;
    let mut rows = Vec::new();
    let mut first = true;
    for (index, raw) in text.split('\n').enumerate() {
        let line_no = index + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(unquote).collect();
        if std::mem::take(&mut first) && fields == FIELDS {
            continue;
        }
        if rows.len() == max_rows {
            return Err(too_many(max_rows));
        }
        let row = rows.len() + 1;
        rows.push(csv_row(row, &fields).map_err(|e| match e {
            Error::BadRow {
                row, field, detail, ..
            } => Error::BadRow {
                row,
                field,
                detail,
                line: Some(line_no),
            },
            other => other,
        })?);
    }
    Ok(rows)
}

fn unquote(field: &str) -> &str {
    let field = field.trim();
    field
        .strip_prefix('"')
        .and_then(|f| f.strip_suffix('"'))
        .unwrap_or(field)
}

fn csv_row(row: usize, fields: &[&str]) -> Result<Price, Error> {
    let [orig, dest, day_text, price] = fields else {
        return Err(bad(
            row,
            None,
            format!(
                "expected 4 comma-separated fields (orig_code,dest_code,day,price), got {}",
                fields.len()
            ),
        ));
    };
    let price = if price.is_empty() {
        return Err(bad(row, Some("price"), "price is missing"));
    } else if price.bytes().all(|b| b.is_ascii_digit()) {
        price.parse::<i32>().map_err(|_| price_range(row))?
    } else {
        return Err(price_range(row));
    };
    Ok(Price {
        orig_code: code(row, "orig_code", orig)?,
        dest_code: code(row, "dest_code", dest)?,
        day: day(row, day_text)?,
        price,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row_field(e: Error) -> (usize, Option<&'static str>) {
        match e {
            Error::BadRow { row, field, .. } => (row, field),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn json_rows() {
        let body =
            br#"[{"orig_code":"CNSGH","dest_code":"NLRTM","day":"2016-01-01","price":1200}]"#;
        let rows = parse_json(body, 10).unwrap();
        assert_eq!(rows[0].price, 1200);
        assert_eq!(rows[0].day.to_string(), "2016-01-01");
        for (body, want) in [
            (
                r#"[{"orig_code":"A","dest_code":"B","day":"2016-01-01","price":1.5}]"#,
                (1, Some("price")),
            ),
            (
                r#"[{"orig_code":"A","dest_code":"B","day":"2016-01-01","price":-1}]"#,
                (1, Some("price")),
            ),
            (
                r#"[{"orig_code":"A","dest_code":"B","day":"2016-01-01","price":99999999999}]"#,
                (1, Some("price")),
            ),
            (
                r#"[{"orig_code":"A","dest_code":"B","day":"2016-01-01","price":"1"}]"#,
                (1, Some("price")),
            ),
            (
                r#"[{"orig_code":"A","dest_code":"B","day":"2016-02-30","price":1}]"#,
                (1, Some("day")),
            ),
            (
                r#"[{"orig_code":"","dest_code":"B","day":"2016-01-01","price":1}]"#,
                (1, Some("orig_code")),
            ),
            (
                r#"[{"orig_code":"A","day":"2016-01-01","price":1}]"#,
                (1, Some("dest_code")),
            ),
            (
                r#"[{"orig_code":"A","dest_code":"B","day":"2016-01-01","price":1},7]"#,
                (2, None),
            ),
            (
                r#"[{"orig_code":"A","dest_code":"B","day":"2016-01-01","price":1},
                    {"orig_code":"A","dest_code":"B","day":"2016-01-01","price":1,"price":2}]"#,
                (2, Some("price")),
            ),
            (
                r#"[{"orig_code":"A","dest_code":"B","day":"2016-01-01","price":1,"x":1}]"#,
                (1, None),
            ),
        ] {
            assert_eq!(
                row_field(parse_json(body.as_bytes(), 10).unwrap_err()),
                want,
                "{body}"
            );
        }
        assert!(matches!(parse_json(b"{", 10), Err(Error::BadBody(_))));
        assert!(matches!(parse_json(b"{}", 10), Err(Error::BadBody(_))));
        let two = br#"[{"orig_code":"A","dest_code":"B","day":"2016-01-01","price":1},{"orig_code":"A","dest_code":"B","day":"2016-01-01","price":1}]"#;
        assert!(matches!(parse_json(two, 1), Err(Error::TooLarge(_))));
    }

    #[test]
    fn csv_rows() {
        let rows = parse_csv(
            b"orig_code,dest_code,day,price\r\nCNSGH,NLRTM,2016-01-01,1200\n\"A\", B ,2016-01-02,7\n\n",
            10,
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].orig_code, "A");
        assert_eq!(rows[1].dest_code, "B");
        let err = parse_csv(b"A,B,2016-01-01,1\nA,B,2016-01-01,x\n", 10).unwrap_err();
        assert!(matches!(
            err,
            Error::BadRow {
                row: 2,
                field: Some("price"),
                line: Some(2),
                ..
            }
        ));
        let err = parse_csv(b"A,B,2016-01-01\n", 10).unwrap_err();
        assert_eq!(row_field(err), (1, None));
        assert!(matches!(parse_csv(b"\xff", 10), Err(Error::BadBody(_))));
        assert!(matches!(
            parse_csv(b"A,B,2016-01-01,1\nA,B,2016-01-01,1\n", 1),
            Err(Error::TooLarge(_))
        ));
    }
}
