//! Backprop against central finite differences of `J`, in f64, for every activation and head,
//! 1 to 4 hidden layers of odd sizes.

use ndarray::Array2;
use shardprop::tools::gradcheck::central_differences;
use shardprop::{Activation, Head, Network};

use crate::common::{max_rel_err, network, random_matrix, random_targets};

const ACTIVATIONS: [Activation; 4] = [Activation::Sigmoid, Activation::Tanh, Activation::Relu, Activation::Identity];
const HEADS: [Head; 3] = [Head::SigmoidMse, Head::SoftmaxCrossEntropy, Head::IdentityMse];
/// Step for the central difference: truncation error O(h²) and rounding O(ε/h) balance near here.
const H: f64 = 1e-5;
/// Below this magnitude a gradient is compared by absolute error (relative error of a value that
/// is zero up to rounding means nothing).
const FLOOR: f64 = 1e-4;

/// The reference: `(J(w + h e_k) − J(w − h e_k)) / 2h` for every parameter, from the cost `J`
/// alone (the forward pass), never from backprop.
fn numeric_gradient(net: &Network<f64>, x: &Array2<f64>, y: &Array2<f64>) -> Vec<Array2<f64>> {
    central_differences(net, H, |n| n.cost(x.view(), y.view()))
}

fn worst_error(sizes: &[usize], hidden: Activation, head: Head, seed: u64) -> f64 {
    let mut net = network(sizes, hidden, head, seed);
    // Random, non-zero biases: with ReLU's zero bias init a dead layer makes z exactly 0, the
    // kink, where finite differences are meaningless.
    for (l, w) in net.weights_mut().iter_mut().enumerate() {
        let b = random_matrix(w.nrows(), 1, seed * 31 + l as u64);
        w.column_mut(0).assign(&(b.column(0).mapv(|v| v * 0.5)));
    }
    let m = 7;
    let x = random_matrix(m, sizes[0], seed + 1);
    let y = random_targets(head, m, sizes[sizes.len() - 1], seed + 2);
    let analytic = net.gradient(x.view(), y.view());
    let numeric = numeric_gradient(&net, &x, &y);
    analytic
        .iter()
        .zip(&numeric)
        .map(|(a, n)| max_rel_err(a, n, FLOOR))
        .fold(0.0, shardprop::tools::gradcheck::max_or_nan)
}

#[test]
fn every_activation_head_and_depth_matches_finite_differences() {
    let mut worst = (0.0, String::new());
    for (hi, &hidden) in ACTIVATIONS.iter().enumerate() {
        for (di, &head) in HEADS.iter().enumerate() {
            for depth in 1..=4 {
                let mut sizes = vec![5];
                sizes.extend([7, 3, 5, 9].iter().take(depth));
                sizes.push(3);
                let seed = (100 * hi + 10 * di + depth) as u64;
                let err = worst_error(&sizes, hidden, head, seed);
                assert!(err <= 1e-6, "{hidden:?} {head:?} sizes {sizes:?}: max relative error {err:e}");
                if err > worst.0 {
                    worst = (err, format!("{hidden:?} {head:?} {sizes:?}"));
                }
            }
        }
    }
    eprintln!("worst relative error {:e} ({})", worst.0, worst.1);
}

#[test]
fn a_single_output_unit_and_no_hidden_layer_also_check() {
    assert!(worst_error(&[2, 2, 1], Activation::Sigmoid, Head::SigmoidMse, 5) <= 1e-6);
    assert!(worst_error(&[3, 4], Activation::Sigmoid, Head::SoftmaxCrossEntropy, 6) <= 1e-6);
}

#[test]
fn the_check_detects_a_slightly_wrong_gradient() {
    // The tolerance must be tight enough to catch a 0.1% error in backprop.
    let net = network(&[5, 7, 3], Activation::Tanh, Head::SigmoidMse, 11);
    let x = random_matrix(7, 5, 12);
    let y = random_targets(Head::SigmoidMse, 7, 3, 13);
    let mut analytic = net.gradient(x.view(), y.view());
    analytic[0].mapv_inplace(|v| v * 1.001);
    let numeric = numeric_gradient(&net, &x, &y);
    assert!(max_rel_err(&analytic[0], &numeric[0], FLOOR) > 1e-6);
}

#[test]
fn gradcheck_refuses_a_check_that_could_not_finish() {
    // 100000-100-1 passed the old size check (a product of sizes ≤ 1e7) and ran for hours.
    let run = crate::common::run_bin;
    for args in [&["gradcheck", "--layers", "100000,100,1"][..], &["gradcheck", "--layers", "300,300,10"]] {
        let o = run(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("--layers") || err.contains("would take minutes"), "{args:?}: {err}");
    }
    assert!(run(&["gradcheck", "--layers", "30,20,3"]).status.success(), "a small network still runs");
}

/// With dropout masks held fixed (the same rows at the same step give the same masks), the
/// gradient backprop gives with them matches the central differences of `J` under the same
/// masks, for every activation and head, with input and hidden dropout; and the masks do change
/// the gradient (the check is not of an unmasked network).
#[test]
fn dropout_backprop_matches_finite_differences_with_the_mask_held_fixed() {
    use shardprop::{Dropout, GradSum, Workspace};
    let sizes = [5, 7, 6, 3];
    let m = 9;
    let rows: Vec<usize> = (100..100 + m).collect();
    let dropout = Dropout { seed: 3, rates: vec![0.2, 0.5, 0.3] };
    let load = |ws: &mut Workspace<f64>, x: &Array2<f64>, y: &Array2<f64>| {
        let (mut xs, mut ys) = ws.input_mut(m);
        xs.assign(x);
        ys.assign(y);
        ws.set_dropout(&dropout, 11, &rows);
    };
    let mut worst = 0.0;
    for (k, (hidden, head)) in ACTIVATIONS.iter().flat_map(|a| HEADS.iter().map(move |h| (*a, *h))).enumerate() {
        let seed = 40 + k as u64;
        let mut net = network(&sizes, hidden, head, seed);
        for (l, w) in net.weights_mut().iter_mut().enumerate() {
            let b = random_matrix(w.nrows(), 1, seed * 31 + l as u64);
            w.column_mut(0).assign(&(b.column(0).mapv(|v| v * 0.5)));
        }
        let x = random_matrix(m, sizes[0], seed + 1);
        let y = random_targets(head, m, sizes[3], seed + 2);
        let mut ws = Workspace::new(&net, m);
        load(&mut ws, &x, &y);
        let mut sum = GradSum::zeros(net.weights());
        net.backprop(&mut ws, m, &mut sum);
        let analytic: Vec<Array2<f64>> = sum.dw.iter().map(|d| d / m as f64).collect();
        let numeric = central_differences(&net, H, |n| {
            load(&mut ws, &x, &y);
            n.forward(&mut ws, m);
            let (h, t) = ws.output_and_targets(m);
            head.loss_sum(h, t) / m as f64
        });
        for (a, n) in analytic.iter().zip(&numeric) {
            worst = shardprop::tools::gradcheck::max_or_nan(worst, max_rel_err(a, n, FLOOR));
        }
        let plain = net.gradient(x.view(), y.view());
        assert!(max_rel_err(&analytic[0], &plain[0], FLOOR) > 1e-3, "{hidden:?} {head:?}: masks changed nothing");
    }
    assert!(worst < 1e-6, "worst relative error {worst}");
}

/// The engine keys each row's masks by the row's number in the dataset (not its place in a
/// shard, a thread or a rank): its `D` over shuffled rows in several shards, on 2 threads,
/// equals one workspace's over the same rows with masks keyed by those numbers.
#[test]
fn the_engine_keys_each_rows_masks_by_its_dataset_row() {
    use shardprop::data::{Examples, Scale, ScalerFit};
    use shardprop::{Dropout, Engine, GradSum, Workspace};
    let data = crate::common::classification_data(64, 6, 3, 5);
    let scaler = ScalerFit::fit(&data, Scale::None);
    let net = network(&[6, 9, 3], Activation::Tanh, Head::SoftmaxCrossEntropy, 2);
    let dropout = Dropout { seed: 4, rates: vec![0.25, 0.5] };
    let idx = [17, 3, 40, 8, 25, 11, 30, 2, 9, 63, 0];
    let mut engine = Engine::<f64>::new(2, 4).unwrap();
    engine.set_dropout(Some((dropout.clone(), 6)));
    let d = engine.gradient(&net, &data, &scaler, &idx).d.clone();

    let m = idx.len();
    let mut ws = Workspace::new(&net, m);
    let (mut x, mut y) = ws.input_mut(m);
    for (r, &i) in idx.iter().enumerate() {
        x.row_mut(r).assign(&ndarray::ArrayView1::from(data.features(i)).mapv(f64::from));
        data.target(i).write(y.row_mut(r));
    }
    ws.set_dropout(&dropout, 6, &idx);
    let mut sum = GradSum::zeros(net.weights());
    net.backprop(&mut ws, m, &mut sum);
    for (l, (a, b)) in d.iter().zip(&sum.dw).enumerate() {
        let err = max_rel_err(a, &(b / m as f64), FLOOR);
        assert!(err < 1e-9, "layer {l}: {err}");
    }
}
