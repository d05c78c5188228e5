//! Contiguous transposed copies of the hidden layers' weights for the forward products.
//!
//! The forward product `a^(l) W^(l)[:, 1..]ᵀ` reads the weights across their rows (a stride of
//! `S_l + 1`), and `gemm` repacks them with a scalar gather for every chunk of rows it multiplies:
//! about a tenth of a 784-800-10 step at one thread (docs/PERFORMANCE.md). A step or an
//! evaluation of more than one chunk copies each hidden layer's `W^(l)[:, 1..]ᵀ` once into an
//! `S_l × S_{l+1}` matrix whose rows are contiguous, which every chunk then reads directly.
//! Only products whose bits cannot depend on the operands' layout use it
//! ([`crate::kernel::matmul::layout_free`]), so the weights come out the same bits either way.
//!
//! Freshness is the borrow checker's: [`Transposed::refresh`] returns a [`Fresh`] view that
//! borrows the network it was copied from, so the weights cannot change while the copies are
//! read, and [`Fresh::layer`] gives nothing for another network.

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use crate::kernel::matmul::layout_free;
use crate::{Float, Network};

/// Rows of the copy written per parallel task (16 consecutive weights of each unit are read).
const BLOCK: usize = 16;

/// The buffers of the copies, kept between steps so that a steady-state step allocates nothing.
#[derive(Debug, Default)]
pub struct Transposed<T> {
    /// `w[l]` is `W^(l)[:, 1..]ᵀ` where layer `l` takes a copy, else empty.
    w: Vec<Array2<T>>,
}

/// Copies made from one network, readable while that network cannot change.
#[derive(Clone, Copy, Debug)]
pub struct Fresh<'a, T> {
    w: &'a [Array2<T>],
    net: &'a Network<T>,
}

impl<T: Float> Transposed<T> {
    /// Copies `W^(l)[:, 1..]ᵀ` of every hidden layer whose forward product over `rows` rows is
    /// [`layout_free`] (the only ones that would read it), in parallel on the current rayon pool;
    /// allocates only when the shapes changed.
    pub fn refresh<'a>(&'a mut self, net: &'a Network<T>, rows: usize) -> Fresh<'a, T> {
        let weights = net.weights();
        let last = weights.len().saturating_sub(1);
        let shape = |l: usize, w: &Array2<T>| {
            let (units, inputs) = (w.nrows(), w.ncols().saturating_sub(1));
            let copied = l < last && w.is_standard_layout() && layout_free(rows, units, inputs);
            if copied { (inputs, units) } else { (0, 0) }
        };
        if self.w.len() != weights.len()
            || self.w.iter().zip(weights).enumerate().any(|(l, (c, w))| c.dim() != shape(l, w))
        {
            self.w = weights.iter().enumerate().map(|(l, w)| Array2::zeros(shape(l, w))).collect();
        }
        for (copy, w) in self.w.iter_mut().zip(weights).filter(|(c, _)| !c.is_empty()) {
            let (units, cols) = w.dim();
            let src = w.as_slice().expect("checked: standard layout");
            let dst = copy.as_slice_mut().expect("a new array is contiguous");
            dst.par_chunks_mut(BLOCK * units).enumerate().for_each(|(b, rows)| {
                let k0 = 1 + b * BLOCK;
                let kb = rows.len() / units;
                // Eight units at a time: each row of the copy gains eight consecutive values
                // (the fastest of the plain loops tried: docs/PERFORMANCE.md).
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
        Fresh { w: &self.w, net }
    }
}

impl<T: Float> Fresh<'_, T> {
    /// `W^(l)[:, 1..]ᵀ` of hidden layer `l` of `net`, when copied from `net` itself.
    pub fn layer(&self, net: &Network<T>, l: usize) -> Option<ArrayView2<'_, T>> {
        // Made from this very network, which cannot have changed since: the shapes fit.
        self.w.get(l).filter(|w| !w.is_empty() && std::ptr::eq(self.net, net)).map(Array2::view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, Head};
    use ndarray::s;
    use rand::SeedableRng;

    #[test]
    fn the_copies_are_the_transposed_weights_of_that_network_where_they_would_be_read() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        // 37 inputs, 20 units: twice 16 rows and 5, two groups of 8 units and 4.
        let net = Network::<f32>::new(&[37, 20, 5], Activation::Sigmoid, Head::SigmoidMse, &mut rng).unwrap();
        let other = net.clone();
        let mut t = Transposed::default();
        let fresh = t.refresh(&net, 256);
        let want = net.weights()[0].slice(s![.., 1..]).t().to_owned();
        assert_eq!(fresh.layer(&net, 0).unwrap(), want.view());
        assert!(fresh.layer(&net, 1).is_none(), "the output layer has no copy");
        assert!(fresh.layer(&other, 0).is_none(), "copies of another network are not given out");
        let few = t.refresh(&net, 64);
        assert!(few.layer(&net, 0).is_none(), "64-row chunks would not read a copy, so none is made");
    }
}
