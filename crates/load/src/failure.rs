//! The kinds errors are counted under, in results and on the terminal.

use std::io::ErrorKind;

use wsbench_codec::handshake::HandshakeError;
use wsbench_transport::Error;

/// The kind an error is counted under.
pub(crate) fn error_kind(e: &Error) -> String {
    match e {
        Error::Io(io) => match io.kind() {
            ErrorKind::ConnectionRefused => "refused".into(),
            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted => {
                "reset".into()
            }
            ErrorKind::TimedOut => "timeout".into(),
            ErrorKind::AddrNotAvailable | ErrorKind::AddrInUse => "no-source-port".into(),
            _ if io.raw_os_error() == Some(24) => "out-of-files".into(),
            _ => "io".into(),
        },
        Error::Timeout(_) => "timeout".into(),
        Error::HttpStatus(s) => format!("http-{s}"),
        Error::Handshake(HandshakeError::Status { code, .. }) => format!("http-{code}"),
        Error::Handshake(_) | Error::HandshakeEof => "handshake".into(),
        Error::Tls(_) => "tls".into(),
        Error::Http(_) => "http".into(),
        other => format!("close-{}", other.close_code().as_u16()),
    }
}
