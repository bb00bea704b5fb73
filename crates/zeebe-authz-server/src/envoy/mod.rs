//! The Envoy boundary: the only module that knows Envoy's ext_authz types and tonic. It reads
//! a `CheckRequest` into the pure `crate::request::RequestView`, asks the
//! [`crate::authorizer::Authorizer`] for a decision and turns it into a `CheckResponse`.

pub mod request;
pub mod response;
pub mod service;
mod wire;

pub use service::check;
