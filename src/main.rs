//! The `opsmate` binary. Everything lives in the library; see `cli.rs`.

fn main() {
    std::process::exit(opsmate::cli::main());
}
