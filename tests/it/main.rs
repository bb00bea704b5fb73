//! The integration tests, in one binary: the server on port 0 against a Keycloak-shaped issuer
//! on loopback, called through tonic exactly as Envoy calls it.

mod bench;
mod ca_store;
mod camunda;
mod check;
mod conditions;
mod dev;
mod explain;
mod fuzz_corpus;
mod hardening;
mod istio;
mod keycloak_lint;
mod keys;
mod layout;
mod lint;
mod reload;
mod rest;
mod rest_answers;
mod rest_dialect;
mod traces;
mod util;
