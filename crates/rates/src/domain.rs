//! Days, lookups, averages and price rows: the rules of the service, without HTTP or SQL.

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::Error;

/// Longest port code or region slug accepted (anything longer is unknown anyway).
pub const MAX_CODE_LEN: usize = 64;

/// Fewest prices a day needs for its average to be shown.
pub const MIN_PRICES_FOR_AVERAGE: u64 = 3;

/// Parses a day written exactly `YYYY-MM-DD` (no other form, no surrounding blanks).
pub fn parse_day(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    // The digits are checked: read them directly (chrono's `parse_from_str` interprets
    // its format for every call, and a load calls this once per price).
    let number = |range: std::ops::Range<usize>| {
        b[range]
            .iter()
            .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'))
    };
    let year = i32::try_from(number(0..4)).ok()?;
    NaiveDate::from_ymd_opt(year, number(5..7), number(8..10))
}

/// A validated `GET /rates` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// First day, inclusive.
    pub date_from: NaiveDate,
    /// Last day, inclusive.
    pub date_to: NaiveDate,
    /// Origin: a port code or a region slug.
    pub orig_code: String,
    /// Destination: a port code or a region slug.
    pub dest_code: String,
}

/// The raw parameters of `GET /rates`, as the client sent them.
#[derive(Debug, Clone, Default)]
pub struct LookupParams {
    /// `date_from`.
    pub date_from: Option<String>,
    /// `date_to`.
    pub date_to: Option<String>,
    /// `orig_code`.
    pub orig_code: Option<String>,
    /// `dest_code`.
    pub dest_code: Option<String>,
}

fn required(value: Option<String>, field: &'static str, what: &str) -> Result<String, Error> {
    value.ok_or_else(|| Error::BadParameter {
        field,
        detail: format!("the query parameter {field} is required: {what}"),
    })
}

fn day_param(value: &str, field: &'static str) -> Result<NaiveDate, Error> {
    parse_day(value).ok_or_else(|| Error::BadParameter {
        field,
        detail: format!(
            "{field} {:?} is not a date: expected YYYY-MM-DD, e.g. 2016-01-01",
            value.chars().take(32).collect::<String>()
        ),
    })
}

fn code_param(value: String, field: &'static str) -> Result<String, Error> {
    if value.is_empty() || value.len() > MAX_CODE_LEN {
        return Err(Error::unknown_code(field, &value));
    }
    Ok(value)
}

impl Lookup {
    /// Validates the parameters: each present, dates `YYYY-MM-DD`, `date_from` not after
    /// `date_to`, at most `max_days` days, codes non-empty. Whether the codes exist is
    /// the store's to say.
    pub fn parse(params: LookupParams, max_days: u32) -> Result<Self, Error> {
        const DAY: &str = "a day as YYYY-MM-DD";
        const CODE: &str = "a port code (e.g. CNSGH) or a region slug (e.g. china_main)";
        let from = required(params.date_from, "date_from", DAY)?;
        let to = required(params.date_to, "date_to", DAY)?;
        let orig = required(params.orig_code, "orig_code", CODE)?;
        let dest = required(params.dest_code, "dest_code", CODE)?;
        let date_from = day_param(&from, "date_from")?;
        let date_to = day_param(&to, "date_to")?;
        if date_from > date_to {
            return Err(Error::BadParameter {
                field: "date_from",
                detail: format!("date_from {date_from} is after date_to {date_to}"),
            });
        }
        let days = date_to.signed_duration_since(date_from).num_days() + 1;
        if days > i64::from(max_days) {
            return Err(Error::BadParameter {
                field: "date_to",
                detail: format!(
                    "the range {date_from}..{date_to} spans {days} days; at most {max_days} are allowed"
                ),
            });
        }
        Ok(Self {
            date_from,
            date_to,
            orig_code: code_param(orig, "orig_code")?,
            dest_code: code_param(dest, "dest_code")?,
        })
    }
}

/// The prices of one day, as a store aggregates them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayTotal {
    /// The day.
    pub day: NaiveDate,
    /// Number of prices.
    pub count: i64,
    /// Their sum.
    pub sum: i64,
}

/// One day of a `GET /rates` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DayRate {
    /// Number of prices that day (`0` on a day without any).
    #[schema(example = 3)]
    pub count: u64,
    /// The day, `YYYY-MM-DD`.
    #[schema(value_type = String, format = Date, example = "2016-01-31")]
    pub day: NaiveDate,
    /// The average price when `count >= 3`, else `null`.
    #[schema(example = 1_154.333_333_333_333_3)]
    pub price: Option<f64>,
}

/// The average the original computes: of integers, as a double.
#[allow(
    clippy::cast_precision_loss,
    reason = "sums and counts stay far below 2^53"
)]
pub fn average(count: i64, sum: i64) -> f64 {
    sum as f64 / count as f64
}

/// Every day from `from` to `to`, newest first, with the totals of the days that have
/// prices and `count` 0 on the others.
pub fn fill_days(from: NaiveDate, to: NaiveDate, totals: &[DayTotal]) -> Vec<DayRate> {
    let by_day: std::collections::HashMap<NaiveDate, DayTotal> =
        totals.iter().map(|t| (t.day, *t)).collect();
    let mut out = Vec::new();
    let mut day = to;
    loop {
        let (count, price) = match by_day.get(&day) {
            Some(t) => {
                let count = u64::try_from(t.count).unwrap_or(0);
                let price = (count >= MIN_PRICES_FOR_AVERAGE).then(|| average(t.count, t.sum));
                (count, price)
            }
            None => (0, None),
        };
        out.push(DayRate { count, day, price });
        if day <= from {
            break;
        }
        match day.checked_sub_days(Days::new(1)) {
            Some(prev) => day = prev,
            None => break,
        }
    }
    out
}

/// A region of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// Slug, e.g. `china_main`.
    pub slug: String,
    /// Name.
    pub name: String,
    /// The parent region, `None` for a root.
    pub parent_slug: Option<String>,
}

/// A port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    /// Code, e.g. `CNSGH`.
    pub code: String,
    /// Name.
    pub name: String,
    /// The region the port belongs to.
    pub parent_slug: String,
}

/// One price of one lane on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    /// Origin port code.
    pub orig_code: String,
    /// Destination port code.
    pub dest_code: String,
    /// The day.
    pub day: NaiveDate,
    /// The price (an integer, as in the original).
    pub price: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        parse_day(s).unwrap()
    }

    #[test]
    fn days_are_strict() {
        assert_eq!(
            d("2016-01-31"),
            NaiveDate::from_ymd_opt(2016, 1, 31).unwrap()
        );
        for bad in [
            "2016-1-31",
            "2016-02-30",
            "16-01-31",
            " 2016-01-31",
            "2016-01-31 ",
            "2016/01/31",
            "2016-01-3a",
            "",
            "+016-01-31",
            "２016-01-31",
        ] {
            assert!(parse_day(bad).is_none(), "{bad:?}");
        }
    }

    proptest::proptest! {
        /// Reading the digits directly agrees with chrono's parser on every
        /// `YYYY-MM-DD` shape, real dates and impossible ones alike.
        #[test]
        fn parse_day_agrees_with_chrono(year in 0u32..=9999, month in 0u32..=13, day in 0u32..=32) {
            let text = format!("{year:04}-{month:02}-{day:02}");
            proptest::prop_assert_eq!(
                parse_day(&text),
                NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok()
            );
        }
    }

    #[test]
    fn fill_days_is_newest_first_with_zero_counts() {
        let totals = [
            DayTotal {
                day: d("2021-01-02"),
                count: 3,
                sum: 3463,
            },
            DayTotal {
                day: d("2021-01-03"),
                count: 2,
                sum: 10,
            },
        ];
        let days = fill_days(d("2021-01-01"), d("2021-01-04"), &totals);
        let got: Vec<_> = days
            .iter()
            .map(|r| (r.day.to_string(), r.count, r.price))
            .collect();
        assert_eq!(
            got,
            [
                ("2021-01-04".to_owned(), 0, None),
                ("2021-01-03".to_owned(), 2, None),
                ("2021-01-02".to_owned(), 3, Some(1_154.333_333_333_333_3)),
                ("2021-01-01".to_owned(), 0, None),
            ]
        );
        let one = fill_days(d("2021-01-01"), d("2021-01-01"), &[]);
        assert_eq!(one.len(), 1);
        let json = serde_json::to_string(&days[2]).unwrap();
        assert_eq!(
            json,
            r#"{"count":3,"day":"2021-01-02","price":1154.3333333333333}"#
        );
    }

    #[test]
    fn lookup_validation_names_the_parameter() {
        let ok = || LookupParams {
            date_from: Some("2021-01-01".into()),
            date_to: Some("2021-01-31".into()),
            orig_code: Some("CNSGH".into()),
            dest_code: Some("north_europe_main".into()),
        };
        assert!(Lookup::parse(ok(), 366).is_ok());
        let field = |p: LookupParams, max: u32| match Lookup::parse(p, max) {
            Err(Error::BadParameter { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(
                LookupParams {
                    date_from: None,
                    ..ok()
                },
                366
            ),
            "date_from"
        );
        assert_eq!(
            field(
                LookupParams {
                    dest_code: None,
                    ..ok()
                },
                366
            ),
            "dest_code"
        );
        assert_eq!(
            field(
                LookupParams {
                    date_to: Some("2021-13-01".into()),
                    ..ok()
                },
                366
            ),
            "date_to"
        );
        assert_eq!(
            field(
                LookupParams {
                    date_from: Some("2021-02-01".into()),
                    ..ok()
                },
                366
            ),
            "date_from"
        );
        assert_eq!(field(ok(), 30), "date_to");
        assert!(Lookup::parse(ok(), 31).is_ok());
        assert_eq!(
            field(
                LookupParams {
                    orig_code: Some(String::new()),
                    ..ok()
                },
                366
            ),
            "orig_code"
        );
    }
}
