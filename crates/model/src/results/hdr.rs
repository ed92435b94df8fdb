//! Histogram files: single HdrHistograms (`.hdr`, the V2 compressed
//! encoding other HdrHistogram tools read) and interval logs (`.hlog`),
//! values in nanoseconds.

use std::fs;
use std::io;
use std::path::Path;

use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

/// Highest latency the histograms track: one hour, in nanoseconds.
pub const MAX_LATENCY_NS: u64 = 3_600_000_000_000;

/// A latency histogram in nanoseconds, 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid bounds")
}

/// Writes `h` to `path` in the V2 compressed encoding.
pub fn write_histogram(h: &Histogram<u64>, path: &Path) -> io::Result<()> {
    let mut out = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut out)
        .map_err(|e| io::Error::other(format!("encoding a histogram: {e:?}")))?;
    fs::write(path, out)
}

/// Reads a histogram written by [`write_histogram`] (or any V2 / V2
/// compressed HdrHistogram encoder).
pub fn read_histogram(path: &Path) -> io::Result<Histogram<u64>> {
    let bytes = fs::read(path)?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| invalid(path, format!("{e:?}")))
}

/// One interval of an HdrHistogram interval log.
#[derive(Clone, Debug, PartialEq)]
pub struct Interval {
    /// Seconds from the log's base time to the interval's start.
    pub start_s: f64,
    /// The interval's length, seconds.
    pub duration_s: f64,
    /// What was recorded in it, nanoseconds.
    pub histogram: Histogram<u64>,
}

pub(crate) fn invalid(path: &Path, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {what}", path.display()),
    )
}

/// Writes an HdrHistogram interval log (`.hlog`, the format of
/// HdrHistogram's `HistogramLogWriter`, read by its log processing tools):
/// `base` is the wall-clock time interval starts count from, `tag` names
/// every interval, values are nanoseconds (maxima shown in milliseconds).
pub fn write_interval_log(
    path: &Path,
    base: std::time::SystemTime,
    tag: &str,
    intervals: &[Interval],
) -> io::Result<()> {
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let mut writer = IntervalLogWriterBuilder::new()
        .add_comment("wsbench interval log: values in nanoseconds")
        .with_start_time(base)
        .with_base_time(base)
        .with_max_value_divisor(1e6)
        .begin_log_with(&mut out, &mut serializer)?;
    writer.write_comment(
        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"",
    )?;
    let tag = Tag::new(tag);
    for i in intervals {
        writer
            .write_histogram(
                &i.histogram,
                std::time::Duration::from_secs_f64(i.start_s.max(0.0)),
                std::time::Duration::from_secs_f64(i.duration_s.max(0.0)),
                tag,
            )
            .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?;
    }
    fs::write(path, out)
}

/// Reads the intervals of an interval log written by
/// [`write_interval_log`] (or by another HdrHistogram log writer).
pub fn read_interval_log(path: &Path) -> io::Result<Vec<Interval>> {
    let bytes = fs::read(path)?;
    let mut out = Vec::new();
    for entry in IntervalLogIterator::new(&bytes) {
        let entry = entry.map_err(|e| invalid(path, format!("{e:?}")))?;
        if let LogEntry::Interval(i) = entry {
            let raw = base64_decode(i.encoded_histogram())
                .ok_or_else(|| invalid(path, "an interval is not base64"))?;
            let histogram: Histogram<u64> = Deserializer::new()
                .deserialize(&mut raw.as_slice())
                .map_err(|e| invalid(path, format!("{e:?}")))?;
            out.push(Interval {
                start_s: i.start_timestamp().as_secs_f64(),
                duration_s: i.duration().as_secs_f64(),
                histogram,
            });
        }
    }
    Ok(out)
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// The BaseTime of an interval log, if it has one.
pub(crate) fn interval_log_base(path: &Path) -> Option<std::time::SystemTime> {
    let bytes = fs::read(path).ok()?;
    IntervalLogIterator::new(&bytes).find_map(|e| match e {
        Ok(LogEntry::BaseTime(t)) => Some(std::time::UNIX_EPOCH + t),
        _ => None,
    })
}
