//! Telling the kernel which rows of a memory-mapped file will be read soon, so their pages are
//! read from disk together (many requests in flight) while the current step computes, instead of
//! one page fault at a time when the step touches them.
//!
//! A hint changes no byte that is read: training gives the same bits with or without it.

use std::sync::OnceLock;

/// The system's page size (4096 if it cannot be asked).
fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *PAGE.get_or_init(|| usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096).max(1))
}

/// `madvise(MADV_WILLNEED)` on the pages that hold rows `rows` of `region`, a part of a
/// read-only memory mapping that holds rows of `row_bytes` bytes back to back from its first
/// byte (rows past its end are ignored). Adjacent rows share one call. Asks the kernel to start
/// reading those pages in the background; returns without waiting for them. Errors are ignored:
/// a hint that fails only means the pages are read when touched.
pub fn will_need(region: &[u8], row_bytes: usize, rows: &[usize]) {
    if row_bytes == 0 {
        return;
    }
    let page = page_size();
    let base = region.as_ptr() as usize;
    let mut pending: Option<(usize, usize)> = None; // [start, end) addresses, page-aligned
    for &i in rows {
        let Some(end) = i.checked_add(1).and_then(|r| r.checked_mul(row_bytes)).filter(|&e| e <= region.len()) else {
            continue;
        };
        let (lo, hi) = ((base + i * row_bytes) / page * page, (base + end).div_ceil(page) * page);
        pending = match pending {
            Some((a, b)) if lo <= b && hi >= a => Some((a.min(lo), b.max(hi))),
            Some(range) => {
                advise(range);
                Some((lo, hi))
            }
            None => Some((lo, hi)),
        };
    }
    if let Some(range) = pending {
        advise(range);
    }
}

/// One `madvise(MADV_WILLNEED)` over page-aligned addresses `[start, end)`.
fn advise((start, end): (usize, usize)) {
    // SAFETY: MADV_WILLNEED only schedules reads of pages of an existing mapping; it changes
    // no memory contents or protections. The range starts at or before a byte of the caller's
    // mapped region, rounded down to its page (so inside the same mapping, which starts on a
    // page), and ends at the page end of a byte inside it (a mapping covers whole pages).
    unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_WILLNEED);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_out_of_range_and_empty_lists_are_ignored() {
        let bytes = vec![7u8; 10_000];
        will_need(&bytes, 100, &[]);
        will_need(&bytes, 100, &[0, 99, 100, usize::MAX, 5, 6, 7]);
        will_need(&bytes, 0, &[1]);
        assert!(bytes.iter().all(|&b| b == 7));
    }
}
