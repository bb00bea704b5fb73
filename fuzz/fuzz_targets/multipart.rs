#![no_main]
#[path = "../harness/mod.rs"]
#[allow(dead_code)] // each target runs one function of the shared harness
mod harness;
libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::multipart(data));
