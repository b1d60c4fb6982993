//! What cpra asks of the C allocator (glibc's malloc), measured on a million monitors.
//!
//! - **Fewer arenas.** glibc gives threads their own malloc arenas (up to 8 per core). The
//!   loader's threads allocate monitors that the calling thread frees, and the probe workers,
//!   lanes and servers each get an arena too; memory freed in one arena is not reused by
//!   another, so the resident set grows by the sum of their high-water marks. Two arenas keep
//!   a million monitors at 84–86 MB resident after the load (108–113 MB with the default) and
//!   about 200 MB running with the API and snapshots (240 MB and rising with the default), for
//!   the same load time (`docs/performance.md`). `MALLOC_ARENA_MAX` in the environment still
//!   wins.
//! - **Trimming after a load.** What a load (or a reload) freed goes back to the system.

/// Malloc arenas cpra asks glibc for (see the module doc).
pub const MALLOC_ARENAS: i32 = 2;

/// Limits glibc's malloc arenas to [`MALLOC_ARENAS`] unless `MALLOC_ARENA_MAX` is set. Call
/// first thing, before any thread starts.
#[allow(unsafe_code)]
pub fn limit_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a glibc tunable (here the arena limit, an integer); it takes
    // no pointer and touches no live allocation. Called before threads start, as glibc
    // recommends. Tested by `allocation_works_after_both` below.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS);
    }
}

/// Gives the heap memory a load freed back to the system. Call once the catalog is built.
#[allow(unsafe_code)]
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own heap structures under their locks and gives
    // free pages back; it takes no pointer and invalidates no live allocation. Tested by
    // `allocation_works_after_both` below.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn allocation_works_after_both() {
        super::limit_arenas();
        let live: Vec<String> = (0..10_000).map(|i| format!("live {i}")).collect();
        let freed: Vec<Vec<u8>> = (0..1000).map(|_| vec![7u8; 4096]).collect();
        drop(freed);
        super::release_freed();
        assert!(
            live.iter()
                .enumerate()
                .all(|(i, s)| *s == format!("live {i}"))
        );
        let threads: Vec<_> = (0..8)
            .map(|t| {
                std::thread::spawn(move || {
                    (0..1000)
                        .map(|i| vec![t as u8; i])
                        .filter(|v| v.iter().all(|b| *b == t as u8))
                        .count()
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), 1000);
        }
    }
}
