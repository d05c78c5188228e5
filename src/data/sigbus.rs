//! A memory-mapped file that another program truncates makes the next read of a missing page
//! fault with SIGBUS, which kills the process without a word. Training re-checks the file's
//! length before every step ([`super::Examples::check_source`]); this module covers the race
//! left inside a step: each open map registers its address range and a message naming its file,
//! and the handler that the binary installs ([`install`]) writes that message with the faulting
//! byte's offset and exits with status 2.
//!
//! The handler calls only async-signal-safe functions (`write`, `_exit`, `sigaction`) and reads
//! only atomics; messages are formatted when a file is opened and never freed while registered.

use std::path::Path;
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};

/// Follows the file's name and the faulting byte's offset.
const SUFFIX: &[u8] = b": cannot read the memory-mapped file any more: it was truncated while in use; stopping\n";

/// Maps that can be registered at once; more are simply not named when they fault.
const SLOTS: usize = 32;

struct Slot {
    state: AtomicU8,
    start: AtomicUsize,
    len: AtomicUsize,
    msg: AtomicPtr<u8>,
    msg_len: AtomicUsize,
}

const FREE: u8 = 0;
const TAKEN: u8 = 1;

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot {
    state: AtomicU8::new(FREE),
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    msg: AtomicPtr::new(std::ptr::null_mut()),
    msg_len: AtomicUsize::new(0),
};
static TABLE: [Slot; SLOTS] = [EMPTY; SLOTS];

/// A registered map; dropping it (with the map) unregisters it.
#[derive(Debug)]
pub struct Registration {
    slot: Option<usize>,
}

impl Registration {
    /// Registers the `len` bytes mapped at `start` from the file `path`: a fault there reports
    /// `error: PATH: byte N: cannot read the memory-mapped file any more ...` and exits with 2.
    pub fn new(start: *const u8, len: usize, path: &Path) -> Self {
        let msg = format!("error: {}: byte ", path.display());
        let Some(i) = TABLE
            .iter()
            .position(|s| s.state.compare_exchange(FREE, TAKEN, Ordering::AcqRel, Ordering::Relaxed).is_ok())
        else {
            return Self { slot: None };
        };
        let s = &TABLE[i];
        // Leaked on purpose: a handler running on another thread may be reading an old message
        // while this slot is reused, so a message is never freed (one small string per open).
        let msg: &'static mut str = Box::leak(msg.into_boxed_str());
        s.msg_len.store(msg.len(), Ordering::Release);
        s.msg.store(msg.as_mut_ptr(), Ordering::Release);
        s.len.store(len, Ordering::Release);
        s.start.store(start as usize, Ordering::Release);
        Self { slot: Some(i) }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            TABLE[i].start.store(0, Ordering::Release);
            TABLE[i].state.store(FREE, Ordering::Release);
        }
    }
}

/// The disposition that was in place before [`install`] (Rust's stack-overflow handler, or the
/// default), for faults outside every registered map.
static PREVIOUS: std::sync::OnceLock<libc::sigaction> = std::sync::OnceLock::new();

/// Installs the SIGBUS handler, once per process. For binaries: a library should not take a
/// process-wide signal without being asked.
pub fn install() -> std::io::Result<()> {
    static DONE: std::sync::Once = std::sync::Once::new();
    let mut result = Ok(());
    DONE.call_once(|| {
        // SAFETY: sigaction with a zeroed struct, a handler of the SA_SIGINFO signature and an
        // empty mask; the old disposition is saved before the new one can run.
        unsafe {
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = on_sigbus as *const () as libc::sighandler_t;
            new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut new.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut old) != 0 {
                result = Err(std::io::Error::last_os_error());
                return;
            }
            let _ = PREVIOUS.set(old);
            if libc::sigaction(libc::SIGBUS, &new, std::ptr::null_mut()) != 0 {
                result = Err(std::io::Error::last_os_error());
            }
        }
    });
    result
}

/// Writes `bytes` to stderr (async-signal-safe).
fn write_all(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: write(2) on fd 2 from a valid slice.
        let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

extern "C" fn on_sigbus(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    for s in &TABLE {
        let start = s.start.load(Ordering::Acquire);
        if start == 0 || addr < start || addr - start >= s.len.load(Ordering::Acquire) {
            continue;
        }
        let (ptr, len) = (s.msg.load(Ordering::Acquire), s.msg_len.load(Ordering::Acquire));
        // SAFETY: the message was leaked (never freed) and its length stored before `start`.
        let msg = unsafe { std::slice::from_raw_parts(ptr, len) };
        write_all(msg);
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut n = addr - start;
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        write_all(&digits[at..]);
        write_all(SUFFIX);
        // SAFETY: _exit is async-signal-safe and ends the process at once.
        unsafe { libc::_exit(2) };
    }
    // Not one of our maps: put back what was there before and return; the faulting access runs
    // again and meets that disposition (a stack-overflow report, or the default kill).
    if let Some(old) = PREVIOUS.get() {
        // SAFETY: restoring a disposition obtained from sigaction.
        unsafe { libc::sigaction(libc::SIGBUS, old, std::ptr::null_mut()) };
    } else {
        // SAFETY: as above, with the default disposition.
        unsafe { libc::signal(libc::SIGBUS, libc::SIG_DFL) };
    }
}
