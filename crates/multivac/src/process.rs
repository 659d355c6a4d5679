//! What "processing" a datum means: a record with the datum, values derived from it
//! and the time it was processed. Pure; the worker calls it, nothing else does.

use chrono::{DateTime, Utc};

/// A record to store, keyed by the queue id of the item it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    /// The queue's id of the item (a Redis stream id, or the SQLite queue's id).
    pub queue_id: String,
    /// The datum, as posted.
    pub data: String,
    /// Its length in characters.
    pub length: i64,
    /// Its number of whitespace-separated words.
    pub words: i64,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
    /// When it was processed.
    pub processed_at: DateTime<Utc>,
}

/// A stored record: what was stored, under the id the store gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The record's id, in processing order ("oldest" is arrival order instead:
    /// `queued_at`, then the queue id).
    pub id: i64,
    /// What was stored.
    pub stored: NewRecord,
}

/// Processes one datum.
pub fn process(
    queue_id: &str,
    data: &str,
    queued_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> NewRecord {
    NewRecord {
        queue_id: queue_id.to_owned(),
        data: data.to_owned(),
        length: i64::try_from(data.chars().count()).unwrap_or(i64::MAX),
        words: i64::try_from(data.split_whitespace().count()).unwrap_or(i64::MAX),
        queued_at,
        processed_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_length_and_words() {
        let now = Utc::now();
        let r = process("1-0", "how can entropy  be reversed? ☃", now, now);
        assert_eq!(r.length, 31);
        assert_eq!(r.words, 6);
        assert_eq!(r.queue_id, "1-0");
    }
}
