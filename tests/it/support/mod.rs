//! Shared test helpers.
pub mod gslb;
