//! The `berth` binary: see the library crate for everything it does.

/// jemalloc instead of the C library's allocator (feature `jemalloc`, on by default):
/// `docs/benchmarks.md`, the rows "A/B allocator" of the sections kit and kv.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    berth::main()
}
