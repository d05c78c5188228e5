//! Matrix products for the network, behind one function so the kernel can be chosen.
//!
//! The default kernel is the pure-Rust `gemm` crate with its AVX-512 kernels compiled in
//! (`x86-v4`) and picked at run time, so the binary still runs on CPUs without AVX-512. ndarray's
//! own `matrixmultiply` is kept as the alternative for comparison (`shardprop bench --kernel`);
//! `docs/PERFORMANCE.md` records why `gemm` is the default. Both split work over the output only,
//! never over the summed dimension, so each output's summation order is fixed: the choice of
//! kernel is part of the result, the thread count is not (products run single-threaded inside
//! the engine's workers anyway).

use std::cell::Cell;
use std::sync::atomic::{AtomicU8, Ordering};

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2};

use crate::Float;

/// A matrix-multiply kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// The `gemm` crate (AVX-512 / AVX2 / SSE chosen at run time).
    Gemm,
    /// ndarray's default, `matrixmultiply`.
    MatrixMultiply,
}

impl Kernel {
    /// Parses `gemm` or `matrixmultiply`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "gemm" => Some(Self::Gemm),
            "matrixmultiply" => Some(Self::MatrixMultiply),
            _ => None,
        }
    }
    /// The name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gemm => "gemm",
            Self::MatrixMultiply => "matrixmultiply",
        }
    }
}

static KERNEL: AtomicU8 = AtomicU8::new(0);

thread_local! {
    static IN_KERNEL: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is inside a matrix-multiply kernel call. Both kernels allocate their
/// packing buffers on every call; a counting allocator uses this to tell those allocations from
/// the engine's own (which are zero in steady state).
pub fn in_kernel() -> bool {
    IN_KERNEL.with(Cell::get)
}

/// Chooses the kernel for the whole process (set it before training).
pub fn set_kernel(k: Kernel) {
    KERNEL.store(if k == Kernel::Gemm { 0 } else { 1 }, Ordering::Relaxed);
}

/// The kernel in use.
pub fn kernel() -> Kernel {
    if KERNEL.load(Ordering::Relaxed) == 0 { Kernel::Gemm } else { Kernel::MatrixMultiply }
}

/// Makes this thread's kernel scratch ready (with [`crate::kalloc::KernelArena`] installed, it
/// reserves the thread's arena now rather than on its first product). The engine calls it on
/// every worker when it starts, so no step is the first product of a thread.
pub fn reserve_scratch() {
    crate::kalloc::reserve();
}

/// `c = a · b + beta · c` with `beta` 0 or 1 (`c` is not read when `beta` is 0).
pub fn matmul<T: Float>(a: ArrayView2<T>, b: ArrayView2<T>, accumulate: bool, mut c: ArrayViewMut2<T>) {
    let (m, k) = a.dim();
    let n = b.ncols();
    debug_assert_eq!(b.nrows(), k);
    debug_assert_eq!(c.dim(), (m, n));
    if m == 0 || n == 0 {
        return;
    }
    let _inside = InKernel::enter();
    match kernel() {
        Kernel::MatrixMultiply => {
            let beta = if accumulate { T::one() } else { T::zero() };
            general_mat_mul(T::one(), &a, &b, beta, &mut c);
        }
        Kernel::Gemm => {
            let (cs, rs) = (c.strides()[1], c.strides()[0]);
            let beta = if accumulate { T::one() } else { T::zero() };
            // SAFETY: the pointers and strides come from live ndarray views of the stated shapes;
            // `c` is a unique mutable view that does not alias `a` or `b`.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    c.as_mut_ptr(),
                    cs,
                    rs,
                    accumulate,
                    a.as_ptr(),
                    a.strides()[1],
                    a.strides()[0],
                    b.as_ptr(),
                    b.strides()[1],
                    b.strides()[0],
                    beta,
                    T::one(),
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        }
    }
}

/// Marks this thread as inside a kernel until dropped (also when unwinding).
struct InKernel;

impl InKernel {
    fn enter() -> Self {
        IN_KERNEL.with(|f| f.set(true));
        Self
    }
}

impl Drop for InKernel {
    fn drop(&mut self) {
        IN_KERNEL.with(|f| f.set(false));
        crate::kalloc::product_done();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn both_kernels_multiply_and_accumulate_through_strided_views() {
        let a = Array2::from_shape_fn((5, 3), |(i, j)| (i * 3 + j) as f64);
        let bt = Array2::from_shape_fn((4, 3), |(i, j)| (i as f64) - (j as f64) * 0.5);
        let want = a.dot(&bt.t());
        for k in [Kernel::Gemm, Kernel::MatrixMultiply] {
            set_kernel(k);
            let mut c = Array2::from_elem((5, 4), 7.0);
            matmul(a.view(), bt.t(), false, c.view_mut());
            assert_eq!(c, want, "{k:?}");
            matmul(a.view(), bt.t(), true, c.view_mut());
            assert_eq!(c, &want * 2.0, "{k:?}");
        }
        set_kernel(Kernel::Gemm);
    }
}
