//! A classifier's answer for one row of outputs `h = a^(L)`: the class it predicts, and a
//! probability per class (as scikit-learn's `predict_proba` gives them).
//!
//! | outputs | `p_k` |
//! | --- | --- |
//! | softmax, `K` units | `h_k` (they sum to 1 already; dividing by `Σ_j h_j` only evens out rounding) |
//! | sigmoid, `K ≥ 2` units | `h_k / Σ_j h_j`, or `1/K` each when `Σ_j h_j = 0` |
//! | one sigmoid unit, two classes | `p_0 = 1 − h_0`, `p_1 = h_0` |
//! | one unit, one class | `p_0 = 1` |
//!
//! Normalised sigmoid outputs are scores that sum to 1, not calibrated probabilities: the
//! squared-error cost does not train them to be. Regression outputs have no class probabilities.

use ndarray::ArrayView1;

use crate::Float;
use crate::nn::network::class_of;

/// The class a row of outputs `h` predicts among `n_classes`: [`class_of`] (the first largest
/// output; for a single unit, class 1 when `h_0 ≥ ½`), kept below `n_classes` (a one-class
/// model's single unit always predicts class 0).
pub fn predicted_class<T: Float>(h: ArrayView1<T>, n_classes: usize) -> usize {
    class_of(h).min(n_classes.saturating_sub(1))
}

/// Writes the `n_classes` class probabilities of one row of outputs `h` into `p` (see the
/// module's table). Each is worked out in `f64` and rounded to `f32` once, off by at most `2^-24`
/// of itself, so the written values sum to 1 within about `1e-7` whatever the number of classes. The first largest `p_k` is always
/// [`predicted_class`]: where rounding makes an earlier class's `p` equal to it (two outputs one
/// `f32` step apart, or `h_0 = ½` for a single unit), the predicted class's is raised by one
/// `f32` step.
///
/// `h` holds `n_classes` outputs, or one output for one or two classes.
pub fn class_probabilities(h: ArrayView1<f32>, n_classes: usize, p: &mut Vec<f32>) {
    debug_assert!(h.len() == n_classes || (h.len() == 1 && n_classes <= 2), "{} outputs, {n_classes} classes", h.len());
    p.clear();
    if h.len() == 1 {
        match n_classes {
            1 => p.push(1.0),
            _ => p.extend([(1.0 - f64::from(h[0])) as f32, h[0]]),
        }
    } else {
        let sum: f64 = h.iter().map(|&v| f64::from(v)).sum();
        if sum == 0.0 {
            p.extend(std::iter::repeat_n((1.0 / n_classes as f64) as f32, n_classes));
        } else {
            p.extend(h.iter().map(|&v| (f64::from(v) / sum) as f32));
        }
    }
    let c = predicted_class(h, n_classes);
    let first_max = (0..p.len()).fold(0, |best, k| if p[k] > p[best] { k } else { best });
    if first_max != c {
        // p[first_max] == p[c] with first_max < c: a tie made by rounding (h_c > h_first_max).
        p[c] = p[c].next_up();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn probs(h: &[f32], n_classes: usize) -> Vec<f32> {
        let mut p = Vec::new();
        class_probabilities(ArrayView1::from(h), n_classes, &mut p);
        p
    }

    fn sum(p: &[f32]) -> f64 {
        p.iter().map(|&v| f64::from(v)).sum()
    }

    #[test]
    fn sigmoid_outputs_are_divided_by_their_sum() {
        assert_eq!(probs(&[0.25, 0.75, 0.5], 3), vec![0.16666667, 0.5, 0.33333334]);
        // Every output 0: uniform.
        assert_eq!(probs(&[0.0, 0.0, 0.0, 0.0], 4), vec![0.25; 4]);
        // Equal outputs: equal probabilities, the first of them largest as for predict.
        assert_eq!(probs(&[0.5, 0.5], 2), vec![0.5, 0.5]);
    }

    #[test]
    fn one_output_unit_gives_one_minus_h_and_h() {
        assert_eq!(probs(&[0.25], 2), vec![0.75, 0.25]);
        assert_eq!(probs(&[0.0], 2), vec![1.0, 0.0]);
        // h = ½ predicts class 1 (class_of: h ≥ ½): its probability is raised one step.
        assert_eq!(predicted_class(array![0.5f32].view(), 2), 1);
        assert_eq!(probs(&[0.5], 2), vec![0.5, 0.5f32.next_up()]);
        // One class: certain, whatever the output.
        assert_eq!(probs(&[0.9], 1), vec![1.0]);
        assert_eq!(predicted_class(array![0.9f32].view(), 1), 0);
    }

    #[test]
    fn a_tie_made_by_rounding_keeps_the_predicted_class_first() {
        // Adjacent f32 outputs whose quotients by the sum round to one f32.
        let a = 0.7f32;
        let found = (0..10_000).find_map(|i| {
            let a = a + i as f32 * 1e-6;
            let b = a.next_up();
            let s = f64::from(a) + f64::from(b) + 2.0 * f64::from(0.6f32);
            ((f64::from(a) / s) as f32 == (f64::from(b) / s) as f32).then_some([a, b, 0.6, 0.6])
        });
        let h = found.expect("some adjacent pair rounds together");
        let p = probs(&h, 4);
        assert_eq!(predicted_class(ArrayView1::from(&h[..]), 4), 1);
        assert!(p[1] > p[0], "{p:?}");
        assert!((sum(&p) - 1.0).abs() <= 1e-6, "{p:?}");
    }

    #[test]
    fn many_classes_still_sum_to_one() {
        // 40,000 outputs: summed in f32 the total drifts past 1e-6 (this test fails so); summed in
        // f64 and each quotient rounded once, it stays within 2^-24.
        let h: Vec<f32> = (0..40_000).map(|k| 1.0 / 40_000.0 * (1.0 + (k % 7) as f32 * 1e-3)).collect();
        let p = probs(&h, h.len());
        assert!((sum(&p) - 1.0).abs() <= 1e-6, "{}", sum(&p));
    }
}
