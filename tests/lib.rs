//! Integration tests live in `tcp.rs`; this library is empty.
