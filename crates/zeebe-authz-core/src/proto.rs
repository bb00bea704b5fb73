//! Prost types for the gateway protocol in `proto/gateway.proto`.
//!
//! The authorizer itself never decodes whole messages (see `body`); these types serve the
//! decoder's round-trip tests, the bench tool's body-aware requests and the test stubs.
#![allow(missing_docs, clippy::all, clippy::pedantic)]

include!(concat!(env!("OUT_DIR"), "/gateway_protocol.rs"));

/// `proto/gateway.proto` as a serialized `google.protobuf.FileDescriptorSet` (what
/// `protoc --descriptor_set_out` writes), for peers that decode gRPC bodies from a descriptor
/// set (OPA-Envoy's `proto-descriptor`).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/gateway.protoset"));
