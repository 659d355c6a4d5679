//! A deterministic generator of synthetic ratestask dumps.
//!
//! [`generate`] writes a complete plain-format `pg_dump` file with the same
//! schema, header, statement order and constraints as the original
//! `rates.sql`: a region tree four levels deep, [`PORT_COUNT`] ports with
//! UN/LOCODE-like codes, and exactly [`GenerateOptions::prices`] price rows.
//!
//! Prices are grouped by lane (an origin/destination port pair) and day, like
//! the original: every lane has a base price (a few hundred within a
//! continent, up to a few thousand between continents), up to six carriers
//! with their own offset, a slow random drift, a weekly pattern and
//! normal-ish noise of about ±4% (at most ±14%). Each lane-day has 0 to 6
//! prices, so many days have fewer than the 3 the rates API needs for an
//! average.
//!
//! The output depends only on the options: one `ChaCha8Rng` seeded from
//! [`GenerateOptions::seed`] drives everything, nothing iterates a hash map,
//! and the arithmetic uses no transcendental functions, so the bytes are the
//! same on every platform. Memory use does not grow with the number of
//! prices (the lane table is bounded by the number of ports).

use std::collections::BTreeSet;
use std::io::{self, BufWriter, Write};

use chrono::{Datelike, Days, NaiveDate};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::copy_text::push_fields;

/// Number of ports every generated dump contains.
pub const PORT_COUNT: usize = 300;

/// The most prices one lane has on one day.
pub const MAX_PRICES_PER_LANE_DAY: u32 = 6;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    /// Exact number of rows in `prices`.
    pub prices: u64,
    /// Seed of the random generator; equal options give identical output.
    pub seed: u64,
    /// First day prices may fall on.
    pub start_day: NaiveDate,
    /// Number of days prices are spread over, starting at `start_day`.
    pub days: u32,
}

impl Default for GenerateOptions {
    /// 100,000 prices over the 90 days from 2021-01-01, seed 1.
    fn default() -> Self {
        Self {
            prices: 100_000,
            seed: 1,
            start_day: NaiveDate::from_ymd_opt(2021, 1, 1).unwrap_or_default(),
            days: 90,
        }
    }
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Rows in `regions`.
    pub regions: u64,
    /// Rows in `ports`.
    pub ports: u64,
    /// Distinct (origin, destination) lanes with a price budget.
    pub lanes: u64,
    /// Rows in `prices` (always [`GenerateOptions::prices`]).
    pub prices: u64,
    /// Levels of the region tree (a root region alone is depth 1).
    pub region_depth: u32,
    /// Last day of the span (`start_day + days - 1`); `start_day` when `days` is 0.
    pub last_day: NaiveDate,
}

/// The region tree: slug, human-readable name, parent slug.
const REGIONS: &[(&str, &str, Option<&str>)] = &[
    ("europe", "Europe", None),
    ("northern_europe", "Northern Europe", Some("europe")),
    (
        "north_europe_main",
        "North Europe Main",
        Some("northern_europe"),
    ),
    (
        "north_europe_sub",
        "North Europe Sub",
        Some("northern_europe"),
    ),
    ("uk_main", "UK Main", Some("north_europe_main")),
    ("uk_sub", "UK Sub", Some("north_europe_sub")),
    ("scandinavia", "Scandinavia", Some("northern_europe")),
    (
        "norway_south_east",
        "Norway South East",
        Some("scandinavia"),
    ),
    (
        "norway_south_west",
        "Norway South West",
        Some("scandinavia"),
    ),
    (
        "norway_north_west",
        "Norway North West",
        Some("scandinavia"),
    ),
    ("kattegat", "Kattegat", Some("scandinavia")),
    ("stockholm_area", "Stockholm Area", Some("scandinavia")),
    ("baltic", "Baltic", Some("northern_europe")),
    ("baltic_main", "Baltic Main", Some("baltic")),
    ("finland_main", "Finland Main", Some("baltic")),
    ("poland_main", "Poland Main", Some("baltic")),
    (
        "russia_north_west",
        "Russia North West",
        Some("northern_europe"),
    ),
    ("southern_europe", "Southern Europe", Some("europe")),
    ("iberia", "Iberia", Some("southern_europe")),
    ("west_med", "West Mediterranean", Some("southern_europe")),
    ("east_med", "East Mediterranean", Some("southern_europe")),
    ("asia", "Asia", None),
    ("china_main", "China Main", Some("asia")),
    ("china_north_main", "China North Main", Some("china_main")),
    ("china_east_main", "China East Main", Some("china_main")),
    ("china_south_main", "China South Main", Some("china_main")),
    ("north_east_asia", "North East Asia", Some("asia")),
    ("japan_main", "Japan Main", Some("north_east_asia")),
    ("korea_main", "Korea Main", Some("north_east_asia")),
    ("south_east_asia", "South East Asia", Some("asia")),
    ("straits_main", "Straits Main", Some("south_east_asia")),
    ("indochina", "Indochina", Some("south_east_asia")),
    ("south_asia", "South Asia", Some("asia")),
    ("india_west_coast", "India West Coast", Some("south_asia")),
    ("india_east_coast", "India East Coast", Some("south_asia")),
    ("americas", "Americas", None),
    ("north_america", "North America", Some("americas")),
    ("us_east_coast", "US East Coast", Some("north_america")),
    ("us_gulf_coast", "US Gulf Coast", Some("north_america")),
    ("us_west_coast", "US West Coast", Some("north_america")),
    ("canada_east", "Canada East", Some("north_america")),
    ("canada_west", "Canada West", Some("north_america")),
    ("south_america", "South America", Some("americas")),
    (
        "south_america_east_coast",
        "South America East Coast",
        Some("south_america"),
    ),
    (
        "south_america_west_coast",
        "South America West Coast",
        Some("south_america"),
    ),
    ("africa", "Africa", None),
    ("north_africa", "North Africa", Some("africa")),
    ("west_africa", "West Africa", Some("africa")),
    ("southern_africa", "Southern Africa", Some("africa")),
    ("oceania", "Oceania", None),
    ("australia", "Australia", Some("oceania")),
    ("australia_east", "Australia East", Some("australia")),
    ("australia_west", "Australia West", Some("australia")),
    ("new_zealand", "New Zealand", Some("oceania")),
];

/// Countries (ISO 3166 alpha-2) and the regions their ports attach to,
/// leaves and mid-level regions alike.
const COUNTRIES: &[(&str, &[&str])] = &[
    (
        "NO",
        &[
            "norway_south_east",
            "norway_south_west",
            "norway_north_west",
            "scandinavia",
        ],
    ),
    ("SE", &["stockholm_area", "kattegat", "scandinavia"]),
    ("DK", &["kattegat", "scandinavia"]),
    ("FI", &["finland_main", "baltic"]),
    ("EE", &["baltic_main"]),
    ("LV", &["baltic_main"]),
    ("LT", &["baltic_main"]),
    ("PL", &["poland_main", "baltic"]),
    ("RU", &["russia_north_west", "baltic"]),
    ("DE", &["north_europe_main", "north_europe_sub"]),
    ("NL", &["north_europe_main", "north_europe_sub"]),
    ("BE", &["north_europe_main"]),
    ("GB", &["uk_main", "uk_sub"]),
    ("IE", &["north_europe_sub"]),
    ("FR", &["north_europe_sub", "west_med"]),
    ("ES", &["iberia", "west_med"]),
    ("PT", &["iberia"]),
    ("IT", &["west_med", "east_med", "southern_europe"]),
    ("GR", &["east_med"]),
    ("TR", &["east_med"]),
    (
        "CN",
        &[
            "china_north_main",
            "china_east_main",
            "china_south_main",
            "china_main",
        ],
    ),
    ("HK", &["china_south_main"]),
    ("JP", &["japan_main"]),
    ("KR", &["korea_main"]),
    ("TW", &["north_east_asia"]),
    ("SG", &["straits_main"]),
    ("MY", &["straits_main", "south_east_asia"]),
    ("TH", &["indochina"]),
    ("VN", &["indochina"]),
    ("IN", &["india_west_coast", "india_east_coast"]),
    ("LK", &["south_asia"]),
    (
        "US",
        &[
            "us_east_coast",
            "us_gulf_coast",
            "us_west_coast",
            "north_america",
        ],
    ),
    ("CA", &["canada_east", "canada_west"]),
    ("MX", &["north_america"]),
    ("BR", &["south_america_east_coast"]),
    ("AR", &["south_america_east_coast"]),
    ("CL", &["south_america_west_coast"]),
    ("PE", &["south_america_west_coast", "south_america"]),
    ("MA", &["north_africa"]),
    ("EG", &["north_africa"]),
    ("NG", &["west_africa"]),
    ("GH", &["west_africa", "africa"]),
    ("ZA", &["southern_africa"]),
    ("AU", &["australia_east", "australia_west", "australia"]),
    ("NZ", &["new_zealand"]),
];

const NAME_HEADS: &[&str] = &[
    "Ar", "Bel", "Bran", "Cor", "Dal", "Eld", "Fal", "Gran", "Hal", "Is", "Kar", "Lin", "Mar",
    "Nor", "Ost", "Pal", "Quin", "Ros", "Sal", "Tor", "Ul", "Val", "Wes", "Yar", "Zel", "Ålm",
    "Kø", "Sö",
];

const NAME_TAILS: &[&str] = &[
    "borg", "haven", "mouth", "vik", "by", "sund", "port", "hamn", "stad", "ford", "mar", "polis",
    "ena", "ia", "ington", "ville", "ham", "field", "øy", "ås", "köping", "wick", "anger", "ness",
];

const NAME_EXTRAS: &[&str] = &["", "", "", "", "", " Harbour", " Bay", " North", " South"];

/// Relative price level by weekday, Monday first.
const WEEKLY: [f64; 7] = [1.00, 0.99, 0.98, 0.99, 1.01, 1.03, 1.02];

const HEADER: &str = "\
SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: ports; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ports (
    code text NOT NULL,
    name text NOT NULL,
    parent_slug text NOT NULL
);


--
-- Name: prices; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.prices (
    orig_code text NOT NULL,
    dest_code text NOT NULL,
    day date NOT NULL,
    price integer NOT NULL
);


--
-- Name: regions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.regions (
    slug text NOT NULL,
    name text NOT NULL,
    parent_slug text
);


--
-- Data for Name: ports; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.ports (code, name, parent_slug) FROM stdin;
";

const PRICES_START: &str = "\\.


--
-- Data for Name: prices; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.prices (orig_code, dest_code, day, price) FROM stdin;
";

const REGIONS_START: &str = "\\.


--
-- Data for Name: regions; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.regions (slug, name, parent_slug) FROM stdin;
";

const FOOTER: &str = "\\.


--
-- Name: ports ports_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ports
    ADD CONSTRAINT ports_pkey PRIMARY KEY (code);


--
-- Name: regions regions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.regions
    ADD CONSTRAINT regions_pkey PRIMARY KEY (slug);


--
-- Name: ports ports_parent_slug_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ports
    ADD CONSTRAINT ports_parent_slug_fkey FOREIGN KEY (parent_slug) REFERENCES public.regions(slug);


--
-- Name: prices prices_dest_code_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.prices
    ADD CONSTRAINT prices_dest_code_fkey FOREIGN KEY (dest_code) REFERENCES public.ports(code);


--
-- Name: prices prices_orig_code_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.prices
    ADD CONSTRAINT prices_orig_code_fkey FOREIGN KEY (orig_code) REFERENCES public.ports(code);


--
-- Name: regions regions_parent_slug_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.regions
    ADD CONSTRAINT regions_parent_slug_fkey FOREIGN KEY (parent_slug) REFERENCES public.regions(slug);


--
-- PostgreSQL database dump complete
--

";

struct Port {
    /// `CCXXX` code, ASCII.
    code: [u8; 5],
    name: String,
    region: &'static str,
    continent: &'static str,
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// Top-level ancestor of a region.
fn continent(slug: &'static str) -> &'static str {
    let mut current = slug;
    while let Some(parent) = REGIONS.iter().find(|r| r.0 == current).and_then(|r| r.2) {
        current = parent;
    }
    current
}

/// Depth of the static region tree.
fn region_depth() -> u32 {
    REGIONS
        .iter()
        .map(|r| {
            let mut depth = 1;
            let mut current = r.2;
            while let Some(parent) = current {
                depth += 1;
                current = REGIONS.iter().find(|x| x.0 == parent).and_then(|x| x.2);
            }
            depth
        })
        .max()
        .unwrap_or(0)
}

fn make_ports(rng: &mut ChaCha8Rng) -> Vec<Port> {
    let mut codes = BTreeSet::new();
    let mut names = BTreeSet::new();
    let mut ports = Vec::with_capacity(PORT_COUNT);
    while ports.len() < PORT_COUNT {
        let (country, regions) = COUNTRIES[rng.random_range(0..COUNTRIES.len())];
        let region = regions[rng.random_range(0..regions.len())];
        let name = format!(
            "{}{}{}",
            NAME_HEADS[rng.random_range(0..NAME_HEADS.len())],
            NAME_TAILS[rng.random_range(0..NAME_TAILS.len())],
            NAME_EXTRAS[rng.random_range(0..NAME_EXTRAS.len())],
        );
        if names.contains(&name) {
            continue;
        }
        let mut code = [0u8; 5];
        code[..2].copy_from_slice(country.as_bytes());
        let letters: Vec<u8> = name
            .bytes()
            .filter(u8::is_ascii_alphabetic)
            .map(|b| b.to_ascii_uppercase())
            .take(3)
            .collect();
        if letters.len() == 3 {
            code[2..].copy_from_slice(&letters);
        }
        while letters.len() < 3 || codes.contains(&code) {
            code[2] = letters.first().copied().unwrap_or(b'X');
            for slot in &mut code[3..] {
                *slot = rng.random_range(b'A'..=b'Z');
            }
            if !codes.contains(&code) {
                break;
            }
        }
        codes.insert(code);
        names.insert(name.clone());
        ports.push(Port {
            code,
            name,
            region,
            continent: continent(region),
        });
    }
    ports
}

/// Appends `YYYY-MM-DD` (years of five or more digits as the server prints them).
fn push_date(buf: &mut Vec<u8>, date: NaiveDate) {
    // Writing to a Vec cannot fail.
    let _ = write!(
        buf,
        "{:04}-{:02}-{:02}",
        date.year(),
        date.month(),
        date.day()
    );
}

/// A normal-ish value with mean 0 and standard deviation 1, bounded to ±3.47
/// (the sum of four uniforms, rescaled).
fn normalish(rng: &mut ChaCha8Rng) -> f64 {
    let sum: f64 = (0..4).map(|_| rng.random::<f64>()).sum();
    (sum - 2.0) * 1.732_050_807_568_877_2
}

/// Writes a complete synthetic dump to `w` and returns what it contains.
///
/// The writer is wrapped in a buffer internally; pass the file or socket as is.
///
/// # Errors
/// `InvalidInput` when the options cannot be met: prices but no days, a span
/// ending beyond the dates chrono supports, a `start_day` before year 1, or
/// more prices than [`MAX_PRICES_PER_LANE_DAY`] per lane-day allows on all
/// `PORT_COUNT * (PORT_COUNT - 1)` lanes; otherwise any error of `w`.
pub fn generate(w: &mut impl Write, opts: &GenerateOptions) -> io::Result<Stats> {
    let days = u64::from(opts.days);
    if opts.start_day.year() < 1 {
        return Err(invalid(format!(
            "start_day {} is before year 1",
            opts.start_day
        )));
    }
    let last_day = opts
        .start_day
        .checked_add_days(Days::new(days.saturating_sub(1)))
        .ok_or_else(|| {
            invalid(format!(
                "{} days from {} is out of range",
                days, opts.start_day
            ))
        })?;
    let max_lanes = (PORT_COUNT * (PORT_COUNT - 1)) as u64;
    let capacity = max_lanes * days * u64::from(MAX_PRICES_PER_LANE_DAY);
    if opts.prices > capacity {
        return Err(invalid(format!(
            "{} prices do not fit in {} days: at most {capacity} ({} per lane-day on {max_lanes} lanes)",
            opts.prices, days, MAX_PRICES_PER_LANE_DAY
        )));
    }

    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut out = BufWriter::with_capacity(1 << 17, w);
    writeln!(out, "--\n-- PostgreSQL database dump\n--\n")?;
    writeln!(
        out,
        "-- Synthetic ratestask data: seed {}, {} prices over {} days from {}\n",
        opts.seed, opts.prices, days, opts.start_day
    )?;
    out.write_all(HEADER.as_bytes())?;

    let ports = make_ports(&mut rng);
    let mut text = String::with_capacity(128);
    for port in &ports {
        let code = std::str::from_utf8(&port.code).unwrap_or("XXXXX");
        write_row(
            &mut out,
            &mut text,
            &[Some(code), Some(&port.name), Some(port.region)],
        )?;
    }
    out.write_all(PRICES_START.as_bytes())?;

    let lanes = write_prices(&mut out, &mut rng, &ports, opts, max_lanes)?;

    out.write_all(REGIONS_START.as_bytes())?;
    // Children may come before their parents, as in the original dump.
    let mut order: Vec<usize> = (0..REGIONS.len()).collect();
    order.shuffle(&mut rng);
    for &i in &order {
        let (slug, name, parent) = REGIONS[i];
        write_row(&mut out, &mut text, &[Some(slug), Some(name), parent])?;
    }
    out.write_all(FOOTER.as_bytes())?;
    out.flush()?;

    Ok(Stats {
        regions: REGIONS.len() as u64,
        ports: ports.len() as u64,
        lanes,
        prices: opts.prices,
        region_depth: region_depth(),
        last_day,
    })
}

/// Writes one `COPY` row of `fields`, formatted in `scratch`.
fn write_row(
    out: &mut impl Write,
    scratch: &mut String,
    fields: &[Option<&str>],
) -> io::Result<()> {
    scratch.clear();
    push_fields(scratch, fields);
    scratch.push('\n');
    out.write_all(scratch.as_bytes())
}

/// Writes the rows of `prices`; returns the number of lanes.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    reason = "prices are positive and far below u32::MAX; counts are far below 2^52"
)]
fn write_prices<W: Write>(
    out: &mut W,
    rng: &mut ChaCha8Rng,
    ports: &[Port],
    opts: &GenerateOptions,
    max_lanes: u64,
) -> io::Result<u64> {
    if opts.prices == 0 {
        return Ok(0);
    }
    let days = u64::from(opts.days);
    let per_lane_target = 3 * days;
    let lanes = opts.prices.div_ceil(per_lane_target).clamp(1, max_lanes);
    // Choose `lanes` distinct ordered pairs: a partial Fisher-Yates shuffle
    // of all pair indices (bounded by the port count, not by `prices`).
    let mut pairs: Vec<u32> = (0..max_lanes as u32).collect();
    for i in 0..lanes as usize {
        let j = rng.random_range(i..pairs.len());
        pairs.swap(i, j);
    }
    pairs.truncate(lanes as usize);
    let others = (PORT_COUNT - 1) as u32;
    let start_weekday = opts.start_day.weekday().num_days_from_monday() as usize;
    let max_per_day = u64::from(MAX_PRICES_PER_LANE_DAY);

    let mut row = Vec::with_capacity(256);
    let mut digits = itoa::Buffer::new();
    let mut prefix = [0u8; 12];
    let mut date_text = Vec::with_capacity(16);
    for (lane_index, &pair) in pairs.iter().enumerate() {
        let orig = (pair / others) as usize;
        let rest = (pair % others) as usize;
        let dest = if rest < orig { rest } else { rest + 1 };
        let (o, d) = (&ports[orig], &ports[dest]);
        prefix[..5].copy_from_slice(&o.code);
        prefix[5] = b'\t';
        prefix[6..11].copy_from_slice(&d.code);
        prefix[11] = b'\t';

        let base: f64 = if o.continent == d.continent {
            rng.random_range(300.0..1500.0)
        } else {
            rng.random_range(1200.0..4200.0)
        };
        let mut carriers = [0f64; MAX_PRICES_PER_LANE_DAY as usize];
        for c in &mut carriers {
            *c = 1.0 + rng.random_range(-0.12..0.12);
        }
        let slope = rng.random_range(-0.0015..0.0015);
        let mut drift = 1.0;

        let mut budget = opts.prices / lanes + u64::from((lane_index as u64) < opts.prices % lanes);
        let mut date = opts.start_day;
        for day in 0..days {
            let days_left = days - day;
            let target = (1.0 + slope * day as f64).clamp(0.7, 1.3);
            drift += 0.05 * (target - drift) + rng.random_range(-0.01..0.01);
            let lo = budget.saturating_sub(max_per_day * (days_left - 1));
            let hi = budget.min(max_per_day);
            let p = budget as f64 / (max_per_day * days_left) as f64;
            let draws = (0..max_per_day).filter(|_| rng.random::<f64>() < p).count() as u64;
            let count = draws.clamp(lo, hi);
            if count > 0 {
                budget -= count;
                date_text.clear();
                push_date(&mut date_text, date);
                let level = base * drift * WEEKLY[(start_weekday + day as usize) % 7];
                row.clear();
                for carrier in &carriers[..count as usize] {
                    let price = (level * carrier * (1.0 + 0.04 * normalish(rng))).round();
                    row.extend_from_slice(&prefix);
                    row.extend_from_slice(&date_text);
                    row.push(b'\t');
                    row.extend_from_slice(digits.format(price.max(1.0) as u64).as_bytes());
                    row.push(b'\n');
                }
                out.write_all(&row)?;
            }
            if day + 1 < days {
                date = date.succ_opt().unwrap_or(date);
            }
        }
        debug_assert_eq!(budget, 0);
    }
    Ok(lanes)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::dump::{DumpReader, Event};

    fn opts(prices: u64, seed: u64, days: u32) -> GenerateOptions {
        GenerateOptions {
            prices,
            seed,
            start_day: NaiveDate::from_ymd_opt(2024, 2, 20).expect("date"),
            days,
        }
    }

    fn render(opts: &GenerateOptions) -> (Vec<u8>, Stats) {
        let mut out = Vec::new();
        let stats = generate(&mut out, opts).expect("generates");
        (out, stats)
    }

    #[derive(Default)]
    struct Parsed {
        regions: BTreeMap<String, Option<String>>,
        region_names: BTreeSet<String>,
        ports: BTreeMap<String, String>,
        /// (orig, dest, day) -> prices
        lane_days: BTreeMap<(String, String, String), Vec<u64>>,
        prices: u64,
        copy_ends: BTreeMap<String, u64>,
    }

    fn parse(bytes: &[u8]) -> Parsed {
        let mut p = Parsed::default();
        let mut table = String::new();
        for event in DumpReader::new(bytes) {
            match event.expect("generated dump parses") {
                Event::CopyStart { table: name, .. } => table = name,
                Event::Row { mut fields, .. } => {
                    let mut take = |i: usize| fields[i].take();
                    match table.as_str() {
                        "regions" => {
                            let slug = take(0).expect("slug");
                            p.region_names.insert(take(1).expect("name"));
                            assert!(p.regions.insert(slug, take(2)).is_none(), "unique slug");
                        }
                        "ports" => {
                            let code = take(0).expect("code");
                            assert!(take(1).is_some_and(|n| !n.is_empty()));
                            assert!(
                                p.ports.insert(code, take(2).expect("parent")).is_none(),
                                "unique code"
                            );
                        }
                        "prices" => {
                            let key = (
                                take(0).expect("o"),
                                take(1).expect("d"),
                                take(2).expect("day"),
                            );
                            let price = take(3).expect("price").parse().expect("integer price");
                            p.lane_days.entry(key).or_default().push(price);
                            p.prices += 1;
                        }
                        other => panic!("unexpected table {other}"),
                    }
                }
                Event::CopyEnd { table, rows, .. } => {
                    p.copy_ends.insert(table, rows);
                }
                Event::Other { .. } => {}
            }
        }
        p
    }

    fn depth(regions: &BTreeMap<String, Option<String>>, slug: &str) -> u32 {
        let mut d = 1;
        let mut current = regions[slug].clone();
        while let Some(parent) = current {
            d += 1;
            assert!(d <= 64, "cycle at {slug}");
            current = regions[&parent].clone();
        }
        d
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let (a, sa) = render(&opts(20_000, 7, 60));
        let (b, sb) = render(&opts(20_000, 7, 60));
        assert_eq!(sa, sb);
        assert!(a == b, "same seed must give byte-identical output");
        let (c, _) = render(&opts(20_000, 8, 60));
        assert!(a != c, "another seed must give other output");
    }

    #[test]
    fn parser_reads_back_exact_counts_and_integrity() {
        let o = opts(50_000, 42, 120);
        let (bytes, stats) = render(&o);
        let p = parse(&bytes);
        assert_eq!(stats.prices, 50_000);
        assert_eq!(p.prices, stats.prices);
        assert_eq!(p.copy_ends["prices"], stats.prices);
        assert_eq!(p.copy_ends["ports"], stats.ports);
        assert_eq!(p.copy_ends["regions"], stats.regions);
        assert_eq!(p.ports.len() as u64, stats.ports);
        assert_eq!(p.regions.len() as u64, stats.regions);
        assert!((200..=1000).contains(&stats.ports), "a few hundred ports");

        // (The schema is the original's to the letter: tests/api/dump.rs.)

        // Region tree: parents exist, depth >= 3 computed from the parsed rows.
        for parent in p.regions.values().flatten() {
            assert!(p.regions.contains_key(parent), "region parent {parent}");
        }
        let max_depth = p
            .regions
            .keys()
            .map(|s| depth(&p.regions, s))
            .max()
            .expect("regions");
        assert!(max_depth >= 3, "depth {max_depth}");
        assert_eq!(max_depth, stats.region_depth);
        assert_eq!(p.region_names.len(), p.regions.len(), "unique region names");

        // Ports: UN/LOCODE-like codes, parents exist, some on mid-level regions.
        let has_children: BTreeSet<&String> = p.regions.values().flatten().collect();
        let mut on_mid = 0;
        for (code, parent) in &p.ports {
            assert!(
                code.len() == 5 && code.bytes().all(|b| b.is_ascii_uppercase()),
                "{code}"
            );
            assert!(
                p.regions.contains_key(parent),
                "port {code} parent {parent}"
            );
            on_mid += usize::from(has_children.contains(parent));
        }
        assert!(on_mid > 0, "some ports attach to mid-level regions");

        // Prices: ports exist, days in the span, 1..=6 per lane-day, some < 3.
        let first = o.start_day.to_string();
        let last = stats.last_day.to_string();
        let mut small_days = 0;
        let mut lanes = BTreeSet::new();
        for ((orig, dest, day), prices) in &p.lane_days {
            assert!(
                p.ports.contains_key(orig) && p.ports.contains_key(dest),
                "{orig} {dest}"
            );
            assert_ne!(orig, dest);
            assert!(*day >= first && *day <= last, "{day}");
            assert!((1..=6).contains(&prices.len()));
            small_days += usize::from(prices.len() < 3);
            assert!(
                prices.iter().all(|&x| (100..=10_000).contains(&x)),
                "{prices:?}"
            );
            lanes.insert((orig, dest));
        }
        assert!(small_days > 0);
        assert_eq!(lanes.len() as u64, stats.lanes);
        assert_eq!(
            stats.last_day,
            NaiveDate::from_ymd_opt(2024, 6, 18).expect("date")
        );
    }

    #[test]
    fn exact_counts_for_awkward_sizes() {
        for (prices, days) in [
            (0, 0),
            (0, 5),
            (1, 1),
            (7, 1),
            (6, 1),
            (1000, 3),
            (12_345, 2),
            (5, 400),
        ] {
            let o = opts(prices, 3, days);
            let (bytes, stats) = render(&o);
            let p = parse(&bytes);
            assert_eq!(stats.prices, prices);
            assert_eq!(p.prices, prices, "{prices} prices over {days} days");
        }
    }

    #[test]
    fn impossible_options_are_rejected() {
        let kind = |o: &GenerateOptions| generate(&mut Vec::new(), o).expect_err("invalid").kind();
        assert_eq!(kind(&opts(1, 1, 0)), io::ErrorKind::InvalidInput);
        let too_many = (PORT_COUNT * (PORT_COUNT - 1)) as u64 * 6 + 1;
        assert_eq!(kind(&opts(too_many, 1, 1)), io::ErrorKind::InvalidInput);
        let mut far = opts(1, 1, u32::MAX);
        far.start_day = NaiveDate::MAX;
        assert_eq!(kind(&far), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn date_formatting() {
        let mut buf = Vec::new();
        for (y, m, d) in [(21, 3, 4), (2021, 12, 31), (12_345, 1, 9)] {
            push_date(&mut buf, NaiveDate::from_ymd_opt(y, m, d).expect("date"));
            buf.push(b' ');
        }
        assert_eq!(
            String::from_utf8(buf).expect("ascii"),
            "0021-03-04 2021-12-31 12345-01-09 "
        );
    }
}
