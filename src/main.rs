//! The `zeebe-authz` binary: everything lives in the library; see `cli`.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    zeebe_authz::cli::main()
}
