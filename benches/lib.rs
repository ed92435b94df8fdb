//! Shared inputs for the criterion benches in `benches/benches/`.

#![forbid(unsafe_code)]
