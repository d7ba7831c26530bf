//! The `palimpsest` binary: everything lives in the library; see `cli`.

fn main() -> std::process::ExitCode {
    palimpsest::cli::main()
}
