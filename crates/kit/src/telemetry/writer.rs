//! [`BatchWriter`]: log lines go to memory on the calling thread and to stdout in
//! batches, from a thread of their own.
//!
//! Why not `tracing_appender::non_blocking`: its worker takes lines one by one from a
//! channel and flushes whenever the channel runs empty, and its receiver spins and
//! yields before it parks. Under load that is one `write(2)` and about two
//! `sched_yield(2)` per log line, on a second thread competing with the runtime for
//! the same cores (measured with `strace -c -f` at 8k requests/s: 1.9 writes and 1.6
//! yields per request). Here a line costs one uncontended mutex and a copy; the writer
//! thread wakes once per batch — when the first line of a batch arrives, then after
//! [`FLUSH_AFTER`] or once [`BATCH_BYTES`] are waiting — and writes the batch with one
//! call.
//!
//! A line is never held longer than [`FLUSH_AFTER`] (plus the time stdout takes). A
//! stdout slower than the lines never blocks the caller: past [`MAX_PENDING`] bytes
//! waiting, new lines are dropped and counted in `log_lines_dropped_total`.

use std::{
    io::{self, Write},
    sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError},
    thread,
    time::Duration,
};

use tracing_subscriber::fmt::MakeWriter;

/// Longest a line waits in memory before the writer thread writes it.
pub const FLUSH_AFTER: Duration = Duration::from_millis(50);
/// Bytes waiting that wake the writer thread before [`FLUSH_AFTER`].
pub const BATCH_BYTES: usize = 64 * 1024;
/// Bytes waiting past which new lines are dropped (and counted).
pub const MAX_PENDING: usize = 16 * 1024 * 1024;

#[derive(Default)]
struct State {
    pending: Vec<u8>,
    dropped: u64,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain bytes behind: keep going.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The [`MakeWriter`] of the log: cheap to clone, each clone appends to the same batch.
#[derive(Clone)]
pub struct BatchWriter {
    shared: Arc<Shared>,
}

/// Stops the writer thread when dropped, after it wrote every line still waiting.
#[must_use = "dropping the guard stops the log writer"]
pub struct BatchGuard {
    shared: Arc<Shared>,
    thread: Option<thread::JoinHandle<()>>,
}

impl BatchWriter {
    /// Starts the writer thread, writing to `out`.
    pub fn spawn<W: Write + Send + 'static>(out: W) -> io::Result<(Self, BatchGuard)> {
        let shared = Arc::new(Shared::default());
        let thread = thread::Builder::new().name("berth-log".into()).spawn({
            let shared = Arc::clone(&shared);
            move || run(&shared, out)
        })?;
        Ok((
            Self {
                shared: Arc::clone(&shared),
            },
            BatchGuard {
                shared,
                thread: Some(thread),
            },
        ))
    }
}

/// The writer of one log line, from [`BatchWriter`]'s [`MakeWriter`]: it borrows the
/// batch rather than cloning its `Arc`, so that the two runtime threads writing lines
/// do not bounce a shared reference count between their caches once per line.
#[derive(Clone, Copy)]
pub struct LineWriter<'a> {
    shared: &'a Shared,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut state = self.shared.lock();
        if state.closed || state.pending.len() + buf.len() > MAX_PENDING {
            state.dropped += 1;
            return Ok(buf.len());
        }
        let was_empty = state.pending.is_empty();
        let before = state.pending.len();
        state.pending.extend_from_slice(buf);
        let crossed = before < BATCH_BYTES && state.pending.len() >= BATCH_BYTES;
        drop(state);
        if was_empty || crossed {
            self.shared.wake.notify_one();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for BatchWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        LineWriter {
            shared: &self.shared,
        }
        .write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
        }
    }
}

impl Drop for BatchGuard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The writer thread: sleeps while nothing waits, gathers a batch for at most
/// [`FLUSH_AFTER`], writes it, until closed and drained.
fn run<W: Write>(shared: &Shared, mut out: W) {
    let mut batch = Vec::with_capacity(BATCH_BYTES);
    loop {
        let mut state = shared.lock();
        while state.pending.is_empty() && !state.closed {
            state = shared
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if !state.closed && state.pending.len() < BATCH_BYTES {
            state = shared
                .wake
                .wait_timeout_while(state, FLUSH_AFTER, |s| {
                    !s.closed && s.pending.len() < BATCH_BYTES
                })
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        std::mem::swap(&mut batch, &mut state.pending);
        let dropped = std::mem::take(&mut state.dropped);
        let last = state.closed;
        drop(state);

        // A failing stdout (closed pipe) loses these lines; nothing better can be done
        // with them, and the caller must not notice.
        let _ = out.write_all(&batch).and_then(|()| out.flush());
        if batch.capacity() > 4 * BATCH_BYTES {
            batch = Vec::with_capacity(BATCH_BYTES);
        } else {
            batch.clear();
        }
        if dropped > 0 {
            metrics::counter!("log_lines_dropped_total").increment(dropped);
            let _ = writeln!(
                io::stderr(),
                "berth: {dropped} log lines dropped: stdout did not keep up"
            );
        }
        if last && shared.lock().pending.is_empty() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// One `write` call the sink received: when, and what.
    type Received = (Instant, Vec<u8>);

    /// An output that records what it was given and when.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<Received>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().push((Instant::now(), buf.to_vec()));
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn bytes(&self) -> Vec<u8> {
            self.0
                .lock()
                .unwrap()
                .iter()
                .flat_map(|(_, b)| b.clone())
                .collect()
        }
        fn writes(&self) -> usize {
            self.0.lock().unwrap().len()
        }
    }

    #[test]
    fn many_lines_become_few_writes_and_none_is_lost() {
        let sink = Sink::default();
        let (writer, guard) = BatchWriter::spawn(sink.clone()).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut w = writer.clone();
                thread::spawn(move || {
                    for i in 0..5_000 {
                        w.write_all(format!("thread {t} line {i}\n").as_bytes())
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);
        let text = String::from_utf8(sink.bytes()).unwrap();
        assert_eq!(text.lines().count(), 20_000);
        for t in 0..4 {
            let mine: Vec<_> = text
                .lines()
                .filter(|l| l.starts_with(&format!("thread {t} ")))
                .collect();
            assert_eq!(mine.len(), 5_000);
            // Each thread's lines keep their order.
            assert!(mine.windows(2).all(|w| {
                let n = |l: &str| l.rsplit(' ').next().unwrap().parse::<u32>().unwrap();
                n(w[0]) < n(w[1])
            }));
        }
        assert!(
            sink.writes() < 200,
            "{} writes for 20,000 lines",
            sink.writes()
        );
    }

    #[test]
    fn a_lone_line_is_written_within_the_flush_interval() {
        let sink = Sink::default();
        let (mut writer, _guard) = BatchWriter::spawn(sink.clone()).unwrap();
        let sent = Instant::now();
        writer.write_all(b"listening\n").unwrap();
        while sink.writes() == 0 {
            assert!(
                sent.elapsed() < FLUSH_AFTER * 20,
                "a lone line was not written"
            );
            thread::sleep(Duration::from_millis(5));
        }
        let (at, bytes) = sink.0.lock().unwrap()[0].clone();
        assert_eq!(bytes, b"listening\n");
        assert!(at.duration_since(sent) >= FLUSH_AFTER / 2);
    }

    #[test]
    fn lines_past_the_limit_are_dropped_not_blocked_on() {
        /// An output that blocks until released.
        struct Stuck(Arc<(Mutex<bool>, Condvar)>);
        impl Write for Stuck {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                let (lock, cvar) = &*self.0;
                let _g = cvar
                    .wait_while(lock.lock().unwrap(), |free| !*free)
                    .unwrap();
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let (mut writer, guard) = BatchWriter::spawn(Stuck(Arc::clone(&gate))).unwrap();
        let line = vec![b'x'; 1024];
        let start = Instant::now();
        for _ in 0..(2 * MAX_PENDING / line.len()) {
            writer.write_all(&line).unwrap();
        }
        assert!(start.elapsed() < Duration::from_secs(5), "writes blocked");
        assert!(writer.shared.lock().dropped > 0, "nothing was dropped");
        assert!(writer.shared.lock().pending.len() <= MAX_PENDING);
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        drop(guard);
    }
}
