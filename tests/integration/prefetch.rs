//! Issue 13: the trainer announces the rows of the coming steps to the data
//! (`Examples::prefetch`; a mapped file asks the kernel to read their pages). A hint only: the
//! weights are the same bits with and without it, from a mapped file or from memory, at 1 and
//! 2 threads, and every row a step reads was announced before that step.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use shardprop::data::binary::{self, MappedDataset};
use shardprop::data::{Dataset, Examples, Rows, Scale, Scaler, ScalerFit, Target};
use shardprop::{Activation, Head, Network, TrainConfig, Trainer, rng};

use crate::common::{classification_data, temp_path};

fn config() -> TrainConfig {
    TrainConfig { epochs: 3, batch_size: 64, lr: 0.3, seed: 11, shard_size: 16, ..TrainConfig::default() }
}

/// The weights' bits after training on `rows`.
fn train(rows: Rows<'_>, scaler: &Scaler, threads: usize, prefetch: bool) -> Vec<u32> {
    let cfg = config();
    let net =
        Network::<f32>::new(&[12, 9, 5], Activation::Tanh, Head::SoftmaxCrossEntropy, &mut rng::seeded(cfg.seed, 3))
            .unwrap();
    let mut t = Trainer::new(net, cfg, threads).unwrap();
    t.set_prefetch(prefetch);
    t.train(rows, scaler, |_| {}).unwrap();
    t.into_network().weights().iter().flat_map(|w| w.iter().map(|v| v.to_bits())).collect()
}

#[test]
fn weights_are_the_same_bits_with_and_without_prefetch_mapped_or_in_memory() {
    let data = classification_data(700, 12, 5, 21);
    let fit = ScalerFit::fit(&data, Scale::Standard);
    let (_dir, path) = temp_path("d.bin");
    binary::write(&path, &data, &data.task, &data.feature_names, Scale::Standard).unwrap();
    let mapped = MappedDataset::open_with(&path, false).unwrap();
    // A row map, as a validation split leaves: every third row held out.
    let map: Vec<usize> = (0..700).filter(|i| i % 3 != 0).collect();
    for threads in [1, 2] {
        let want = train(Rows::all(&data), &fit, 1, false);
        let want_subset = train(Rows::subset(&data, &map), &fit, 1, false);
        assert_ne!(want, want_subset);
        for prefetch in [false, true] {
            let what = format!("{threads} threads, prefetch {prefetch}");
            assert_eq!(train(Rows::all(&mapped), &fit, threads, prefetch), want, "mapped, {what}");
            assert_eq!(train(Rows::all(&data), &fit, threads, prefetch), want, "in memory, {what}");
            assert_eq!(train(Rows::subset(&mapped, &map), &fit, threads, prefetch), want_subset, "subset, {what}");
        }
    }
}

/// Rows of a dataset that notes which rows were announced and whether a row was read before.
struct Watched<'a> {
    data: &'a Dataset,
    announced: Vec<AtomicBool>,
    order: Mutex<Vec<usize>>,
    read_unannounced: AtomicBool,
}

impl Examples for Watched<'_> {
    fn len(&self) -> usize {
        self.data.len()
    }
    fn n_features(&self) -> usize {
        self.data.n_features()
    }
    fn n_targets(&self) -> usize {
        self.data.n_targets()
    }
    fn features(&self, i: usize) -> &[f32] {
        if !self.announced[i].load(Ordering::SeqCst) {
            self.read_unannounced.store(true, Ordering::SeqCst);
        }
        self.data.features(i)
    }
    fn target(&self, i: usize) -> Target<'_> {
        self.data.target(i)
    }
    fn prefetch(&self, rows: &[usize]) {
        for &i in rows {
            self.announced[i].store(true, Ordering::SeqCst);
        }
        self.order.lock().unwrap().extend_from_slice(rows);
    }
}

#[test]
fn every_row_a_step_reads_was_announced_once_per_epoch_before_the_step() {
    let data = classification_data(500, 12, 5, 22);
    let fit = ScalerFit::fit(&data, Scale::Standard);
    let map: Vec<usize> = (0..500).filter(|i| i % 4 != 1).collect();
    for subset in [false, true] {
        let watched = Watched {
            data: &data,
            announced: (0..500).map(|_| AtomicBool::new(false)).collect(),
            order: Mutex::new(Vec::new()),
            read_unannounced: AtomicBool::new(false),
        };
        let rows = if subset { Rows::subset(&watched, &map) } else { Rows::all(&watched) };
        train(rows, &fit, 2, true);
        assert!(!watched.read_unannounced.load(Ordering::SeqCst), "a row was read before it was announced");
        let epochs = config().epochs;
        let mut want: Vec<usize> = (0..rows.len()).map(|i| rows.row(i)).flat_map(|r| vec![r; epochs]).collect();
        let mut order = watched.order.into_inner().unwrap();
        assert_eq!(order.len(), want.len(), "each row once per epoch");
        order.sort_unstable();
        want.sort_unstable();
        assert_eq!(order, want);
    }
}
