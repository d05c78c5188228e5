//! A run's data: the training file opened, the validation rows held out of it by a seeded split,
//! the fingerprint that ties a checkpoint to its data, and the scaler fitted on the training
//! rows (a new run only: a resumed run keeps its checkpoint's).

use crate::data::{self, AnyDataset, Fingerprint, Rows, Scale, Scaler, ScalerFit};
use crate::engine::exchange::Collective;
use crate::error::{Error, Result};
use crate::rng;
use crate::run::spec::RunSpec;

/// The training file of a run, opened and split.
pub(crate) struct TrainingData {
    /// The rows of the file.
    pub data: AnyDataset,
    /// Which of them train and which validate.
    pub split: Split,
    /// The file's fingerprint (of every row, before the split).
    pub fingerprint: Fingerprint,
}

/// The validation split of a dataset of `n` rows: `round(validation · n)` rows drawn by a seeded
/// shuffle are held out; both lists are sorted, so rows are read in file order.
pub(crate) struct Split {
    /// The rows trained on; `None` when none are held out (every row trains).
    train: Option<Vec<usize>>,
    /// The rows held out for validation (empty: none).
    validation: Vec<usize>,
}

impl Split {
    /// The training rows of `data` (the dataset this split was drawn from).
    pub fn train<'a>(&'a self, data: &'a AnyDataset) -> Rows<'a> {
        match &self.train {
            Some(rows) => Rows::subset(data.examples(), rows),
            None => Rows::all(data.examples()),
        }
    }

    /// The validation rows of `data` (the dataset this split was drawn from).
    pub fn validation<'a>(&'a self, data: &'a AnyDataset) -> Rows<'a> {
        Rows::subset(data.examples(), &self.validation)
    }

    /// Whether rows are held out for validation.
    pub fn validates(&self) -> bool {
        !self.validation.is_empty()
    }
}

impl TrainingData {
    /// Opens `spec.train` (with `classes` fixed, when resuming a classifier) and holds out the
    /// validation rows, shuffled by `seed`. Returns the CSV lines skipped too.
    pub fn open(spec: &RunSpec, seed: u64, classes: Option<Vec<String>>) -> Result<(Self, Vec<u64>)> {
        if !(0.0..1.0).contains(&spec.validation) {
            return Err(Error::Config(format!("--validation must be in [0, 1), got {}", spec.validation)));
        }
        if spec.patience > 0 && spec.validation == 0.0 {
            return Err(Error::Config("--early-stopping needs a validation set (--validation 0.1, say)".into()));
        }
        let (data, skipped) = data::load(&spec.train, &spec.csv(classes), spec.verify)?;
        let ex = data.examples();
        let fingerprint = Fingerprint::of(ex);
        let n = ex.len();
        let n_val = (spec.validation * n as f64).round() as usize;
        let split = if n_val == 0 {
            Split { train: None, validation: Vec::new() }
        } else {
            if n_val >= n {
                return Err(Error::Config(format!("--validation {} leaves no training rows of {n}", spec.validation)));
            }
            let mut perm: Vec<usize> = (0..n).collect();
            rng::shuffle(&mut rng::seeded(seed, rng::STREAM_SPLIT), &mut perm);
            let mut validation = perm[..n_val].to_vec();
            let mut train = perm[n_val..].to_vec();
            validation.sort_unstable();
            train.sort_unstable();
            // Rows read outside training steps are checked here, once (a binary file opened
            // without `verify`): the validation rows (the training rows, when a scaler is
            // fitted on them: see `fit_scaler`).
            data::check_rows(ex, validation.iter().copied())?;
            Split { train: Some(train), validation }
        };
        Ok((Self { data, split, fingerprint }, skipped))
    }

    /// Fits `spec.scale` on the training rows (from the statistics a binary file stores when
    /// every row trains). Refuses min-max scaling of a feature whose range overflows `f32`.
    pub fn fit_scaler(&self, spec: &RunSpec) -> Result<Scaler> {
        let scaler = match &self.split.train {
            None => self.data.fit_scaler(spec.scale),
            Some(train) => {
                self.check_scaled_rows(spec)?;
                ScalerFit::fit(Rows::subset(self.data.examples(), train), spec.scale)
            }
        };
        if let Some(j) = scaler.overflowing_feature() {
            return Err(Error::Mismatch(format!(
                "{}: feature {} ({}): its values span more than the largest f32, so --scale minmax cannot map \
                 them to [0, 1] in f32; use --scale standard or none, or rescale the column",
                spec.train.display(),
                j + 1,
                self.data.feature_names().get(j).map_or("?", |s| s.as_str())
            )));
        }
        Ok(scaler)
    }

    /// Checks, once, the training rows a scaler is fitted on (a held-out split with `--scale`
    /// other than none: those rows are read before any step). A resumed run checks them too, so
    /// a damaged row of an unverified binary file is refused when the run opens, as when it
    /// started, though the checkpoint's scaler is kept and nothing is refitted.
    pub fn check_scaled_rows(&self, spec: &RunSpec) -> Result<()> {
        match &self.split.train {
            Some(train) if spec.scale != Scale::None => data::check_rows(self.data.examples(), train.iter().copied()),
            _ => Ok(()),
        }
    }

    /// Refuses classification data whose rows all have one label. The task may name more
    /// classes than the rows use (MNIST's ten): the labels are read up to the first that
    /// differs, so a usual file costs a few rows. (A test set may hold one class: it is read
    /// against the model's classes, and never comes here.)
    pub fn check_two_classes(&self, spec: &RunSpec) -> Result<()> {
        let Some(classes) = self.data.task().classes() else { return Ok(()) };
        let ex = self.data.examples();
        let first = (!ex.is_empty()).then(|| ex.target(0).class()).flatten();
        if let Some(c) = first
            && (1..ex.len()).all(|i| ex.target(i).class() == Some(c))
        {
            return Err(Error::Mismatch(format!(
                "{}: every row has the label {:?}: a classifier needs at least 2 classes \
                 (use --task regression to fit a single value)",
                spec.train.display(),
                classes.get(c).map_or("?", |s| s.as_str())
            )));
        }
        Ok(())
    }

    /// Refuses a `--validation` fraction that holds out no row of this file (checked when a run
    /// starts; a resumed run keeps what it had).
    pub fn check_validation_rows(&self, spec: &RunSpec) -> Result<()> {
        if spec.validation > 0.0 && !self.split.validates() {
            let n = self.data.examples().len();
            let least = (0.5 / n.max(1) as f64 * 1e4).ceil() / 1e4;
            return Err(Error::Config(format!(
                "--validation {}: {} of {n} rows rounds to none held out; give at least {least}, or 0 for no validation",
                spec.validation,
                spec.validation * n as f64
            )));
        }
        Ok(())
    }
}

/// Checks that every rank of `c` read the same training data as this one (`fingerprint`: row,
/// feature and target counts and hash), all-gathering the four numbers.
pub(crate) fn check_same_data_on_every_rank(
    spec: &RunSpec,
    fingerprint: &Fingerprint,
    c: &dyn Collective,
) -> Result<()> {
    let f = fingerprint;
    let mine = [f.rows, f.features, f.targets, f.hash];
    let mut all = vec![0u64; 4 * c.size()];
    c.all_gather(bytemuck::cast_slice(&mine), bytemuck::cast_slice_mut(&mut all));
    if let Some(r) = all.chunks(4).position(|x| x != mine) {
        return Err(Error::Mismatch(format!(
            "{}: rank {} has other training data than rank {r} ({} rows x {} features here, {} x {} there); \
             every rank must read the same dataset",
            spec.train.display(),
            c.rank(),
            f.rows,
            f.features,
            all[4 * r],
            all[4 * r + 1]
        )));
    }
    Ok(())
}
