//! JSON lines, built in one buffer.
//!
//! tracing-subscriber's own JSON format serialises through an `io::Write` adaptor (a
//! UTF-8 check per small write), builds a `serde_json::Value` map per event and
//! re-parses every span's stored JSON for each event: measured with callgrind, a
//! request's span and access line cost more instructions than the whole bare handler.
//! [`JsonLayer`] keeps its output shape (event fields at the top level, the fields of
//! the spans in scope under `"span"`) and builds each line once: a span's fields are
//! written as JSON members when the span is created, and a line is built in a
//! per-thread buffer and handed to the writer as it is. (As a formatter plugged into
//! `fmt::Layer`, the same line was copied twice more on its way out: into the layer's
//! own buffer, and each span's fields out of a scratch buffer.)
//!
//! Measured against tracing-subscriber's `json` formatter writing the same fields
//! through the same [`BatchWriter`](super::writer::BatchWriter):
//! `docs/benchmarks.md`, section kit, row "A/B JSON log lines".

use std::{
    fmt::{self, Write as _},
    io::Write as _,
    time::{Duration, SystemTime},
};

use tracing::{
    Event, Subscriber,
    field::{Field, Visit},
    span,
};
use tracing_subscriber::{
    Layer,
    fmt::MakeWriter,
    layer::Context,
    registry::{LookupSpan, SpanRef},
};

/// The layer that writes JSON lines: one object per event with `timestamp`, `level`,
/// `target`, the event's fields (with `message`), and `span` holding the fields of
/// every span in scope, outermost first, named after the innermost.
#[derive(Debug)]
pub struct JsonLayer<W> {
    make_writer: W,
}

impl<W> JsonLayer<W> {
    /// A layer writing each line, whole, to a writer from `make_writer`.
    pub fn new(make_writer: W) -> Self {
        Self { make_writer }
    }
}

/// A span's fields as JSON members, each with a leading comma
/// (`,"route":"/clock","request_id":"…"`), ready to be appended to a line.
struct SpanFields(String);

/// Room for a request span's members (service, method, route, request id) in one
/// allocation.
const SPAN_FIELDS_CAPACITY: usize = 160;

impl<S, W> Layer<S> for JsonLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = String::with_capacity(SPAN_FIELDS_CAPACITY);
        attrs.record(&mut Members(&mut fields));
        span.extensions_mut().insert(SpanFields(fields));
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        // Formatted before the span's extensions are locked: a value whose `Debug` logs
        // would otherwise reach them again, from this thread, while they are held.
        let mut more = String::new();
        values.record(&mut Members(&mut more));
        if let Some(SpanFields(fields)) = span.extensions_mut().get_mut::<SpanFields>() {
            fields.push_str(&more);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        with_scratch(|line| {
            build_line(&ctx, line, event);
            // A failing output loses the line; the caller must not notice.
            let _ = self
                .make_writer
                .make_writer_for(event.metadata())
                .write_all(line.as_bytes());
        });
    }
}

/// Runs `f` with this thread's scratch buffer, empty: lines are built there, so that
/// building one allocates nothing. When the buffer is in use already, the inner call
/// gets a buffer of its own instead of a panic: with the global subscriber (berth's),
/// tracing dispatches an event raised while a line is built (a field's `Debug` that
/// logs) to this layer again, on the same thread.
fn with_scratch<T>(f: impl FnOnce(&mut String) -> T) -> T {
    thread_local! {
        static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    SCRATCH.with(|cell| {
        if let Ok(mut buf) = cell.try_borrow_mut() {
            buf.clear();
            let out = f(&mut buf);
            // A huge line (a large field) does not keep its memory on the thread.
            if buf.capacity() > 64 * 1024 {
                *buf = String::new();
            }
            out
        } else {
            f(&mut String::with_capacity(320))
        }
    })
}

/// Appends the line of `event` (see [`JsonLayer`]), newline included.
fn build_line<S>(ctx: &Context<'_, S>, line: &mut String, event: &Event<'_>)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let meta = event.metadata();
    line.push_str("{\"timestamp\":\"");
    push_timestamp(line, SystemTime::now());
    line.push_str("\",\"level\":\"");
    line.push_str(meta.level().as_str());
    line.push_str("\",\"target\":");
    push_str(line, meta.target());
    event.record(&mut Members(line));
    // The innermost span names the object; the fields of every span in scope follow,
    // outermost first. The usual case, one span without parents (a request), is read
    // directly rather than through a collected scope.
    if let Some(leaf) = ctx.event_span(event) {
        line.push_str(",\"span\":{\"name\":");
        push_str(line, leaf.name());
        if leaf.parent().is_none() {
            push_fields(line, &leaf);
        } else {
            for span in leaf.scope().from_root() {
                push_fields(line, &span);
            }
        }
        line.push('}');
    }
    line.push_str("}\n");
}

/// Appends the fields of `span`, as [`JsonLayer::on_new_span`] wrote them.
fn push_fields<R: for<'a> LookupSpan<'a>>(line: &mut String, span: &SpanRef<'_, R>) {
    if let Some(SpanFields(fields)) = span.extensions().get::<SpanFields>() {
        line.push_str(fields);
    }
}

thread_local! {
    /// The second this thread last stamped, and its RFC 3339 text up to the fraction
    /// (`2026-12-03T12:56:20.`): lines come many to a second, and the date and time
    /// need formatting once per second, not once per line.
    static SECOND: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((0, String::new())) };
}

/// Appends `now` as RFC 3339 UTC with microseconds (`2026-12-03T12:56:20.263125Z`),
/// the same text as `humantime::format_rfc3339_micros`.
fn push_timestamp(line: &mut String, now: SystemTime) {
    let since = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    SECOND.with_borrow_mut(|(second, prefix)| {
        if *second != secs || prefix.is_empty() {
            let whole = humantime::format_rfc3339_seconds(
                SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
            )
            .to_string();
            prefix.clear();
            prefix.push_str(whole.trim_end_matches('Z'));
            prefix.push('.');
            *second = secs;
        }
        line.push_str(prefix);
    });
    let mut digits = [b'0'; 6];
    let mut micros = since.subsec_micros();
    for d in digits.iter_mut().rev() {
        *d = b'0' + u8::try_from(micros % 10).expect("a digit");
        micros /= 10;
    }
    for d in digits {
        line.push(char::from(d));
    }
    line.push('Z');
}

/// Appends each recorded field as `,"name":value`.
struct Members<'a>(&'a mut String);

impl Members<'_> {
    fn key(&mut self, field: &Field) {
        self.0.push(',');
        push_str(self.0, field.name());
        self.0.push(':');
    }
}

impl Visit for Members<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        push_str(self.0, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        self.0.push_str(itoa::Buffer::new().format(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        self.0.push_str(itoa::Buffer::new().format(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        self.0.push_str(if value { "true" } else { "false" });
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        if value.is_finite() {
            let _ = write!(self.0, "{value}");
        } else {
            push_str(self.0, &value.to_string());
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.key(field);
        push_str(self.0, &crate::problem::chain(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.key(field);
        // Formatted straight into the line, escaped on the way: a message is a
        // `format_args!` and would otherwise become a `String` of its own first.
        self.0.push('"');
        let _ = write!(Escaped(self.0), "{value:?}");
        self.0.push('"');
    }
}

/// The bytes a JSON string cannot hold as they are: `"`, `\` and control characters.
static NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < table.len() {
        table[b] = b < 0x20 || b == b'"' as usize || b == b'\\' as usize;
        b += 1;
    }
    table
};

/// A [`fmt::Write`] that appends the JSON string escape of what it is given (without
/// the quotes).
struct Escaped<'a>(&'a mut String);

impl fmt::Write for Escaped<'_> {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if needs_escape(s) {
            push_escaped(self.0, s);
        } else {
            self.0.push_str(s);
        }
        Ok(())
    }
}

/// Whether `s` holds a byte that must be escaped. Most text has none, and the scan was
/// three quarters of the time spent on a request's strings: a table lookup per byte,
/// folded without an early exit, is about half the instructions of three comparisons
/// and a branch (most strings here are short names, below a vector's width).
#[inline]
fn needs_escape(s: &str) -> bool {
    s.bytes()
        .fold(false, |dirty, b| dirty | NEEDS_ESCAPE[usize::from(b)])
}

/// Appends the JSON escape of `s`, which [`needs_escape`]. Kept out of line: the common
/// path is then a scan and one copy, in a function small enough to inline.
#[cold]
#[inline(never)]
fn push_escaped(out: &mut String, s: &str) {
    let mut clean = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..0x20 => "",
            _ => continue,
        };
        out.push_str(&s[clean..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        clean = i + 1;
    }
    out.push_str(&s[clean..]);
}

/// Appends `s` as a JSON string.
#[inline]
fn push_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let _ = Escaped(out).write_str(s);
    out.push('"');
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::{fmt::MakeWriter, layer::SubscriberExt};

    use super::*;

    /// A log output that keeps what it is given (shared by the telemetry tests).
    #[derive(Clone, Default)]
    pub(in crate::telemetry) struct Capture(pub(in crate::telemetry) Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    /// What the JSON format writes for the events `f` emits.
    fn json_lines(f: impl FnOnce()) -> String {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::registry().with(JsonLayer::new(capture.clone()));
        tracing::subscriber::with_default(subscriber, f);
        String::from_utf8(capture.0.lock().unwrap().clone()).unwrap()
    }

    /// A value whose `Debug` logs a line of its own, as a careless library might.
    struct Chatty;

    impl fmt::Debug for Chatty {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            tracing::warn!(inner = "from Debug", "nested line");
            f.write_str("chatty value")
        }
    }

    #[test]
    fn a_line_whose_fields_log_while_it_is_built_stays_whole() {
        let text = json_lines(|| {
            let span = tracing::info_span!("request", request_id = "r-2", who = ?Chatty);
            let _guard = span.enter();
            tracing::info!(value = ?Chatty, after = "still here", "outer line");
        });
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        let outer: Vec<_> = lines
            .iter()
            .filter(|l| l["message"] == "outer line")
            .collect();
        assert_eq!(outer.len(), 1, "{text}");
        assert_eq!(outer[0]["value"], "chatty value");
        assert_eq!(outer[0]["after"], "still here");
        assert_eq!(outer[0]["span"]["who"], "chatty value");
        assert_eq!(outer[0]["span"]["request_id"], "r-2");
        // Under a scoped subscriber, as here, tracing drops an event raised while the
        // subscriber is busy with another on the same thread. (Under the global one it
        // is dispatched again: `with_scratch` gives the nested line a buffer of its own,
        // tested below.)
        assert_eq!(lines.len(), 1, "{text}");
    }

    #[test]
    fn a_line_built_while_another_is_being_built_gets_a_buffer_of_its_own() {
        let (outer, inner) = with_scratch(|outer| {
            outer.push_str("outer");
            let inner = with_scratch(|inner| {
                assert!(inner.is_empty(), "{inner}");
                inner.push_str("inner");
                inner.clone()
            });
            outer.push_str(", still whole");
            (outer.clone(), inner)
        });
        assert_eq!(outer, "outer, still whole");
        assert_eq!(inner, "inner");
        // The thread's buffer is handed out again, emptied.
        with_scratch(|buf| assert!(buf.is_empty(), "{buf}"));
    }

    #[test]
    fn lines_are_json_with_event_and_span_fields() {
        let text = json_lines(|| {
            let span = tracing::info_span!("request", route = "/get/{id}", request_id = "r-1");
            let _guard = span.enter();
            tracing::info!(
                status = 200u16,
                latency_us = 12u64,
                ok = true,
                ratio = 0.5,
                weird = "quote \" backslash \\ newline \n tab \t é",
                "hello {}",
                "world"
            );
        });
        let line: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "hello world");
        assert_eq!(line["status"], 200);
        assert_eq!(line["ok"], true);
        assert_eq!(line["ratio"], 0.5);
        assert_eq!(line["weird"], "quote \" backslash \\ newline \n tab \t é");
        assert_eq!(line["span"]["name"], "request");
        assert_eq!(line["span"]["route"], "/get/{id}");
        assert_eq!(line["span"]["request_id"], "r-1");
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(text.matches('\n').count(), 1);
    }

    /// Nested spans: the innermost names the object, every span's fields are there,
    /// outermost first. An explicit parent or an explicit root is honoured.
    #[test]
    fn nested_spans_and_explicit_parents() {
        let text = json_lines(|| {
            let outer = tracing::info_span!("request", request_id = "r-2");
            let _outer = outer.enter();
            let inner = tracing::info_span!("store", backend = "redis");
            let _inner = inner.enter();
            tracing::info!("nested");
            tracing::info!(parent: &outer, "explicit parent");
            tracing::info!(parent: None, "explicit root");
        });
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0]["span"]["name"], "store");
        assert_eq!(lines[0]["span"]["request_id"], "r-2");
        assert_eq!(lines[0]["span"]["backend"], "redis");
        let nested = text.lines().next().unwrap();
        assert!(
            nested.find("request_id") < nested.find("backend"),
            "outermost first: {nested}"
        );
        assert_eq!(lines[1]["span"]["name"], "request");
        assert_eq!(lines[1]["span"]["request_id"], "r-2");
        assert!(lines[1]["span"].get("backend").is_none(), "{text}");
        assert!(lines[2].get("span").is_none(), "{text}");
    }

    proptest::proptest! {
        /// Whatever a field holds, the line stays valid JSON and gives it back intact,
        /// through both paths: `&str` values and `Debug`-formatted ones.
        #[test]
        fn any_text_round_trips_through_the_escaper(text in "\\PC*|[\\x00-\\x1f\"\\\\]{0,8}") {
            let mut direct = String::new();
            push_str(&mut direct, &text);
            let parsed: String = serde_json::from_str(&direct).unwrap();
            proptest::prop_assert_eq!(&parsed, &text);

            let mut line = String::from("{\"k\":0");
            Members(&mut line).record_debug(
                &tracing::field::FieldSet::new(&["v"], tracing::callsite::Identifier(&CALLSITE))
                    .field("v")
                    .unwrap(),
                &format_args!("<{text}>"),
            );
            line.push('}');
            let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
            proptest::prop_assert_eq!(parsed["v"].as_str().unwrap(), format!("<{text}>"));
        }
    }

    proptest::proptest! {
        /// The cached-second timestamp is the text humantime would write, across
        /// second boundaries and in any order.
        #[test]
        fn timestamps_match_humantime(stamps in proptest::collection::vec((0u64..4_102_444_800, 0u32..1_000_000_000), 1..20)) {
            for (secs, nanos) in stamps {
                for at in [secs, secs + 1, secs] {
                    let t = SystemTime::UNIX_EPOCH + Duration::new(at, nanos);
                    let mut line = String::new();
                    push_timestamp(&mut line, t);
                    proptest::prop_assert_eq!(line, humantime::format_rfc3339_micros(t).to_string());
                }
            }
        }
    }

    /// A call site for building a [`Field`] by hand in the property test.
    struct Callsite;
    static CALLSITE: Callsite = Callsite;
    impl tracing::callsite::Callsite for Callsite {
        fn set_interest(&self, _: tracing::subscriber::Interest) {}
        fn metadata(&self) -> &tracing::Metadata<'_> {
            unimplemented!("never registered")
        }
    }

    #[test]
    fn events_outside_spans_have_no_span_member() {
        let text = json_lines(|| {
            let err = std::io::Error::other("disk full");
            tracing::warn!(error = &err as &dyn std::error::Error, "oops");
        });
        let line: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["error"], "disk full");
        assert!(line.get("span").is_none());
    }
}
