//! The engine's `D^(l)` against a plain per-example implementation of the derivation, written
//! here with loops over examples, units and weights, exactly the formulas.

use ndarray::Array2;
use shardprop::data::{Dataset, Examples, Scale, ScalerFit};
use shardprop::{Activation, Engine, Float, Head, Network};

use shardprop::tools::gradcheck::max_or_nan;

use crate::common::{classification_data, network, regression_data};

fn g(act: Activation, z: f64) -> f64 {
    match act {
        Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
        Activation::Tanh => z.tanh(),
        Activation::Relu => z.max(0.0),
        Activation::Identity => z,
    }
}

fn g_prime(act: Activation, z: f64) -> f64 {
    match act {
        Activation::Sigmoid => g(act, z) * (1.0 - g(act, z)),
        Activation::Tanh => 1.0 - z.tanh().powi(2),
        Activation::Relu => f64::from(u8::from(z > 0.0)),
        Activation::Identity => 1.0,
    }
}

/// D^(l) = (1/m) Σ_i δ^(l+1)_j a^(l)_k, one example at a time.
fn oracle(net: &Network<f64>, data: &Dataset, idx: &[usize], scaler: &shardprop::data::Scaler) -> Vec<Array2<f64>> {
    let w = net.weights();
    let n_layers = net.n_layers();
    let mut big_delta: Vec<Array2<f64>> = w.iter().map(|w| Array2::zeros(w.raw_dim())).collect();
    for &i in idx {
        let mut x = ndarray::Array1::<f64>::zeros(data.n_features());
        scaler.apply_row(data.features(i), x.view_mut());
        let mut y = ndarray::Array1::<f64>::zeros(net.n_outputs());
        data.target(i).write(y.view_mut());
        // Forward: a[0] = x; z[l+1]_j = W[j,0] + Σ_k W[j,k+1] a[l]_k.
        let mut a: Vec<Vec<f64>> = vec![x.to_vec()];
        let mut z: Vec<Vec<f64>> = vec![vec![]];
        for l in 0..n_layers - 1 {
            let zl: Vec<f64> = (0..w[l].nrows())
                .map(|j| w[l][[j, 0]] + (0..w[l].ncols() - 1).map(|k| w[l][[j, k + 1]] * a[l][k]).sum::<f64>())
                .collect();
            let al: Vec<f64> = if l + 2 < n_layers {
                zl.iter().map(|&v| g(net.hidden(), v)).collect()
            } else {
                match net.head() {
                    Head::SigmoidMse => zl.iter().map(|&v| 1.0 / (1.0 + (-v).exp())).collect(),
                    Head::IdentityMse => zl.clone(),
                    Head::SoftmaxCrossEntropy => {
                        let max = zl.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                        let e: Vec<f64> = zl.iter().map(|v| (v - max).exp()).collect();
                        let s: f64 = e.iter().sum();
                        e.iter().map(|v| v / s).collect()
                    }
                }
            };
            z.push(zl);
            a.push(al);
        }
        // δ^(L) from the cost; then δ^(l) = (W^(l)ᵀ δ^(l+1)) ⊙ g'(z^(l)), bias row dropped.
        let h = &a[n_layers - 1];
        let mut delta: Vec<f64> = (0..h.len())
            .map(|k| match net.head() {
                Head::SigmoidMse => (h[k] - y[k]) * h[k] * (1.0 - h[k]),
                _ => h[k] - y[k],
            })
            .collect();
        for l in (0..n_layers - 1).rev() {
            for j in 0..w[l].nrows() {
                big_delta[l][[j, 0]] += delta[j];
                for k in 0..w[l].ncols() - 1 {
                    big_delta[l][[j, k + 1]] += delta[j] * a[l][k];
                }
            }
            if l > 0 {
                delta = (0..w[l].ncols() - 1)
                    .map(|k| {
                        (0..w[l].nrows()).map(|j| w[l][[j, k + 1]] * delta[j]).sum::<f64>()
                            * g_prime(net.hidden(), z[l][k])
                    })
                    .collect();
            }
        }
    }
    big_delta.into_iter().map(|d| d / idx.len() as f64).collect()
}

fn engine_d<T: Float>(
    net: &Network<f64>,
    data: &Dataset,
    idx: &[usize],
    shard: usize,
    threads: usize,
) -> Vec<Array2<f64>> {
    let scaler = ScalerFit::fit(data, Scale::Standard);
    let mut engine = Engine::<T>::new(threads, shard).expect("pool");
    let grad = engine.gradient(&net.cast::<T>(), data, &scaler, idx);
    assert_eq!(grad.m, idx.len());
    grad.d.iter().map(|d| d.mapv(|v| v.to_f64())).collect()
}

/// Order-only differences: the engine and the oracle add the same terms in different orders
/// (tiles, the shard tree, the kernel's blocking), which moves an f64 sum by a few ulps; the
/// worst seen over every case below is 2.4e-13 (printed by the test).
const F64_TOL: f64 = 1e-12;

fn check(net: &Network<f64>, data: &Dataset) {
    let scaler = ScalerFit::fit(data, Scale::Standard);
    let mut worst = 0.0f64;
    for m in [1usize, 5, 64, 100, 257, 600] {
        // A scattered, repeating selection of rows, as a shuffled batch would be.
        let idx: Vec<usize> = (0..m).map(|i| (i * 37 + 11) % data.len()).collect();
        let want = oracle(net, data, &idx, &scaler);
        // 300 and 600 rows: shards larger than the engine's 256-row chunk.
        for shard in [1usize, 7, 32, 64, 300, 600] {
            for threads in [1usize, 2, 3, 8] {
                let got = engine_d::<f64>(net, data, &idx, shard, threads);
                assert_eq!(got.len(), want.len());
                for (l, (g, w)) in got.iter().zip(&want).enumerate() {
                    let err = crate::common::max_rel_err(g, w, 1e-300);
                    worst = max_or_nan(worst, err);
                    assert!(err <= F64_TOL, "f64 m={m} shard={shard} threads={threads} layer {l}: rel err {err:e}");
                }
            }
            // The f32 training path, relative to each layer's largest entry.
            let got = engine_d::<f32>(&net.cast::<f32>().cast::<f64>(), data, &idx, shard, 2);
            let want32 = oracle(&net.cast::<f32>().cast::<f64>(), data, &idx, &scaler);
            assert_eq!(got.len(), want32.len());
            for (l, (g, w)) in got.iter().zip(&want32).enumerate() {
                let err = crate::common::max_err_of_largest(g, w);
                assert!(err <= 1e-5, "f32 m={m} shard={shard} layer {l}: error {err:e} of the layer's largest entry");
            }
        }
    }
    eprintln!("worst f64 relative error against the oracle: {worst:e}");
}

#[test]
fn engine_matches_the_per_example_derivation_for_classifiers() {
    let data = classification_data(300, 6, 4, 1);
    check(&network(&[6, 9, 5, 4], Activation::Sigmoid, Head::SigmoidMse, 2), &data);
    check(&network(&[6, 8, 4], Activation::Relu, Head::SoftmaxCrossEntropy, 3), &data);
}

#[test]
fn engine_matches_the_per_example_derivation_for_regression() {
    let data = regression_data(300, 5, 2, 4);
    check(&network(&[5, 7, 2], Activation::Tanh, Head::IdentityMse, 5), &data);
}
