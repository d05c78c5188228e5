//! A per-thread arena for the matrix-multiply kernels' scratch memory.
//!
//! Both kernels shardprop can use (`gemm`, `matrixmultiply`) allocate their packing buffers on
//! every call and free them before returning. [`KernelArena`] is a global allocator that wraps
//! another one: while a thread that has [`reserve`]d an arena is inside
//! [`crate::linalg::matmul`], its allocations are carved from that arena (an anonymous memory
//! mapping, unmapped when the thread exits) and the arena is reclaimed when the product returns;
//! every other allocation goes to the wrapped allocator untouched. The engine reserves an arena on
//! each of its workers when it starts, so a steady-state training step makes no call to the heap
//! allocator at all (`tests/alloc.rs` counts them). Install it in a binary with
//! `#[global_allocator] static A: KernelArena<std::alloc::System> = KernelArena::new(std::alloc::System);`
//! (the `shardprop` binary does). Without it the library works the same, with the kernels'
//! allocations going to the heap.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, Ordering};

use memmap2::MmapMut;

/// Bytes mapped per thread (virtual; only what the kernels touch becomes resident). A request
/// that does not fit falls back to the wrapped allocator.
pub const ARENA_BYTES: usize = 32 << 20;
const PAGE: usize = 4096;

static INSTALLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    static ARENA: RefCell<Option<MmapMut>> = const { RefCell::new(None) };
    static BASE: Cell<usize> = const { Cell::new(0) };
    static USED: Cell<usize> = const { Cell::new(0) };
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static SERVED: Cell<u64> = const { Cell::new(0) };
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

/// Maps this thread's arena, when [`KernelArena`] is the global allocator (a no-op otherwise or
/// when already done). Called outside any allocation, so the thread-local's destructor
/// registration happens here and not inside the allocator.
pub fn reserve() {
    if !INSTALLED.load(Ordering::Relaxed) || BASE.with(Cell::get) != 0 {
        return;
    }
    if let Ok(mut map) = MmapMut::map_anon(ARENA_BYTES) {
        BASE.with(|b| b.set(map.as_mut_ptr() as usize));
        ARENA.with(|a| *a.borrow_mut() = Some(map));
    }
}

/// How many allocations this thread's arena has served.
pub fn served() -> u64 {
    SERVED.with(Cell::get)
}

/// Called by `linalg::matmul` when a product returns: the arena is empty again once every
/// allocation made during the product has been freed (the kernels free all of theirs).
pub(crate) fn product_done() {
    if LIVE.try_with(Cell::get) == Ok(0) {
        let _ = USED.try_with(|u| u.set(0));
    }
}

fn base() -> usize {
    BASE.try_with(Cell::get).unwrap_or(0)
}

// SAFETY: every pointer returned is either from `inner` (and freed there) or a distinct, suitably
// aligned range of this thread's arena that is not handed out again until every arena allocation
// of this thread has been freed; arena memory is never passed to `inner`. The kernels free their
// scratch on the thread that allocated it, before the product returns.
unsafe impl<A: GlobalAlloc> GlobalAlloc for KernelArena<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        INSTALLED.store(true, Ordering::Relaxed);
        let base = base();
        if base != 0 && layout.align() <= PAGE && crate::linalg::in_kernel() {
            let used = USED.with(Cell::get);
            let start = used.next_multiple_of(layout.align());
            if start + layout.size() <= ARENA_BYTES {
                USED.with(|u| u.set(start + layout.size()));
                LIVE.with(|l| l.set(l.get() + 1));
                SERVED.with(|n| n.set(n.get() + 1));
                return (base + start) as *mut u8;
            }
        }
        // SAFETY: forwarded as is.
        unsafe { self.inner.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let base = base();
        if base != 0 && (ptr as usize) >= base && (ptr as usize) < base + ARENA_BYTES {
            LIVE.with(|l| l.set(l.get().saturating_sub(1)));
            return;
        }
        // SAFETY: `ptr` came from `inner` with this layout.
        unsafe { self.inner.dealloc(ptr, layout) }
    }
}
