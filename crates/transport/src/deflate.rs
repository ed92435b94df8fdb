//! permessage-deflate (RFC 7692): negotiation on both sides, and the
//! per-message compressor and decompressor.
//!
//! Both contexts are created on first use, so a connection that negotiated
//! the extension but sends or receives nothing holds no zlib state.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The extension's name in `Sec-WebSocket-Extensions`.
const NAME: &str = "permessage-deflate";
/// The empty stored block a sync flush ends with; stripped on send,
/// appended on receive (RFC 7692 §7.2.1, §7.2.2).
const TAIL: [u8; 4] = [0, 0, 0xff, 0xff];

/// What to offer (client) or accept (server).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateConfig {
    /// zlib compression level, 0–9.
    pub level: u32,
    /// Client: ask the server to reset its compressor after each message.
    /// Server: reset ours after each message even when not asked.
    pub server_no_context_takeover: bool,
    /// Client: reset our compressor after each message (and say so).
    pub client_no_context_takeover: bool,
}

impl Default for DeflateConfig {
    fn default() -> DeflateConfig {
        DeflateConfig {
            level: 6,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
        }
    }
}

/// The parameters both sides agreed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// LZ77 window of the server's compressor, bits (8–15).
    pub server_max_window_bits: u8,
    /// LZ77 window of the client's compressor, bits (8–15).
    pub client_max_window_bits: u8,
}

/// One offer or response parsed: its parameters as given.
#[derive(Default)]
struct Parsed {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: the parameter without a value (client offers only).
    client_max_window_bits: Option<Option<u8>>,
}

fn window_bits(v: &str) -> Option<u8> {
    let v = v.trim().trim_matches('"');
    match v.parse::<u8>() {
        Ok(b @ 8..=15) if !v.starts_with('0') && !v.starts_with('+') => Some(b),
        _ => None,
    }
}

/// Parses `permessage-deflate; p; p=v` (one list element). `None`: another
/// extension, or an invalid, unknown or repeated parameter.
fn parse(element: &str) -> Option<Parsed> {
    let mut parts = element.split(';').map(str::trim);
    if !parts.next()?.eq_ignore_ascii_case(NAME) {
        return None;
    }
    let mut p = Parsed::default();
    for param in parts.filter(|s| !s.is_empty()) {
        let (name, value) = match param.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v)),
            None => (param, None),
        };
        match (name.to_ascii_lowercase().as_str(), value) {
            ("server_no_context_takeover", None) if !p.server_no_context_takeover => {
                p.server_no_context_takeover = true;
            }
            ("client_no_context_takeover", None) if !p.client_no_context_takeover => {
                p.client_no_context_takeover = true;
            }
            ("server_max_window_bits", Some(v)) if p.server_max_window_bits.is_none() => {
                p.server_max_window_bits = Some(window_bits(v)?);
            }
            ("client_max_window_bits", v) if p.client_max_window_bits.is_none() => {
                p.client_max_window_bits = Some(match v {
                    Some(v) => Some(window_bits(v)?),
                    None => None,
                });
            }
            _ => return None,
        }
    }
    Some(p)
}

/// The client's offer. Unless configured to reset its context anyway, the
/// client offers twice, in order of preference: with context takeover, and
/// then hinting `client_no_context_takeover`, for servers that accept only
/// that (RFC 7692 §5.1 allows a list of offers).
pub(crate) fn offer(config: &DeflateConfig) -> String {
    let mut base = format!("{NAME}; client_max_window_bits");
    if config.server_no_context_takeover {
        base.push_str("; server_no_context_takeover");
    }
    if config.client_no_context_takeover {
        format!("{base}; client_no_context_takeover")
    } else {
        format!("{base}, {base}; client_no_context_takeover")
    }
}

/// Server side: picks the first acceptable offer among the request's
/// extension list elements; returns the agreed parameters and the response
/// header value.
pub(crate) fn accept<'a>(
    elements: impl IntoIterator<Item = &'a str>,
    config: &DeflateConfig,
) -> Option<(DeflateParams, String)> {
    let offer = elements.into_iter().find_map(parse)?;
    let server_no_context_takeover =
        offer.server_no_context_takeover || config.server_no_context_takeover;
    let mut response = NAME.to_owned();
    if server_no_context_takeover {
        response.push_str("; server_no_context_takeover");
    }
    if offer.client_no_context_takeover {
        response.push_str("; client_no_context_takeover");
    }
    if let Some(bits) = offer.server_max_window_bits {
        response.push_str(&format!("; server_max_window_bits={bits}"));
    }
    if let Some(Some(bits)) = offer.client_max_window_bits {
        response.push_str(&format!("; client_max_window_bits={bits}"));
    }
    let params = DeflateParams {
        server_no_context_takeover,
        client_no_context_takeover: offer.client_no_context_takeover,
        server_max_window_bits: offer.server_max_window_bits.unwrap_or(15),
        client_max_window_bits: offer.client_max_window_bits.flatten().unwrap_or(15),
    };
    Some((params, response))
}

/// Client side: checks the server's response against our offer.
pub(crate) fn accepted(
    elements: &[&str],
    config: &DeflateConfig,
) -> Result<Option<DeflateParams>, String> {
    let mut found = None;
    for element in elements {
        let name = element.split(';').next().unwrap_or("").trim();
        if !name.eq_ignore_ascii_case(NAME) {
            return Err(format!(
                "the server accepted an extension never offered: {name}"
            ));
        }
        if found.is_some() {
            return Err("the server accepted permessage-deflate twice".to_owned());
        }
        let p = parse(element)
            .ok_or_else(|| format!("invalid permessage-deflate response {element:?}"))?;
        if let Some(None) = p.client_max_window_bits {
            return Err("client_max_window_bits without a value in a response".to_owned());
        }
        found = Some(DeflateParams {
            server_no_context_takeover: p.server_no_context_takeover,
            client_no_context_takeover: p.client_no_context_takeover
                || config.client_no_context_takeover,
            server_max_window_bits: p.server_max_window_bits.unwrap_or(15),
            client_max_window_bits: p.client_max_window_bits.flatten().unwrap_or(15),
        });
    }
    Ok(found)
}

/// Payloads from this size on are (de)compressed as blocking work.
const HEAVY_BYTES: usize = 16 << 10;

/// Runs the (de)compression of `bytes` bytes. Large ones, which take
/// milliseconds, run as blocking work on a multi-threaded runtime: the
/// worker hands its other tasks to another thread first, so one
/// connection's large (or hostile) messages cannot stall the others.
pub(crate) fn heavy<T>(bytes: usize, work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    // The size first: a small message does not look up the runtime.
    let threaded =
        || Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
    if bytes >= HEAVY_BYTES && threaded() {
        tokio::task::block_in_place(work)
    } else {
        work()
    }
}

/// Why a compressed message could not be decompressed.
#[derive(Debug)]
pub(crate) enum InflateError {
    Corrupt,
    TooLarge,
}

/// Compresses outgoing messages.
#[derive(Debug)]
pub(crate) struct Deflater {
    level: u32,
    window_bits: u8,
    no_context_takeover: bool,
    ctx: Option<Box<Compress>>,
}

impl Deflater {
    pub(crate) fn new(level: u32, window_bits: u8, no_context_takeover: bool) -> Deflater {
        Deflater {
            level,
            // zlib cannot compress with a 256-byte window; with 512 bytes
            // it keeps distances within 250, which a 256-byte window
            // decodes.
            window_bits: window_bits.max(9),
            no_context_takeover,
            ctx: None,
        }
    }

    /// Appends the compressed form of `payload` to `out`.
    pub(crate) fn compress(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        let (level, bits) = (self.level, self.window_bits);
        let ctx = self.ctx.get_or_insert_with(|| {
            Box::new(Compress::new_with_window_bits(
                Compression::new(level),
                false,
                bits,
            ))
        });
        let start = out.len();
        out.reserve(payload.len() / 2 + 64);
        let mut consumed = 0;
        loop {
            let before_in = ctx.total_in();
            ctx.compress_vec(&payload[consumed..], out, FlushCompress::Sync)
                .expect("deflate on valid state cannot fail");
            consumed += (ctx.total_in() - before_in) as usize;
            if consumed == payload.len() && out.len() < out.capacity() {
                break;
            }
            out.reserve(out.capacity().max(64));
        }
        if out[start..].ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
        if self.no_context_takeover {
            ctx.reset();
        }
    }
}

/// Decompresses incoming messages.
#[derive(Debug)]
pub(crate) struct Inflater {
    no_context_takeover: bool,
    ctx: Option<Box<Decompress>>,
}

impl Inflater {
    pub(crate) fn new(no_context_takeover: bool) -> Inflater {
        Inflater {
            no_context_takeover,
            ctx: None,
        }
    }

    /// Decompresses one message's payload, at most `max` bytes of output.
    pub(crate) fn decompress(
        &mut self,
        payload: &[u8],
        max: usize,
    ) -> Result<Vec<u8>, InflateError> {
        // The peer may use any window up to 15 bits; a 15-bit window
        // decodes them all.
        let ctx = self
            .ctx
            .get_or_insert_with(|| Box::new(Decompress::new_with_window_bits(false, 15)));
        let mut out = Vec::with_capacity((payload.len() * 3).clamp(64, max.max(64)));
        for input in [payload, &TAIL[..]] {
            let mut consumed = 0;
            loop {
                let before_in = ctx.total_in();
                let status = ctx
                    .decompress_vec(&input[consumed..], &mut out, FlushDecompress::Sync)
                    .map_err(|_| InflateError::Corrupt)?;
                consumed += (ctx.total_in() - before_in) as usize;
                if out.len() > max {
                    return Err(InflateError::TooLarge);
                }
                if consumed == input.len() && out.len() < out.capacity() {
                    break;
                }
                if status == Status::StreamEnd {
                    // A final block inside a message: the rest is not
                    // deflate data this extension allows.
                    if consumed != input.len() {
                        return Err(InflateError::Corrupt);
                    }
                    break;
                }
                if out.len() == out.capacity() {
                    out.reserve(out.capacity().min(max + 1 - out.len()).max(64));
                }
            }
        }
        if self.no_context_takeover {
            ctx.reset(false);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_both_sides() {
        let config = DeflateConfig::default();
        let offer = offer(&config);
        assert_eq!(
            offer,
            "permessage-deflate; client_max_window_bits, \
             permessage-deflate; client_max_window_bits; client_no_context_takeover"
        );
        let (params, response) = accept(offer.split(", "), &config).unwrap();
        assert_eq!(response, "permessage-deflate");
        assert_eq!(params.client_max_window_bits, 15);
        let client = accepted(&[response.as_str()], &config).unwrap().unwrap();
        assert_eq!(client, params);

        let (p, r) = accept(
            ["x-other", "permessage-deflate; client_max_window_bits=10; server_no_context_takeover; server_max_window_bits=8"],
            &config,
        )
        .unwrap();
        assert_eq!(
            r,
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=8; client_max_window_bits=10"
        );
        assert_eq!(
            (p.server_max_window_bits, p.client_max_window_bits),
            (8, 10)
        );
        assert!(p.server_no_context_takeover);
    }

    #[test]
    fn invalid_offers_are_declined_and_invalid_responses_refused() {
        let c = DeflateConfig::default();
        for bad in [
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; unknown",
            "permessage-deflate; client_no_context_takeover=1",
        ] {
            assert!(accept([bad], &c).is_none(), "{bad}");
        }
        // The first acceptable offer wins.
        let (p, _) = accept(
            [
                "permessage-deflate; bogus",
                "permessage-deflate; client_no_context_takeover",
            ],
            &c,
        )
        .unwrap();
        assert!(p.client_no_context_takeover);
        assert!(accepted(&["permessage-deflate; client_max_window_bits"], &c).is_err());
        assert!(accepted(&["x-webkit-deflate-frame"], &c).is_err());
        assert_eq!(accepted(&[], &c), Ok(None));
    }

    #[test]
    fn round_trips_with_and_without_context_takeover() {
        for (takeover, bits) in [(false, 15), (true, 15), (false, 8), (true, 9)] {
            let mut d = Deflater::new(6, bits, !takeover);
            let mut i = Inflater::new(!takeover);
            for round in 0..4 {
                let msg: Vec<u8> = (0..5000u32).map(|x| (x % 50) as u8 ^ round).collect();
                let mut wire = Vec::new();
                d.compress(&msg, &mut wire);
                assert!(!wire.ends_with(&TAIL));
                assert!(wire.len() < msg.len() / 2, "compresses");
                assert_eq!(i.decompress(&wire, 1 << 20).unwrap(), msg);
            }
        }
    }

    #[test]
    fn limits_and_corruption_are_errors() {
        let mut d = Deflater::new(6, 15, true);
        let mut wire = Vec::new();
        d.compress(&vec![b'a'; 100_000], &mut wire);
        assert!(matches!(
            Inflater::new(true).decompress(&wire, 1000),
            Err(InflateError::TooLarge)
        ));
        assert!(matches!(
            Inflater::new(true).decompress(&[0xff, 0xff, 0xff], 1000),
            Err(InflateError::Corrupt)
        ));
    }
}
