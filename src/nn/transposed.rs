//! Contiguous transposed copies of the hidden layers' weights for the forward products.
//!
//! The forward product `a^(l) W^(l)[:, 1..]ᵀ` reads the weights across their rows (a stride of
//! `S_l + 1`), and `gemm` repacks them with a scalar gather for every chunk of rows it multiplies:
//! about a tenth of a 784-800-10 step at one thread (docs/PERFORMANCE.md). A step or an
//! evaluation of more than one chunk copies each hidden layer's `W^(l)[:, 1..]ᵀ` once into an
//! `S_l × S_{l+1}` matrix whose rows are contiguous, which every chunk then reads directly.
//! Only products whose bits cannot depend on the operands' layout use it
//! ([`crate::kernel::matmul::layout_free`]), so the weights come out the same bits either way.

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use crate::{Float, Network};

/// Rows of the copy written per parallel task: one pass over 16 of its rows reads 16 consecutive
/// weights of each unit (one 64-byte line of `f32`).
const BLOCK: usize = 16;

/// The copies, kept between steps (so a steady-state step allocates nothing) and valid only
/// between [`Transposed::refresh`] and the next [`Transposed::disable`] or weight change: the
/// engine refreshes them at the start of every step that uses them.
#[derive(Debug, Default)]
pub struct Transposed<T> {
    /// `w[l]` is `W^(l)[:, 1..]ᵀ` for the hidden layers (empty for the output layer).
    w: Vec<Array2<T>>,
    valid: bool,
}

impl<T: Float> Transposed<T> {
    /// No copies: every forward product reads the weights themselves.
    pub fn none() -> Self {
        Self { w: Vec::new(), valid: false }
    }

    /// Copies every hidden layer's `W^(l)[:, 1..]ᵀ` from `net`, in parallel on the current
    /// rayon pool; allocates only when the shapes changed.
    pub fn refresh(&mut self, net: &Network<T>) {
        let weights = net.weights();
        let last = weights.len().saturating_sub(1);
        let shape = |l: usize, w: &Array2<T>| if l < last { (w.ncols() - 1, w.nrows()) } else { (0, 0) };
        if self.w.len() != weights.len()
            || self.w.iter().zip(weights).enumerate().any(|(l, (c, w))| c.dim() != shape(l, w))
        {
            self.w = weights.iter().enumerate().map(|(l, w)| Array2::zeros(shape(l, w))).collect();
        }
        for (copy, w) in self.w.iter_mut().zip(weights).take(last) {
            let (units, cols) = w.dim();
            let src = w.as_slice().expect("weights are contiguous");
            let dst = copy.as_slice_mut().expect("a new array is contiguous");
            dst.par_chunks_mut(BLOCK * units).enumerate().for_each(|(b, rows)| {
                let k0 = 1 + b * BLOCK;
                let kb = rows.len() / units;
                // Eight units at a time: each row of the copy gains eight consecutive values
                // (measured fastest of the plain loops tried: docs/PERFORMANCE.md).
                let whole = units / 8 * 8;
                for j in (0..whole).step_by(8) {
                    let u: [&[T]; 8] = std::array::from_fn(|q| &src[(j + q) * cols + k0..][..kb]);
                    for (i, row) in rows.chunks_exact_mut(units).enumerate() {
                        for (o, u) in row[j..j + 8].iter_mut().zip(&u) {
                            *o = u[i];
                        }
                    }
                }
                for j in whole..units {
                    for (i, &v) in src[j * cols + k0..][..kb].iter().enumerate() {
                        rows[i * units + j] = v;
                    }
                }
            });
        }
        self.valid = true;
    }

    /// Marks the copies stale: [`Transposed::layer`] gives nothing until the next refresh.
    pub fn disable(&mut self) {
        self.valid = false;
    }

    /// `W^(l)[:, 1..]ᵀ` of hidden layer `l`, when refreshed.
    pub fn layer(&self, l: usize) -> Option<ArrayView2<'_, T>> {
        self.w.get(l).filter(|w| self.valid && !w.is_empty()).map(Array2::view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, Head};
    use ndarray::s;
    use rand::SeedableRng;

    #[test]
    fn the_copies_are_the_transposed_weights_and_go_stale_when_disabled() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let net = Network::<f32>::new(&[37, 20, 5], Activation::Sigmoid, Head::SigmoidMse, &mut rng).unwrap();
        let mut t = Transposed::none();
        assert!(t.layer(0).is_none());
        t.refresh(&net);
        let want = net.weights()[0].slice(s![.., 1..]).t().to_owned();
        assert_eq!(t.layer(0).unwrap(), want.view());
        assert!(t.layer(1).is_none(), "the output layer has no copy");
        t.disable();
        assert!(t.layer(0).is_none());
    }
}
