//! Matrix products for the network, behind one function so the kernel can be chosen, split into
//! output tiles fixed by the shapes so that several threads can share one product.
//!
//! The default kernel is the pure-Rust `gemm` crate with its AVX-512 kernels compiled in
//! (`x86-v4`) and picked at run time, so the binary still runs on CPUs without AVX-512. ndarray's
//! own `matrixmultiply` is kept as the alternative for comparison (`shardprop bench --kernel`);
//! `docs/PERFORMANCE.md` records why `gemm` is the default.
//!
//! Determinism: a product `C = A·B` (`C` is `m × n`, the summed dimension `k`) is cut into tiles
//! of output columns fixed by `(m, n, k)` alone ([`tile_count`], [`tile_start`]), and each tile is one
//! single-threaded kernel call. Whether the tiles then run one after another or on several
//! threads ([`matmul`]'s `split`), every output element is summed by the same call over the same
//! operands, so its bits never depend on the thread count. The kernel is part of the result
//! (another kernel, or the same kernel on a CPU with other SIMD or cache sizes, may round
//! differently); the thread count is not.

use std::cell::Cell;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2, Axis};

use crate::Float;

/// A matrix-multiply kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kernel {
    /// The `gemm` crate (AVX-512 / AVX2 / SSE chosen at run time).
    Gemm,
    /// ndarray's default, `matrixmultiply`.
    #[value(name = "matrixmultiply")]
    MatrixMultiply,
}

impl Kernel {
    /// Parses `gemm` or `matrixmultiply`: the names `clap::ValueEnum` derives above, so there is
    /// one list.
    pub fn parse(s: &str) -> Option<Self> {
        <Self as clap::ValueEnum>::from_str(s, false).ok()
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
static KERNEL_CALLS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static IN_KERNEL: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is inside a matrix-multiply kernel call. Both kernels allocate their
/// packing buffers on every call; a counting allocator uses this to tell those allocations from
/// the engine's own (which are zero in steady state: `tests/alloc.rs`).
pub fn in_kernel() -> bool {
    IN_KERNEL.with(Cell::get)
}

/// Kernel calls (tiles) made by this process so far: with [`in_kernel`], lets a test bound the
/// kernels' own allocations per call.
pub fn kernel_calls() -> u64 {
    KERNEL_CALLS.load(Ordering::Relaxed)
}

/// Chooses the kernel for the whole process (set it before training).
pub fn set_kernel(k: Kernel) {
    KERNEL.store(if k == Kernel::Gemm { 0 } else { 1 }, Ordering::Relaxed);
}

/// The kernel in use.
pub fn kernel() -> Kernel {
    #[cfg(test)]
    if let Some(k) = TEST_KERNEL.with(Cell::get) {
        return k;
    }
    if KERNEL.load(Ordering::Relaxed) == 0 { Kernel::Gemm } else { Kernel::MatrixMultiply }
}

#[cfg(test)]
thread_local! {
    /// A kernel for this thread alone, so that a unit test can try `matrixmultiply` without
    /// changing the kernel under the tests running beside it.
    static TEST_KERNEL: Cell<Option<Kernel>> = const { Cell::new(None) };
}

/// Floating-point operations a tile should at least hold (about 0.1 ms of one core): measured on
/// the W2 shapes, narrower tiles lose more to re-reading the shared operand than they gain in
/// balance (docs/PERFORMANCE.md).
pub const MIN_TILE_FLOPS: usize = 1 << 24;
/// Output elements a tile should at least hold when the work is mostly elementwise (a product
/// with a short summed dimension followed by `g'`).
pub const MIN_TILE_ELEMS: usize = 1 << 12;
/// At most this many tiles per product.
pub const MAX_TILES: usize = 64;
/// Tiles are at least this many columns wide.
pub const MIN_TILE_COLS: usize = 32;
/// Tile boundaries fall on multiples of this many columns (whole SIMD registers of `f32` on AVX2)
/// when the output has at most [`SMALL_ROWS`] rows.
pub const TILE_ALIGN: usize = 8;
/// Tile boundaries fall on multiples of this many columns (whole AVX-512 registers of `f32`, so
/// no tile ends in a half-empty register) when the output has more than [`SMALL_ROWS`] rows.
pub const WIDE_TILE_ALIGN: usize = 16;
/// Outputs with more rows than this are [`layout_free`] (with a summed dimension above 2 and more
/// than 16 columns): every tile of theirs takes `gemm`'s blocked path.
pub const SMALL_ROWS: usize = 64;

/// Whether the bits of a product with an `m × n` output and summed dimension `k` depend neither
/// on where its columns are cut into tiles nor on the memory layout of its operands.
///
/// `gemm` 0.19 sends a product with at most 16 × 16 outputs, one row or one column, or `k ≤ 2` to
/// dot-product, matrix-vector or outer-product routines chosen by the operands' strides, and
/// takes another block depth (`kc = min(k, 512)`) for one of at most 64 × 64 outputs than for a
/// larger one; each of those sums in its own order. Every other product goes through its blocked
/// path, where each output element is the sum over `k` in blocks whose depth depends on `k` (and
/// the CPU's kernel) alone, in order, whatever the layout, the packing or the output block it
/// falls in. With `m > SMALL_ROWS`, `n > 16` and `k > 2`, the whole product and each of its tiles
/// (at least [`MIN_TILE_COLS`] wide: [`tile_start`]) are such products. Then the engine may run
/// the tiles as one kernel call when they run on one thread, and multiply by a transposed copy of
/// the weights, and keep every bit (`tests/integration/determinism.rs`). Nothing is claimed for
/// `matrixmultiply` (a kernel kept for comparison), so with it no product is layout-free.
pub fn layout_free(m: usize, n: usize, k: usize) -> bool {
    kernel() == Kernel::Gemm && m > SMALL_ROWS && n > 16 && k > 2
}

/// How many column tiles a product with an `m × n` output and summed dimension `k` is cut into:
/// a power of two (so 1, 2, 4, 8 … threads share them evenly), each tile holding at least
/// [`MIN_TILE_FLOPS`] (or, for a short summed dimension, [`MIN_TILE_ELEMS`] outputs) and
/// [`MIN_TILE_COLS`] columns, at most [`MAX_TILES`]. A function of the
/// shape alone; the thread count never enters it.
pub fn tile_count(m: usize, n: usize, k: usize) -> usize {
    let flops = 2u128 * m as u128 * n as u128 * k as u128;
    let by_flops = flops / MIN_TILE_FLOPS as u128;
    let by_elems = (m as u128 * n as u128) / MIN_TILE_ELEMS as u128;
    let by_work = by_flops.max(by_elems).min(MAX_TILES as u128) as usize;
    let t = by_work.min(n / MIN_TILE_COLS).max(1);
    1 << (usize::BITS - 1 - t.leading_zeros())
}

/// The first column of tile `j` of `t` over the `n` columns of an `m`-row output (`n` for
/// `j = t`): `j n / t` rounded down to a multiple of [`TILE_ALIGN`], or of [`WIDE_TILE_ALIGN`]
/// when `m > SMALL_ROWS` (where the cut does not change the bits: [`layout_free`]). With more than
/// one tile, [`tile_count`] keeps `n / t` at least [`MIN_TILE_COLS`], a multiple of both
/// alignments, so every tile is at least that wide.
pub fn tile_start(j: usize, t: usize, n: usize, m: usize) -> usize {
    let align = if m > SMALL_ROWS { WIDE_TILE_ALIGN } else { TILE_ALIGN };
    if j >= t { n } else { ((j as u128 * n as u128 / t as u128) as usize) / align * align }
}

/// `c = a · b + beta · c` with `beta` 0 or 1 (`c` is not read when `beta` is 0), tile by tile
/// ([`tile_count`]). With `split` the tiles run on the current rayon pool's threads (the caller
/// decides: the engine splits only when a step has fewer shards than threads, so nested work
/// never oversubscribes); without it they run in order on this thread. The bits are the same.
pub fn matmul<T: Float>(a: ArrayView2<T>, b: ArrayView2<T>, accumulate: bool, c: ArrayViewMut2<T>, split: bool) {
    matmul_tiles(a, b, accumulate, c, split, None, |_, _| {}, |_, _| {});
}

/// [`matmul`] with elementwise work fused per tile: `before(j, tile)` runs on each tile of `c`
/// (its first column `j`) before its product, `after(j, tile)` after it, on the thread that
/// computes the tile. Both must treat every element alone (a bias, an activation), so that the
/// result does not depend on where the tiles are cut. `busy`, when given, gains the
/// nanoseconds each tile took (summed over threads).
///
/// Without `split`, a [`layout_free`] product runs as one tile: one kernel call packs each operand
/// once instead of once per tile, with the same bits.
#[allow(clippy::too_many_arguments)]
pub fn matmul_tiles<T: Float>(
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    accumulate: bool,
    c: ArrayViewMut2<T>,
    split: bool,
    busy: Option<&AtomicU64>,
    before: impl Fn(usize, ArrayViewMut2<T>) + Sync,
    after: impl Fn(usize, ArrayViewMut2<T>) + Sync,
) {
    let (m, k) = a.dim();
    let n = b.ncols();
    // Checked in release too: the kernel reads through raw pointers.
    assert_eq!(b.nrows(), k, "matmul: inner dimensions differ");
    assert_eq!(c.dim(), (m, n), "matmul: the output has the wrong shape");
    if m == 0 || n == 0 {
        return;
    }
    let t = if !split && layout_free(m, n, k) { 1 } else { tile_count(m, n, k) };
    let tile = |j: usize, b: ArrayView2<T>, mut c: ArrayViewMut2<T>| {
        let started = std::time::Instant::now();
        let j0 = tile_start(j, t, n, m);
        before(j0, c.view_mut());
        kernel_call(a, b, accumulate, c.view_mut());
        after(j0, c);
        if let Some(busy) = busy {
            busy.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
    };
    tiles(0..t, (t, n, m), b, c, split, &tile);
}

/// Runs `tile` on tiles `range` of `t` (their columns of `b` and `c`), halving the range and
/// the views until one tile is left: in parallel with `split`, else in order.
fn tiles<T: Float>(
    range: std::ops::Range<usize>,
    (t, n, m): (usize, usize, usize),
    b: ArrayView2<T>,
    c: ArrayViewMut2<T>,
    split: bool,
    tile: &(impl Fn(usize, ArrayView2<T>, ArrayViewMut2<T>) + Sync),
) {
    if range.len() == 1 {
        tile(range.start, b, c);
        return;
    }
    let mid = range.start + range.len() / 2;
    let at = tile_start(mid, t, n, m) - tile_start(range.start, t, n, m);
    let (b0, b1) = b.split_at(Axis(1), at);
    let (c0, c1) = c.split_at(Axis(1), at);
    if split {
        rayon::join(
            || tiles(range.start..mid, (t, n, m), b0, c0, split, tile),
            || tiles(mid..range.end, (t, n, m), b1, c1, split, tile),
        );
    } else {
        tiles(range.start..mid, (t, n, m), b0, c0, split, tile);
        tiles(mid..range.end, (t, n, m), b1, c1, split, tile);
    }
}

/// One single-threaded kernel call over the whole product, `c = a · b (+ c)`, untiled: what the
/// GEMM roof of `shardprop bench` measures.
pub fn kernel_call<T: Float>(a: ArrayView2<T>, b: ArrayView2<T>, accumulate: bool, mut c: ArrayViewMut2<T>) {
    let (m, k) = a.dim();
    let n = b.ncols();
    assert!(b.nrows() == k && c.dim() == (m, n), "kernel_call: shapes {:?} · {:?} → {:?}", a.dim(), b.dim(), c.dim());
    let _inside = InKernel::enter();
    KERNEL_CALLS.fetch_add(1, Ordering::Relaxed);
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
            // This thread alone (the tests beside this one keep `gemm`), so no split products.
            TEST_KERNEL.with(|t| t.set(Some(k)));
            assert_eq!(kernel(), k);
            assert_eq!(layout_free(300, 300, 300), k == Kernel::Gemm, "nothing is layout-free but with gemm");
            let mut c = Array2::from_elem((5, 4), 7.0);
            matmul(a.view(), bt.t(), false, c.view_mut(), false);
            assert_eq!(c, want, "{k:?}");
            matmul(a.view(), bt.t(), true, c.view_mut(), false);
            assert_eq!(c, &want * 2.0, "{k:?}");
        }
        TEST_KERNEL.with(|t| t.set(None));
    }

    /// One thread runs a `layout_free` product as one kernel call, several threads run its
    /// tiles: the bits must agree. 64 rows and 64-column tiles over 784 inputs is the shape where
    /// `gemm` would sum in other blocks untiled (why `layout_free` wants more than 64 rows).
    #[test]
    fn whole_and_tiled_products_agree_in_their_bits_where_the_engine_merges_tiles() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        for (m, n, k) in [(64, 512, 784), (65, 512, 784), (256, 800, 784), (300, 40, 3), (100, 17, 600)] {
            let a = Array2::from_shape_fn((m, k), |(i, j)| ((i * 31 + j * 17) % 97) as f32 / 97.0 - 0.5);
            let b = Array2::from_shape_fn((k, n), |(i, j)| ((i * 13 + j * 7) % 89) as f32 / 89.0 - 0.5);
            let bt = b.t().to_owned();
            let mut one = Array2::<f32>::zeros((m, n));
            matmul(a.view(), b.view(), false, one.view_mut(), false);
            let mut par = Array2::<f32>::from_elem((m, n), f32::NAN);
            pool.install(|| matmul(a.view(), b.view(), false, par.view_mut(), true));
            let mut transposed = Array2::<f32>::from_elem((m, n), f32::NAN);
            pool.install(|| matmul(a.view(), bt.t(), false, transposed.view_mut(), true));
            let same = |x: &Array2<f32>| one.iter().zip(x).all(|(p, q)| p.to_bits() == q.to_bits());
            assert!(same(&par), "{m} × {n} × {k}: tiles on 3 threads differ from one thread");
            if layout_free(m, n, k) {
                assert!(same(&transposed), "{m} × {n} × {k}: the other layout differs");
            }
        }
        assert!(tile_count(64, 512, 784) > 1 && !layout_free(64, 512, 784));
    }

    #[test]
    fn tiles_depend_on_the_shape_only_and_split_products_keep_their_bits() {
        // 256 × 784 · 784 × 800 (a W2 forward product): 16 tiles of 48 or 64 columns; with 64
        // rows or fewer, of 48 or 56.
        assert_eq!(tile_count(256, 800, 784), 16);
        for (m, widths) in [(256, [48, 64]), (64, [48, 56])] {
            let starts: Vec<usize> = (0..=16).map(|j| tile_start(j, 16, 800, m)).collect();
            assert!(starts.windows(2).all(|w| widths.contains(&(w[1] - w[0]))), "{m} rows: {starts:?}");
            assert_eq!((starts[0], starts[16]), (0, 800));
        }
        // Every tile of a product with several is at least `MIN_TILE_COLS` wide, whichever
        // alignment (so wider than `layout_free`'s 16 columns).
        for n in 32..700 {
            for m in [10, 64, 65, 300] {
                let t = tile_count(m, n, 1 << 20);
                assert!(t > 1 || n < 2 * MIN_TILE_COLS, "{m} × {n}: the test wants several tiles");
                let narrowest = (0..t).map(|j| tile_start(j + 1, t, n, m) - tile_start(j, t, n, m)).min();
                assert!(narrowest >= Some(MIN_TILE_COLS), "{m} × {n}: {narrowest:?}");
            }
        }
        assert_eq!(tile_count(10, 3, 2), 1, "a tiny product is one tile");
        assert_eq!(tile_count(usize::MAX, 64, usize::MAX), 2, "no overflow; at least 32 columns a tile");
        assert_eq!(tile_count(1 << 20, 1 << 20, 1 << 20), MAX_TILES);
        let a = Array2::from_shape_fn((64, 700), |(i, j)| ((i * 31 + j * 17) % 97) as f32 / 97.0 - 0.5);
        let b = Array2::from_shape_fn((700, 900), |(i, j)| ((i * 13 + j * 7) % 89) as f32 / 89.0 - 0.5);
        assert!(tile_count(64, 900, 700) > 1, "the test product must have several tiles");
        let mut one = Array2::<f32>::zeros((64, 900));
        matmul(a.view(), b.view(), false, one.view_mut(), false);
        for threads in [1, 2, 3, 7] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut par = Array2::<f32>::from_elem((64, 900), f32::NAN);
            pool.install(|| matmul(a.view(), b.view(), false, par.view_mut(), true));
            assert!(one.iter().zip(&par).all(|(x, y)| x.to_bits() == y.to_bits()), "{threads} threads");
        }
        let want = a.mapv(f64::from).dot(&b.mapv(f64::from));
        assert!(one.iter().zip(&want).all(|(&x, &y)| (f64::from(x) - y).abs() < 1e-3), "the product is right");
    }
}
