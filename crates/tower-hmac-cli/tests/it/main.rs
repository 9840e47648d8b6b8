//! The `tower-hmac` command's tests, in one binary: [`e2e`], the command against the demo server
//! over real TCP (its `sign --curl` output run by real curl, `request`, `explain`, `presign`),
//! [`explain_schemes`], `explain` for every other scheme against the demo's answers,
//! [`import`], `keygen --import` and `keygen`'s forms of a key, and,
//! with the `postgres` feature, [`keys`], `tower-hmac keys` against the machine's PostgreSQL.

mod e2e;
mod explain_schemes;
mod import;
#[cfg(feature = "postgres")]
mod keys;
