//! Output that never panics: `println!` panics when stdout is a closed
//! pipe (`wsbench compare A B | true`, `wsbench run … | head`). Here a
//! write that fails ends that stream's output quietly and the command
//! goes on to its own exit code (results are files, written regardless).

use std::fmt;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether stdout / stderr failed once: nothing more is written to it.
static STDOUT_GONE: AtomicBool = AtomicBool::new(false);
static STDERR_GONE: AtomicBool = AtomicBool::new(false);

/// Whether stdout carries something else (`--stream -`): what would go
/// there goes to stderr.
static STDOUT_TAKEN: AtomicBool = AtomicBool::new(false);

/// From now on, what would go to stdout goes to stderr.
pub fn stdout_is_taken() {
    STDOUT_TAKEN.store(true, Ordering::Relaxed);
}

/// Writes `args` (and a newline when `line`) to stdout, or to stderr.
pub fn write(stderr: bool, line: bool, args: fmt::Arguments<'_>) {
    let stderr = stderr || STDOUT_TAKEN.load(Ordering::Relaxed);
    let gone = if stderr { &STDERR_GONE } else { &STDOUT_GONE };
    if gone.load(Ordering::Relaxed) {
        return;
    }
    let done = if stderr {
        let mut e = std::io::stderr().lock();
        e.write_fmt(args)
            .and_then(|()| if line { e.write_all(b"\n") } else { Ok(()) })
    } else {
        let mut o = std::io::stdout().lock();
        o.write_fmt(args)
            .and_then(|()| if line { o.write_all(b"\n") } else { Ok(()) })
            .and_then(|()| o.flush())
    };
    if done.is_err() {
        gone.store(true, Ordering::Relaxed);
    }
}

/// `println!` that never panics.
macro_rules! outln {
    ($($t:tt)*) => { $crate::out::write(false, true, format_args!($($t)*)) };
}

/// `print!` that never panics.
macro_rules! out {
    ($($t:tt)*) => { $crate::out::write(false, false, format_args!($($t)*)) };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    ($($t:tt)*) => { $crate::out::write(true, true, format_args!($($t)*)) };
}
