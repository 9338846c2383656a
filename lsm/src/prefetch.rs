//! A cache-line prefetch hint, for searches that know the lines they will read next
//! (memtable skiplist nodes and index slots, a data block's restart entries).

/// Starts loading the cache line at `addr` (any address, null included).
#[inline]
pub(crate) fn prefetch<T>(addr: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults, whatever the address; SSE is part of
    // the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(addr.cast::<i8>())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}
