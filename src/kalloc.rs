//! A per-thread arena for the matrix-multiply kernels' scratch memory.
//!
//! Both kernels shardprop can use (`gemm`, `matrixmultiply`) allocate their packing buffers on
//! every call and free them before returning. [`KernelArena`] is a global allocator that wraps
//! another one: while a thread is inside [`crate::linalg::matmul`], its allocations are carved
//! from a per-thread arena reserved once (on the thread's first product) and handed back when the
//! product returns; every other allocation goes to the wrapped allocator untouched. A
//! steady-state training step therefore makes no call to the system allocator at all
//! (`tests/alloc.rs` counts them). Install it in a binary with
//! `#[global_allocator] static A: KernelArena<std::alloc::System> = KernelArena::new(std::alloc::System);`
//! (the `shardprop` binary does). Without it the library works the same, with the kernels'
//! allocations going to the heap.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;

/// Bytes reserved per thread; a request that does not fit falls back to the wrapped allocator.
pub const ARENA_BYTES: usize = 32 << 20;
const ARENA_ALIGN: usize = 4096;

thread_local! {
    static BASE: Cell<*mut u8> = const { Cell::new(std::ptr::null_mut()) };
    static USED: Cell<usize> = const { Cell::new(0) };
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static SERVED: Cell<u64> = const { Cell::new(0) };
}

/// How many allocations this thread's arena has served (for tests and curiosity).
pub fn served() -> u64 {
    SERVED.with(Cell::get)
}

/// A global allocator that serves the kernels' scratch memory from a per-thread arena.
pub struct KernelArena<A> {
    inner: A,
}

impl<A> KernelArena<A> {
    /// Wraps `inner`.
    pub const fn new(inner: A) -> Self {
        Self { inner }
    }
}

/// Called by `linalg::matmul` when a product returns: the arena is empty again once every
/// allocation made during the product has been freed (the kernels free all of theirs).
pub(crate) fn product_done() {
    if LIVE.with(Cell::get) == 0 {
        USED.with(|u| u.set(0));
    }
}

fn in_arena(ptr: *mut u8) -> bool {
    let base = BASE.with(Cell::get);
    !base.is_null() && ptr >= base && (ptr as usize) < base as usize + ARENA_BYTES
}

// SAFETY: every pointer returned is either from `inner` (and freed there) or a distinct,
// suitably aligned range of this thread's arena that is not handed out again until all arena
// allocations of this thread are freed; arena memory is never returned to `inner`.
unsafe impl<A: GlobalAlloc> GlobalAlloc for KernelArena<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if crate::linalg::in_kernel() && layout.align() <= ARENA_ALIGN {
            let mut base = BASE.with(Cell::get);
            if base.is_null() {
                // SAFETY: a valid, non-zero layout.
                base = unsafe { self.inner.alloc(Layout::from_size_align_unchecked(ARENA_BYTES, ARENA_ALIGN)) };
                BASE.with(|b| b.set(base));
            }
            if !base.is_null() {
                let used = USED.with(Cell::get);
                let start = used.next_multiple_of(layout.align());
                if start + layout.size() <= ARENA_BYTES {
                    USED.with(|u| u.set(start + layout.size()));
                    LIVE.with(|l| l.set(l.get() + 1));
                    SERVED.with(|n| n.set(n.get() + 1));
                    // SAFETY: start + size is within the arena.
                    return unsafe { base.add(start) };
                }
            }
        }
        // SAFETY: forwarded as is.
        unsafe { self.inner.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if in_arena(ptr) {
            LIVE.with(|l| l.set(l.get().saturating_sub(1)));
            return;
        }
        // SAFETY: `ptr` came from `inner` with this layout.
        unsafe { self.inner.dealloc(ptr, layout) }
    }
}
