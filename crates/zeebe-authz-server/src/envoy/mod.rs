//! The Envoy boundary: the only module that knows Envoy's ext_authz types. It reads a
//! `CheckRequest` into the core's `RequestView` ([`read`]), asks the
//! [`crate::authorizer::Authorizer`] for a verdict ([`service`]) and writes the one
//! `CheckResponse` from it (`wire`).

pub mod read;
pub mod service;
mod wire;

pub use service::{check, response_bytes};
