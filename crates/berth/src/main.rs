//! The `berth` binary: see the library crate for everything it does.

/// jemalloc instead of the C library's allocator: see `docs/benchmarks.md`.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    berth::main()
}
