//! Loading a plain-format `pg_dump` file into a store, in one transaction.
//!
//! The dump is a file or a download ([`crate::source`]); either way a blocking thread
//! reads it with [`crate::dump::DumpReader`], checks every row
//! (non-null fields, `YYYY-MM-DD` days, integer prices, unique keys, every reference
//! defined somewhere in the file) and hands batches to the database through a bounded
//! channel. The first problem stops everything with its line number, and the
//! transaction is rolled back: nothing is left half loaded.
//!
//! # Prices in lane order
//!
//! A dump of up to [`SORT_ROWS`] prices (the real `rates.sql` has 56,689) is read
//! whole, then handed over sorted by lane and day, the order of the index every
//! `GET /rates` uses. Two things follow on PostgreSQL: building that index finds its
//! input already in order (its sort checks for that first and stops after one pass:
//! a third of the time of sorting the real dump's prices), and a lane's prices sit
//! together in the table, so a query reads a page or two of it instead of one page
//! per price. A larger dump is streamed in the file's order, so that memory stays
//! flat whatever its size.

use std::{
    collections::{HashMap, HashSet},
    io::{BufRead, BufReader, Read},
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::NaiveDate;
use tokio::sync::mpsc;

use crate::{
    domain::{Port, Price, Region, parse_day},
    dump::{DumpError, DumpReader, Event},
    generate::{GenerateOptions, generate},
    source::{Source, SourceError},
    store::Store,
};

/// Rows per batch handed to the database.
const BATCH_ROWS: usize = 10_000;

/// Most prices a load holds in memory to hand them over in lane order (about 100 MiB
/// at most; see the module docs). Past it, the load streams.
pub const SORT_ROWS: usize = 1_000_000;

/// Why a load failed. Nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file cannot be opened, or the download cannot start.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The file is not a well-formed dump (the message starts with `line N:`), or its
    /// reading broke off (a download cut short: [`DumpError::Io`]).
    #[error(transparent)]
    Dump(#[from] DumpError),
    /// A row or statement is well-formed but not valid rates data.
    #[error("line {line}: {message}")]
    Invalid {
        /// 1-based line in the file.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// The file holds no rates data at all.
    #[error("the file holds no rates data (no COPY into regions, ports or prices)")]
    Empty,
    /// The database already holds data and `--replace` was not given.
    #[error("the rates database is not empty; load with --replace to empty it first")]
    NotEmpty,
    /// The database refused the data or failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl LoadError {
    /// The line the error names, if any.
    pub fn line(&self) -> Option<u64> {
        match self {
            Self::Dump(e) => Some(e.line()),
            Self::Invalid { line, .. } => Some(*line),
            _ => None,
        }
    }
}

/// How far a load is; shared with whoever displays it.
#[derive(Debug, Default)]
pub struct Progress {
    /// Bytes of the file read.
    pub bytes: AtomicU64,
    /// Rows handed to the database.
    pub rows: AtomicU64,
}

/// What a load stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadStats {
    /// Regions.
    pub regions: u64,
    /// Ports.
    pub ports: u64,
    /// Prices.
    pub prices: u64,
    /// Time from start to commit.
    pub elapsed: Duration,
}

enum Batch {
    Regions(Vec<Region>),
    Ports(Vec<Port>),
    Prices(Vec<Price>),
}

/// Loads the dump at `path`, which may also be an `http(s)://` URL written as a path
/// (as `--rates-dump` is given): see [`Source::parse`] and the module docs.
pub async fn load_file(
    store: &dyn Store,
    path: &Path,
    replace: bool,
    progress: &Arc<Progress>,
) -> Result<LoadStats, LoadError> {
    let dump = Source::parse(path.as_os_str())?.open().await?;
    load_reader(store, dump.reader, replace, progress).await
}

/// Loads the generated sample dataset: `prices` prices over January 2021, seed 1.
pub async fn load_sample(store: &dyn Store, prices: u64) -> anyhow::Result<LoadStats> {
    let bytes = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        generate(
            &mut out,
            &GenerateOptions {
                prices,
                seed: 1,
                start_day: chrono::NaiveDate::from_ymd_opt(2021, 1, 1).unwrap_or_default(),
                days: 31,
            },
        )
        .map(|_| out)
    })
    .await??;
    Ok(load_reader(store, std::io::Cursor::new(bytes), false, &Arc::default()).await?)
}

/// Loads a dump read from `reader` (see the module docs).
pub async fn load_reader<R: Read + Send + 'static>(
    store: &dyn Store,
    reader: R,
    replace: bool,
    progress: &Arc<Progress>,
) -> Result<LoadStats, LoadError> {
    let start = Instant::now();
    let (sender, mut receiver) = mpsc::channel::<Batch>(4);
    let counter = Arc::clone(progress);
    let reader = BufReader::with_capacity(
        1 << 16,
        Counting {
            inner: reader,
            progress: counter,
        },
    );
    let parser = tokio::task::spawn_blocking(move || parse(reader, &sender));

    let stored = async {
        let mut tx = store.begin_load(replace).await?;
        if !replace && !tx.is_empty().await? {
            return Err(LoadError::NotEmpty);
        }
        while let Some(batch) = receiver.recv().await {
            let rows = match batch {
                Batch::Regions(rows) => tx.regions(&rows).await.map(|()| rows.len()),
                Batch::Ports(rows) => tx.ports(&rows).await.map(|()| rows.len()),
                Batch::Prices(rows) => tx.prices(&rows).await.map(|()| rows.len()),
            }?;
            progress.rows.fetch_add(rows as u64, Ordering::Relaxed);
        }
        Ok(tx)
    }
    .await;
    // Unblock the parser if the database side stopped early.
    drop(receiver);
    let parsed = parser
        .await
        .map_err(|e| std::io::Error::other(format!("the dump reader failed: {e}")))
        .map_err(|cause| LoadError::Dump(DumpError::Io { line: 0, cause }))?;
    let tx = stored?;
    let counts = parsed?;
    if counts.regions + counts.ports + counts.prices == 0 && !counts.saw_copy {
        return Err(LoadError::Empty);
    }
    tx.commit().await?;
    Ok(LoadStats {
        regions: counts.regions,
        ports: counts.ports,
        prices: counts.prices,
        elapsed: start.elapsed(),
    })
}

struct Counting<R> {
    inner: R,
    progress: Arc<Progress>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[derive(Default)]
struct Counts {
    regions: u64,
    ports: u64,
    prices: u64,
    saw_copy: bool,
}

/// The tables berth loads and their columns, in the order the batches carry them.
const TABLES: [(&str, [&str; 4]); 3] = [
    ("regions", ["slug", "name", "parent_slug", ""]),
    ("ports", ["code", "name", "parent_slug", ""]),
    ("prices", ["orig_code", "dest_code", "day", "price"]),
];

/// The COPY block being read: which table, and where each wanted column sits.
struct Block {
    table: usize,
    positions: Vec<usize>,
}

#[derive(Default)]
struct Checker {
    regions: HashSet<String>,
    ports: HashSet<String>,
    /// References not (yet) defined: (what, code) → first line.
    pending: HashMap<(&'static str, String), u64>,
}

impl Checker {
    fn refer(&mut self, what: &'static str, code: &str, line: u64) {
        let known = if what == "region" {
            &self.regions
        } else {
            &self.ports
        };
        if !known.contains(code) {
            self.pending.entry((what, code.to_owned())).or_insert(line);
        }
    }

    fn finish(&self) -> Result<(), LoadError> {
        let missing = self
            .pending
            .iter()
            .filter(|((what, code), _)| {
                let known = if *what == "region" {
                    &self.regions
                } else {
                    &self.ports
                };
                !known.contains(code)
            })
            .min_by_key(|(_, line)| **line);
        match missing {
            Some(((what, code), line)) => Err(LoadError::Invalid {
                line: *line,
                message: format!("refers to {what} {code:?}, which the file does not define"),
            }),
            None => Ok(()),
        }
    }
}

fn block(line: u64, table: &str, columns: &[String]) -> Result<Option<Block>, LoadError> {
    let Some(index) = TABLES.iter().position(|(name, _)| *name == table) else {
        tracing::warn!(
            line,
            table,
            "skipping the rows of a table berth does not know"
        );
        return Ok(None);
    };
    let wanted: Vec<&str> = TABLES[index]
        .1
        .iter()
        .copied()
        .filter(|c| !c.is_empty())
        .collect();
    if let Some(extra) = columns.iter().find(|c| !wanted.contains(&c.as_str())) {
        return Err(LoadError::Invalid {
            line,
            message: format!("COPY into {table} has a column {extra:?} that berth does not know"),
        });
    }
    let positions = wanted
        .iter()
        .map(|w| {
            columns
                .iter()
                .position(|c| c == w)
                .ok_or_else(|| LoadError::Invalid {
                    line,
                    message: format!("COPY into {table} lacks the column {w}"),
                })
        })
        .collect::<Result<_, _>>()?;
    Ok(Some(Block {
        table: index,
        positions,
    }))
}

fn parse<R: BufRead>(reader: R, sender: &mpsc::Sender<Batch>) -> Result<Counts, LoadError> {
    let mut counts = Counts::default();
    let mut check = Checker::default();
    let mut current: Option<Block> = None;
    let mut regions = Vec::new();
    let mut ports = Vec::new();
    let mut prices = PendingPrices::new();
    // A closed channel means the database side failed: it reports its own error.
    let send = |batch: Batch| sender.blocking_send(batch).is_ok();

    for event in DumpReader::new(reader) {
        match event? {
            Event::CopyStart {
                line,
                table,
                columns,
                ..
            } => {
                current = block(line, &table, &columns)?;
                counts.saw_copy |= current.is_some();
            }
            Event::Row {
                line, mut fields, ..
            } => {
                let Some(block) = &current else { continue };
                let mut take = |i: usize| fields[block.positions[i]].take();
                let table = TABLES[block.table].0;
                let mut required = |i: usize| {
                    take(i).ok_or_else(|| LoadError::Invalid {
                        line,
                        message: format!("{table}.{} is null", TABLES[block.table].1[i]),
                    })
                };
                match block.table {
                    0 => {
                        let region = Region {
                            slug: required(0)?,
                            name: required(1)?,
                            parent_slug: take(2),
                        };
                        if !check.regions.insert(region.slug.clone()) {
                            return Err(duplicate(line, "region", &region.slug));
                        }
                        if let Some(parent) = &region.parent_slug {
                            check.refer("region", parent, line);
                        }
                        regions.push(region);
                        counts.regions += 1;
                    }
                    1 => {
                        let port = Port {
                            code: required(0)?,
                            name: required(1)?,
                            parent_slug: required(2)?,
                        };
                        if !check.ports.insert(port.code.clone()) {
                            return Err(duplicate(line, "port", &port.code));
                        }
                        check.refer("region", &port.parent_slug, line);
                        ports.push(port);
                        counts.ports += 1;
                    }
                    _ => {
                        let (orig_code, dest_code) = (required(0)?, required(1)?);
                        let (day, price) = day_and_price(line, &required(2)?, &required(3)?)?;
                        check.refer("port", &orig_code, line);
                        check.refer("port", &dest_code, line);
                        counts.prices += 1;
                        let price = Price {
                            orig_code,
                            dest_code,
                            day,
                            price,
                        };
                        if !prices.push(price, &send) {
                            return Ok(counts);
                        }
                    }
                }
            }
            Event::CopyEnd { .. } => {
                current = None;
                let delivered = (regions.is_empty()
                    || send(Batch::Regions(std::mem::take(&mut regions))))
                    && (ports.is_empty() || send(Batch::Ports(std::mem::take(&mut ports))))
                    && prices.end_of_block(&send);
                if !delivered {
                    return Ok(counts);
                }
            }
            Event::Other { .. } => {}
        }
    }
    check.finish()?;
    prices.finish(&send);
    Ok(counts)
}

/// The prices read and not yet handed over: all of them, to be sorted, while there
/// are at most [`SORT_ROWS`]; past that, a batch at a time in the file's order.
struct PendingPrices {
    rows: Vec<Price>,
    sorting: bool,
}

impl PendingPrices {
    fn new() -> Self {
        Self {
            rows: Vec::with_capacity(BATCH_ROWS),
            sorting: true,
        }
    }

    /// Adds a price; false when the database side stopped.
    fn push(&mut self, price: Price, send: &impl Fn(Batch) -> bool) -> bool {
        self.rows.push(price);
        if self.sorting {
            if self.rows.len() <= SORT_ROWS {
                return true;
            }
            // Too many to keep: stream from here on, in the file's order.
            self.sorting = false;
            return send_prices(send, std::mem::take(&mut self.rows));
        }
        self.rows.len() < BATCH_ROWS
            || send(Batch::Prices(std::mem::replace(
                &mut self.rows,
                Vec::with_capacity(BATCH_ROWS),
            )))
    }

    /// The end of a COPY block: a streaming load hands over what it holds.
    fn end_of_block(&mut self, send: &impl Fn(Batch) -> bool) -> bool {
        self.sorting || self.rows.is_empty() || send(Batch::Prices(std::mem::take(&mut self.rows)))
    }

    /// The end of the file: a sorting load hands everything over, in lane order.
    fn finish(self, send: &impl Fn(Batch) -> bool) {
        if self.sorting {
            let mut rows = self.rows;
            rows.sort_unstable_by(|a, b| lane_order(a).cmp(&lane_order(b)));
            send_prices(send, rows);
        }
    }
}

/// The order of the lane index (`orig_code, dest_code, day`). Codes compare by bytes,
/// as under the `C` collations; under another collation PostgreSQL may find the input
/// out of its order, and then simply sorts it.
fn lane_order(price: &Price) -> (&str, &str, NaiveDate) {
    (&price.orig_code, &price.dest_code, price.day)
}

/// Hands `prices` over in batches of [`BATCH_ROWS`]; false when the database side
/// stopped.
fn send_prices(send: &impl Fn(Batch) -> bool, prices: Vec<Price>) -> bool {
    let mut rows = prices.into_iter();
    loop {
        let batch: Vec<Price> = rows.by_ref().take(BATCH_ROWS).collect();
        if batch.is_empty() {
            return true;
        }
        if !send(Batch::Prices(batch)) {
            return false;
        }
    }
}

/// Parses a `prices` row's day and price, naming the line when either is malformed.
fn day_and_price(
    line: u64,
    day_text: &str,
    price_text: &str,
) -> Result<(NaiveDate, i32), LoadError> {
    let day = parse_day(day_text).ok_or_else(|| LoadError::Invalid {
        line,
        message: format!("prices.day {day_text:?} is not a YYYY-MM-DD date"),
    })?;
    let price = price_text.parse::<i32>().map_err(|_| LoadError::Invalid {
        line,
        message: format!("prices.price {price_text:?} is not an integer"),
    })?;
    Ok((day, price))
}

fn duplicate(line: u64, what: &str, key: &str) -> LoadError {
    LoadError::Invalid {
        line,
        message: format!("{what} {key:?} is defined twice"),
    }
}
