//! The `palimpsest` binary: everything lives in the library; see `cli`.

fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    palimpsest::cli::main()
}

/// glibc gives each thread that allocates its own malloc arena, up to eight
/// per core, and memory freed in one arena is not reused by another: the
/// runtime's workers, SQLite's threads and the blocking pool each keep
/// their own. Four arenas take about 4 MB off the peak of a first pass over
/// 10,000 pages at the same speed (two save more but contend; see
/// BENCHMARKS.md). `MALLOC_ARENA_MAX` in the environment still decides.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: first thing in `main`, before any other thread exists;
        // mallopt only sets one of malloc's tunables.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 4);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}
