//! Message assembly: the decoder a connection uses.
//!
//! [`Decoder`] turns bytes into [`Message`]s. Two paths give the same
//! results:
//! - **in place**: when the input holds a whole unfragmented frame (or a
//!   whole control frame between messages), its payload is unmasked where it
//!   lies and handed out without a copy;
//! - **streaming**: otherwise frames are taken apart as bytes arrive. Data
//!   payloads are moved into the decoder's message buffer with the unmask
//!   fused into the copy, control payloads into a control buffer (125
//!   bytes, allocated the first time a control frame streams and kept), so
//!   control frames can interleave with a fragmented message. Text is
//!   validated as each piece arrives, so bad UTF-8 fails the connection on
//!   the piece that contains it, not at the end of the message.
//!
//! The message buffer is reused from message to message (no allocation per
//! frame in steady state) and released when a message grew it beyond
//! [`DecoderConfig::retain_capacity`].

use crate::close::{CloseCode, CloseFrame, parse_close_body};
use crate::decode::{FrameDecoder, FrameEvent, PayloadChunk};
use crate::error::ProtocolError;
use crate::frame::{FrameHeader, FrameRules, MAX_CONTROL_PAYLOAD, OpCode, RSV1, Role};
use crate::mask;
use crate::utf8::Utf8Validator;

/// Limits and negotiated options of a [`Decoder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecoderConfig {
    /// Our role; the peer's frames must be masked iff we are the server.
    pub role: Role,
    /// Largest frame payload accepted (larger fails with 1009).
    pub max_frame_size: u64,
    /// Largest message accepted, summed over its fragments (larger fails with 1009).
    pub max_message_size: u64,
    /// RSV bits defined by negotiated extensions ([`RSV1`] for permessage-deflate).
    pub allowed_rsv: u8,
    /// Message-buffer capacity kept between messages; a buffer grown beyond
    /// it is released after its message is handed out.
    pub retain_capacity: usize,
}

impl DecoderConfig {
    /// Defaults: 16 MiB frames, 64 MiB messages, no extensions, 4 KiB retained.
    pub const fn new(role: Role) -> DecoderConfig {
        DecoderConfig {
            role,
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            allowed_rsv: 0,
            retain_capacity: 4 << 10,
        }
    }

    fn frame_rules(&self) -> FrameRules {
        FrameRules {
            role: self.role,
            allowed_rsv: self.allowed_rsv,
            max_frame_size: self.max_frame_size,
        }
    }
}

/// A complete message or control frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A text message, validated UTF-8.
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
    /// A data message whose first frame had RSV1 set (permessage-deflate),
    /// still compressed; only produced when [`DecoderConfig::allowed_rsv`]
    /// includes [`RSV1`]. UTF-8 is checked after decompression, by the caller.
    Compressed {
        /// Whether the message is text (opcode 0x1) rather than binary.
        text: bool,
        /// The compressed payload.
        payload: &'a [u8],
    },
    /// A ping; answer with a pong carrying the same payload.
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// The peer's close frame: `None` when it carried no status code.
    Close(Option<CloseFrame<'a>>),
}

impl Message<'_> {
    /// An owned copy, to keep after the decoder moves on.
    pub fn to_owned_message(&self) -> OwnedMessage {
        match *self {
            Message::Text(t) => OwnedMessage::Text(t.to_owned()),
            Message::Binary(b) => OwnedMessage::Binary(b.to_vec()),
            Message::Compressed { text, payload } => OwnedMessage::Compressed {
                text,
                payload: payload.to_vec(),
            },
            Message::Ping(p) => OwnedMessage::Ping(p.to_vec()),
            Message::Pong(p) => OwnedMessage::Pong(p.to_vec()),
            Message::Close(c) => OwnedMessage::Close(c.map(|c| (c.code, c.reason.to_owned()))),
        }
    }
}

/// An owned [`Message`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnedMessage {
    /// See [`Message::Text`].
    Text(String),
    /// See [`Message::Binary`].
    Binary(Vec<u8>),
    /// See [`Message::Compressed`].
    Compressed {
        /// Whether the message is text.
        text: bool,
        /// The compressed payload.
        payload: Vec<u8>,
    },
    /// See [`Message::Ping`].
    Ping(Vec<u8>),
    /// See [`Message::Pong`].
    Pong(Vec<u8>),
    /// See [`Message::Close`]: code and reason, when a code was sent.
    Close(Option<(CloseCode, String)>),
}

/// What the next call has to do first.
#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Open,
    /// The last call handed out the message buffer: reset it first.
    Delivered,
    /// The peer sent a close frame; nothing may follow.
    Closed,
    /// A protocol error ended the stream.
    Failed(ProtocolError),
}

/// A data message being assembled in the message buffer.
#[derive(Clone, Copy, Debug)]
struct Partial {
    text: bool,
    compressed: bool,
}

/// Where the current frame's payload goes in the streaming path.
#[derive(Clone, Copy, Debug)]
enum Target {
    Data { fin: bool },
    Control(OpCode),
}

/// Decodes messages from a byte stream. See the module docs.
#[derive(Debug)]
pub struct Decoder {
    config: DecoderConfig,
    frames: FrameDecoder,
    state: State,
    message: Option<Partial>,
    target: Option<Target>,
    /// Message buffer: bytes `..filled` are the message so far; bytes beyond
    /// are initialised spare room, so filling never zeroes memory twice.
    buf: Vec<u8>,
    filled: usize,
    utf8: Utf8Validator,
    /// The streaming control frame's payload so far. Allocated on first
    /// use, so a decoder that never sees a control frame split across
    /// reads carries 24 bytes for it, not 125.
    control: Vec<u8>,
}

impl Decoder {
    /// A decoder at the start of a stream.
    pub fn new(config: DecoderConfig) -> Decoder {
        Decoder {
            config,
            frames: FrameDecoder::new(config.frame_rules()),
            state: State::Open,
            message: None,
            target: None,
            buf: Vec::new(),
            filled: 0,
            utf8: Utf8Validator::new(),
            control: Vec::new(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// Changes limits or negotiated extensions between messages.
    pub fn set_config(&mut self, config: DecoderConfig) {
        self.config = config;
        self.frames.set_rules(config.frame_rules());
    }

    /// Bytes of heap memory the decoder holds (its message and control
    /// buffers).
    pub fn heap_bytes(&self) -> usize {
        self.buf.capacity() + self.control.capacity()
    }

    /// Whether the peer's close frame has been decoded.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Decodes from `input`: returns how many bytes were consumed and the
    /// next message, if the input completed one.
    ///
    /// When no message is returned, all of `input` was consumed and the
    /// caller can discard it. When one is returned, the caller handles it and
    /// calls again with `input[consumed..]`. After an error the decoder
    /// returns the same error on every call.
    pub fn decode<'a>(
        &'a mut self,
        input: &'a mut [u8],
    ) -> Result<(usize, Option<Message<'a>>), ProtocolError> {
        match &self.state {
            State::Open => {}
            State::Delivered => {
                self.filled = 0;
                if self.buf.len() > self.config.retain_capacity {
                    self.buf = Vec::new();
                }
                self.state = State::Open;
            }
            State::Closed if input.is_empty() => return Ok((0, None)),
            State::Closed => return Err(self.fail(ProtocolError::DataAfterClose)),
            State::Failed(e) => return Err(e.clone()),
        }
        if self.message.is_none() && self.frames.is_at_frame_boundary() {
            match self.decode_whole_frame(input) {
                Ok(Some((len, header))) => {
                    let (_, payload) = input[..len].split_at_mut(len - header.payload_len as usize);
                    if let Some(key) = header.mask {
                        mask::mask(payload, key, 0);
                    }
                    return match self.single_frame_message(header, payload) {
                        Ok(message) => Ok((len, Some(message))),
                        Err(e) => Err(self.fail(e)),
                    };
                }
                Ok(None) => {}
                Err(e) => return Err(self.fail(e)),
            }
        }
        self.decode_streaming(input)
    }

    /// If `input` starts with a complete frame that forms a message on its
    /// own, its checked header and total length.
    #[inline]
    fn decode_whole_frame(
        &self,
        input: &[u8],
    ) -> Result<Option<(usize, FrameHeader)>, ProtocolError> {
        let Some((header, header_len)) = FrameHeader::parse(input)? else {
            return Ok(None);
        };
        let available = (input.len() - header_len) as u64;
        if !header.fin || header.payload_len > available {
            return Ok(None);
        }
        self.frames.rules().check(&header)?;
        Ok(Some((header_len + header.payload_len as usize, header)))
    }

    /// The message formed by one complete, unmasked, final frame.
    fn single_frame_message<'p>(
        &mut self,
        header: FrameHeader,
        payload: &'p [u8],
    ) -> Result<Message<'p>, ProtocolError> {
        let compressed = header.rsv & RSV1 != 0;
        match header.opcode {
            OpCode::Continuation => Err(ProtocolError::UnexpectedContinuation),
            OpCode::Text | OpCode::Binary => {
                self.check_message_size(0, header.payload_len)?;
                let text = header.opcode == OpCode::Text;
                Ok(match (text, compressed) {
                    (_, true) => Message::Compressed { text, payload },
                    (true, false) => Message::Text(
                        Utf8Validator::validate_complete(payload)
                            .map_err(|_| ProtocolError::InvalidUtf8)?,
                    ),
                    (false, false) => Message::Binary(payload),
                })
            }
            control => control_message(&mut self.state, control, payload),
        }
    }

    fn check_message_size(&self, so_far: usize, frame_len: u64) -> Result<(), ProtocolError> {
        let len = so_far as u64 + frame_len;
        if len > self.config.max_message_size {
            return Err(ProtocolError::MessageTooLarge {
                len,
                max: self.config.max_message_size,
            });
        }
        Ok(())
    }

    fn decode_streaming<'a>(
        &'a mut self,
        input: &mut [u8],
    ) -> Result<(usize, Option<Message<'a>>), ProtocolError> {
        let mut pos = 0;
        loop {
            let step = self.frames.decode(&mut input[pos..]);
            let (n, event) = step.map_err(|e| self.fail(e))?;
            pos += n;
            let done = match event {
                None => return Ok((pos, None)),
                Some(FrameEvent::Header(header)) => {
                    self.start_frame(header).map_err(|e| self.fail(e))?;
                    false
                }
                Some(FrameEvent::Payload(chunk)) => {
                    self.take_payload(chunk).map_err(|e| self.fail(e))?
                }
            };
            if done {
                return self.finish_message().map(|message| (pos, Some(message)));
            }
        }
    }

    /// Message-level checks on a new frame's header; sets where its payload goes.
    fn start_frame(&mut self, h: FrameHeader) -> Result<(), ProtocolError> {
        if h.opcode.is_control() {
            self.control.clear();
            self.control.reserve_exact(MAX_CONTROL_PAYLOAD);
            self.target = Some(Target::Control(h.opcode));
            return Ok(());
        }
        match (h.opcode, self.message) {
            (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
            (OpCode::Continuation, Some(_)) if h.rsv & RSV1 != 0 => {
                // RFC 7692 §6: only the first frame of a message carries RSV1.
                return Err(ProtocolError::ReservedBits { bits: h.rsv });
            }
            (OpCode::Continuation, Some(_)) => {}
            (_, Some(_)) => return Err(ProtocolError::ExpectedContinuation),
            (opcode, None) => {
                self.message = Some(Partial {
                    text: opcode == OpCode::Text,
                    compressed: h.rsv & RSV1 != 0,
                });
                self.utf8.reset();
            }
        }
        self.check_message_size(self.filled, h.payload_len)?;
        self.target = Some(Target::Data { fin: h.fin });
        Ok(())
    }

    /// Moves a payload chunk into the message or control buffer. Returns
    /// whether it completed a message.
    fn take_payload(&mut self, chunk: PayloadChunk<'_>) -> Result<bool, ProtocolError> {
        let n = chunk.len();
        let last = chunk.is_last();
        match self.target.expect("payload follows a header") {
            Target::Control(_) => {
                let at = self.control.len();
                self.control.resize(at + n, 0);
                chunk.unmask_into(&mut self.control[at..]);
                Ok(last)
            }
            Target::Data { fin } => {
                let start = self.filled;
                let end = start + n;
                if self.buf.len() < end {
                    // Double, from 64 bytes, but never past the message limit.
                    let cap = (self.config.max_message_size as usize).max(end);
                    let grown = end.max(self.buf.len() * 2).max(64).min(cap);
                    self.buf.resize(grown, 0);
                }
                chunk.unmask_into(&mut self.buf[start..end]);
                self.filled = end;
                let partial = self.message.expect("data frames belong to a message");
                if partial.text && !partial.compressed {
                    self.utf8
                        .feed(&self.buf[start..end])
                        .map_err(|_| ProtocolError::InvalidUtf8)?;
                }
                Ok(last && fin)
            }
        }
    }

    /// Hands out the message the last payload chunk completed. An error
    /// here ends the stream like any other.
    fn finish_message(&mut self) -> Result<Message<'_>, ProtocolError> {
        let result = match self.target.take().expect("a frame was in progress") {
            Target::Control(opcode) => {
                let payload = &self.control[..];
                control_message(&mut self.state, opcode, payload)
            }
            Target::Data { .. } => {
                let partial = self
                    .message
                    .take()
                    .expect("data frames belong to a message");
                self.state = State::Delivered;
                let payload = &self.buf[..self.filled];
                match (partial.text, partial.compressed) {
                    (text, true) => Ok(Message::Compressed { text, payload }),
                    (true, false) => self
                        .utf8
                        .finish()
                        // Validated piece by piece already; the second pass
                        // turns the bytes into a `&str` without `unsafe`.
                        .and_then(|()| Utf8Validator::validate_complete(payload))
                        .map(Message::Text)
                        .map_err(|_| ProtocolError::InvalidUtf8),
                    (false, false) => Ok(Message::Binary(payload)),
                }
            }
        };
        // Field-level borrow: `result` may borrow the buffers, not the state.
        result.map_err(|e| record_failure(&mut self.state, e))
    }

    /// Records `e` as the end of the stream and returns it.
    fn fail(&mut self, e: ProtocolError) -> ProtocolError {
        record_failure(&mut self.state, e)
    }
}

fn record_failure(state: &mut State, e: ProtocolError) -> ProtocolError {
    *state = State::Failed(e.clone());
    e
}

/// The message a complete control frame forms; a close frame closes `state`.
fn control_message<'p>(
    state: &mut State,
    opcode: OpCode,
    payload: &'p [u8],
) -> Result<Message<'p>, ProtocolError> {
    Ok(match opcode {
        OpCode::Ping => Message::Ping(payload),
        OpCode::Pong => Message::Pong(payload),
        OpCode::Close => {
            let body = parse_close_body(payload)?;
            *state = State::Closed;
            Message::Close(body)
        }
        data => unreachable!("{data:?} is not a control opcode"),
    })
}

#[cfg(test)]
mod tests;
