//! The app's end-to-end tests and benchmarks, kept in a crate of their own so that building the
//! app never compiles their native dependencies (chromedriver client, test servers, the in-tab
//! model runtime). The files are at the repository root: `tests/` (one `[[test]]` each, with
//! `tests/support/`) and `bench/` (`[[bench]]`); see this crate's Cargo.toml.
