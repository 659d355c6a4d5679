//! The `berth` binary: see the library crate for everything it does.

fn main() -> std::process::ExitCode {
    berth::main()
}
