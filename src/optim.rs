//! Optimisers: how `D^(l)` becomes a weight update, and learning-rate schedules.
//!
//! Every method here is elementwise, so the engine applies it in the same parallel pass that
//! finishes the reduction (`D = Σ_s Δ_s / m`), chunk by chunk while the values are in cache, and
//! the result does not depend on how the elements are split among threads. With L2 weight decay
//! `λ`, the cost is `J + (λ/2m) Σ w²` over non-bias weights, so `D += (λ/m) w` there.
//!
//! | method | update (`α` the learning rate, `d` the element of `D`) |
//! | --- | --- |
//! | gradient descent | `w −= α d` (the derivation) |
//! | momentum | `v = μ v + d; w −= α v` |
//! | Nesterov | `v = μ v + d; w −= α (d + μ v)` |
//! | Adam | `m = β₁m + (1−β₁)d; v = β₂v + (1−β₂)d²; w −= α m̂ / (√v̂ + ε)`, `m̂ = m/(1−β₁ᵗ)`, `v̂ = v/(1−β₂ᵗ)` |
//! | iRPROP− | per weight step `Δ`: grows by `η⁺` while `d` keeps its sign, shrinks by `η⁻` and forgets `d` when it flips; `w −= sign(d) Δ` (no `α`) |

use ndarray::Array2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Float, Grad, Network};

/// Elements per parallel task in an update pass (its `D` buffer lives on the stack: 16 KiB of
/// `f32`, 32 KiB of `f64`).
pub const UPDATE_ELEMS: usize = 1 << 12;

/// An optimisation method and its hyper-parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum Method {
    /// Plain gradient descent, the default.
    #[default]
    GradientDescent,
    /// Classical momentum.
    Momentum {
        /// `μ`.
        mu: f64,
    },
    /// Nesterov momentum.
    Nesterov {
        /// `μ`.
        mu: f64,
    },
    /// Adam (Kingma and Ba, 2015).
    Adam {
        /// `β₁`.
        beta1: f64,
        /// `β₂`.
        beta2: f64,
        /// `ε`.
        eps: f64,
    },
    /// iRPROP− as Igel and Hüsken (2000) define it, with FANN's default constants. FANN's own
    /// `fann_update_weights_irpropm` differs: it also grows the step when the previous gradient
    /// is zero (its first step is `1.2 Δ₀`), moves a weight by `+Δ` when its gradient is zero,
    /// floors the step at 1e-4 and clips weights to ±1500. Those are not the published rule
    /// (a zero gradient moving a weight is not descent), so they are not copied.
    Rprop {
        /// `η⁺`, growth of a step while the gradient keeps its sign.
        eta_plus: f64,
        /// `η⁻`, shrinkage when it flips.
        eta_minus: f64,
        /// Initial step `Δ₀`.
        delta0: f64,
        /// Smallest step.
        delta_min: f64,
        /// Largest step.
        delta_max: f64,
    },
}

impl Method {
    /// Parses `sgd`/`gd`, `momentum`, `nesterov`, `adam`, `rprop` with `momentum` as `μ` and the
    /// usual defaults (Adam 0.9/0.999/1e-8; iRPROP− as FANN: 1.2, 0.5, Δ₀ 0.1, 0, 50).
    pub fn parse(name: &str, momentum: f64) -> Option<Self> {
        Some(match name {
            "sgd" | "gd" => Self::GradientDescent,
            "momentum" => Self::Momentum { mu: momentum },
            "nesterov" => Self::Nesterov { mu: momentum },
            "adam" => Self::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 },
            "rprop" | "irprop-" => {
                Self::Rprop { eta_plus: 1.2, eta_minus: 0.5, delta0: 0.1, delta_min: 0.0, delta_max: 50.0 }
            }
            _ => return None,
        })
    }

    /// The CLI name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::GradientDescent => "sgd",
            Self::Momentum { .. } => "momentum",
            Self::Nesterov { .. } => "nesterov",
            Self::Adam { .. } => "adam",
            Self::Rprop { .. } => "rprop",
        }
    }

    /// The learning rate a run takes when none is given: 1 for gradient descent (the
    /// derivation's sigmoid network trains well at it); `1 − μ` for momentum and Nesterov, so the
    /// long-run step `α / (1 − μ)` of a steady gradient equals gradient descent's; Adam's
    /// library-standard 0.001 (Kingma and Ba; PyTorch, Keras). iRPROP− does not use one (1).
    pub fn default_lr(&self) -> f64 {
        match self {
            Self::GradientDescent | Self::Rprop { .. } => 1.0,
            // Rounded to 12 decimals, so μ = 0.8 gives 0.2, not 0.19999999999999996.
            Self::Momentum { mu } | Self::Nesterov { mu } => {
                let rounded = ((1.0 - mu) * 1e12).round() / 1e12;
                if rounded > 0.0 { rounded } else { 1.0 - mu }
            }
            Self::Adam { .. } => 0.001,
        }
    }

    /// Whether the learning rate matters to this method (iRPROP− sizes its own steps).
    pub fn uses_lr(&self) -> bool {
        !matches!(self, Self::Rprop { .. })
    }

    /// State values kept per weight.
    pub fn slots(&self) -> usize {
        match self {
            Self::GradientDescent => 0,
            Self::Momentum { .. } | Self::Nesterov { .. } => 1,
            Self::Adam { .. } | Self::Rprop { .. } => 2,
        }
    }
}

/// A learning-rate schedule over epochs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum Schedule {
    /// `α` throughout.
    #[default]
    Constant,
    /// `α γ^⌊epoch / every⌋`.
    Step {
        /// Epochs between decays.
        every: usize,
        /// Factor per decay.
        gamma: f64,
    },
    /// `α_min + ½ (α − α_min)(1 + cos(π epoch / epochs))`.
    Cosine {
        /// Epochs of the whole run.
        epochs: usize,
        /// Final rate.
        min_lr: f64,
    },
}

impl Schedule {
    /// The rate for 0-based `epoch` given the base rate.
    pub fn lr(&self, base: f64, epoch: usize) -> f64 {
        match *self {
            Self::Constant => base,
            Self::Step { every, gamma } => base * gamma.powi(i32::try_from(epoch / every.max(1)).unwrap_or(i32::MAX)),
            Self::Cosine { epochs, min_lr } => {
                let p = (epoch as f64 / epochs.max(1) as f64).min(1.0);
                min_lr + 0.5 * (base - min_lr) * (1.0 + (std::f64::consts::PI * p).cos())
            }
        }
    }
}

/// An optimiser with its per-weight state (saved in checkpoints, so resume is exact).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Optimizer<T> {
    /// The method.
    pub method: Method,
    /// L2 weight decay `λ` (0: none).
    pub l2: f64,
    /// Steps taken.
    pub t: u64,
    /// `state[slot][l]`, shaped like `W^(l)`. Slot 0, `past_grad`, is what the method remembers of
    /// past gradients: the velocity (momentum, Nesterov), Adam's first moment `m`, iRPROP−'s
    /// previous gradient. Slot 1, `step_state`, is what sets each weight's own step: Adam's second
    /// moment `v`, iRPROP−'s step size. Plain gradient descent keeps neither.
    pub state: Vec<Vec<Array2<T>>>,
}

/// The per-step constants of an update.
#[derive(Clone, Copy, Debug)]
pub struct StepCtx<T> {
    method: Method,
    lr: T,
    /// `λ / m`.
    decay: T,
    /// `1 − β₁ᵗ`, `1 − β₂ᵗ` for Adam.
    bias1: T,
    bias2: T,
}

impl<T: Float> Optimizer<T> {
    /// A fresh optimiser for `net`.
    pub fn new(method: Method, l2: f64, net: &Network<T>) -> Self {
        let state =
            (0..method.slots()).map(|_| net.weights().iter().map(|w| Array2::zeros(w.raw_dim())).collect()).collect();
        let mut opt = Self { method, l2, t: 0, state };
        if let Method::Rprop { delta0, .. } = method {
            for s in &mut opt.state[1] {
                s.fill(T::from_f64(delta0));
            }
        }
        opt
    }

    /// Whether the state is shaped for `net`.
    pub fn fits(&self, net: &Network<T>) -> bool {
        self.state.len() == self.method.slots()
            && self.state.iter().all(|slot| {
                slot.len() == net.weights().len() && slot.iter().zip(net.weights()).all(|(s, w)| s.dim() == w.dim())
            })
    }

    /// Counts a step and returns its constants for a batch of `m` examples.
    pub fn begin_step(&mut self, lr: f64, m: usize) -> StepCtx<T> {
        self.t = self.t.saturating_add(1);
        let (bias1, bias2) = match self.method {
            Method::Adam { beta1, beta2, .. } => {
                // Past 2^31 − 1 steps β^t has long underflowed: saturate rather than wrap.
                let t = i32::try_from(self.t).unwrap_or(i32::MAX);
                (1.0 - beta1.powi(t), 1.0 - beta2.powi(t))
            }
            _ => (1.0, 1.0),
        };
        StepCtx {
            method: self.method,
            lr: T::from_f64(lr),
            decay: T::from_f64(self.l2 / m.max(1) as f64),
            bias1: T::from_f64(bias1),
            bias2: T::from_f64(bias2),
        }
    }

    /// Applies `D` to every weight in a separate pass (the engine instead fuses the update into
    /// its reduction).
    pub fn step(&mut self, net: &mut Network<T>, grad: &Grad<T>, lr: f64) {
        let ctx = self.begin_step(lr, grad.m);
        for (l, (w, d)) in net.weights_mut().iter_mut().zip(&grad.d).enumerate() {
            let cols = w.ncols();
            let (past_grad, step_state) = self.slots_mut(l);
            let d = d.as_slice().expect("contiguous");
            update_layer(
                &ctx,
                cols,
                w.as_slice_mut().expect("contiguous"),
                past_grad,
                step_state,
                None,
                |start, out| out.copy_from_slice(&d[start..start + out.len()]),
            );
        }
    }

    /// Layer `l`'s `(past_grad, step_state)` slices (see [`Optimizer::state`]; empty when the
    /// method keeps fewer slots).
    pub fn slots_mut(&mut self, l: usize) -> (&mut [T], &mut [T]) {
        let mut it = self.state.iter_mut();
        let past_grad = it.next().map_or(&mut [][..], |s| s[l].as_slice_mut().expect("contiguous"));
        let step_state = it.next().map_or(&mut [][..], |s| s[l].as_slice_mut().expect("contiguous"));
        (past_grad, step_state)
    }
}

/// Updates one layer in parallel chunks of [`UPDATE_ELEMS`] elements: `fill(start, d)` first
/// writes the chunk's `D` into a buffer on the stack (the engine's reducer does its last addition
/// there, so `D` never travels through memory as a whole array), then each element is updated.
/// `cols = S_l + 1` locates the bias column (flat index a multiple of `cols`), which weight decay
/// skips.
pub fn update_layer<T: Float>(
    ctx: &StepCtx<T>,
    cols: usize,
    w: &mut [T],
    past_grad: &mut [T],
    step_state: &mut [T],
    busy: Option<&std::sync::atomic::AtomicU64>,
    fill: impl Fn(usize, &mut [T]) + Sync,
) {
    let ctx = *ctx;
    let run = |c: usize, w: &mut [T], past_grad: &mut [T], step_state: &mut [T]| {
        let started = busy.map(|_| std::time::Instant::now());
        let mut buf = [T::zero(); UPDATE_ELEMS];
        let d = &mut buf[..w.len()];
        fill(c * UPDATE_ELEMS, d);
        update_chunk(&ctx, cols, c * UPDATE_ELEMS, w, d, past_grad, step_state);
        if let (Some(busy), Some(t)) = (busy, started) {
            busy.fetch_add(t.elapsed().as_nanos() as u64, std::sync::atomic::Ordering::Relaxed);
        }
    };
    let w = w.par_chunks_mut(UPDATE_ELEMS);
    match (past_grad.is_empty(), step_state.is_empty()) {
        (true, _) => w.enumerate().for_each(|(c, w)| run(c, w, &mut [], &mut [])),
        (false, true) => w
            .zip(past_grad.par_chunks_mut(UPDATE_ELEMS))
            .enumerate()
            .for_each(|(c, (w, past_grad))| run(c, w, past_grad, &mut [])),
        (false, false) => w
            .zip(past_grad.par_chunks_mut(UPDATE_ELEMS))
            .zip(step_state.par_chunks_mut(UPDATE_ELEMS))
            .enumerate()
            .for_each(|(c, ((w, past_grad), step_state))| run(c, w, past_grad, step_state)),
    }
}

/// Updates the weights `w` (flat indices `start..`) of one layer with gradient `d` and state
/// `past_grad`, `step_state` (empty when unused).
pub fn update_chunk<T: Float>(
    ctx: &StepCtx<T>,
    cols: usize,
    start: usize,
    w: &mut [T],
    d: &[T],
    past_grad: &mut [T],
    step_state: &mut [T],
) {
    let lr = ctx.lr;
    let decayed = |i: usize, w: T, d: T| {
        if ctx.decay != T::zero() && !(start + i).is_multiple_of(cols) { d + ctx.decay * w } else { d }
    };
    match ctx.method {
        Method::GradientDescent => {
            if ctx.decay == T::zero() {
                for (w, &d) in w.iter_mut().zip(d) {
                    *w -= lr * d;
                }
            } else {
                for (i, (w, &d)) in w.iter_mut().zip(d).enumerate() {
                    *w -= lr * decayed(i, *w, d);
                }
            }
        }
        Method::Momentum { mu } => {
            let mu = T::from_f64(mu);
            for (i, ((w, &d), v)) in w.iter_mut().zip(d).zip(past_grad.iter_mut()).enumerate() {
                *v = mu * *v + decayed(i, *w, d);
                *w -= lr * *v;
            }
        }
        Method::Nesterov { mu } => {
            let mu = T::from_f64(mu);
            for (i, ((w, &d), v)) in w.iter_mut().zip(d).zip(past_grad.iter_mut()).enumerate() {
                let g = decayed(i, *w, d);
                *v = mu * *v + g;
                *w -= lr * (g + mu * *v);
            }
        }
        Method::Adam { beta1, beta2, eps } => {
            // 1 − β in f64, then rounded (as PyTorch forms it), not from the rounded β.
            let (b1, b2, eps) = (T::from_f64(beta1), T::from_f64(beta2), T::from_f64(eps));
            let (c1, c2) = (T::from_f64(1.0 - beta1), T::from_f64(1.0 - beta2));
            for (i, (((w, &d), m), v)) in
                w.iter_mut().zip(d).zip(past_grad.iter_mut()).zip(step_state.iter_mut()).enumerate()
            {
                let g = decayed(i, *w, d);
                *m = b1 * *m + c1 * g;
                *v = b2 * *v + c2 * g * g;
                let m_hat = *m / ctx.bias1;
                let v_hat = *v / ctx.bias2;
                *w -= lr * m_hat / (v_hat.sqrt() + eps);
            }
        }
        Method::Rprop { eta_plus, eta_minus, delta_min, delta_max, .. } => {
            let (up, down) = (T::from_f64(eta_plus), T::from_f64(eta_minus));
            let (lo, hi) = (T::from_f64(delta_min), T::from_f64(delta_max));
            for (i, (((w, &d), prev), step)) in
                w.iter_mut().zip(d).zip(past_grad.iter_mut()).zip(step_state.iter_mut()).enumerate()
            {
                let mut g = decayed(i, *w, d);
                let sign = g * *prev;
                if sign > T::zero() {
                    *step = (*step * up).min(hi);
                } else if sign < T::zero() {
                    *step = (*step * down).max(lo);
                    g = T::zero(); // iRPROP−: forget the gradient after a sign change
                }
                if g > T::zero() {
                    *w -= *step;
                } else if g < T::zero() {
                    *w += *step;
                }
                *prev = g;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_at_literal_epochs() {
        assert_eq!(Schedule::Constant.lr(0.5, 7), 0.5);
        assert_eq!(Schedule::Step { every: 2, gamma: 0.5 }.lr(1.0, 5), 0.25);
        let c = Schedule::Cosine { epochs: 10, min_lr: 0.0 };
        assert_eq!(c.lr(1.0, 0), 1.0);
        assert!((c.lr(1.0, 5) - 0.5).abs() < 1e-15);
        assert!(c.lr(1.0, 10).abs() < 1e-15);
    }
}
