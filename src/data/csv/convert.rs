//! A CSV file to the binary dataset format, streaming.

use std::path::Path;

use super::classes::ClassMap;
use super::load::{load_input, stream};
use crate::data::open::Input;
use crate::data::{CsvOptions, Scale, Task, binary};
use crate::error::Result;

/// Converts a CSV file to the binary format in two streaming passes (the first learns the class
/// names, the second writes rows, through the same open file), so memory stays bounded whatever
/// the file size. Each pass is a bounded pipeline: a reader thread, parser threads, and the
/// calling thread taking the parsed blocks in file order (the writer in the second pass). A pipe or FIFO, which can be read only once, is loaded into memory in one pass
/// instead. Returns the rows written and the lines skipped.
pub fn convert(input: Input, output: &Path, opts: &CsvOptions) -> Result<(u64, Vec<u64>)> {
    let Some(again) = input.rewinder()? else {
        let (d, skipped) = load_input(input, opts)?;
        return Ok((binary::write(output, &d, &d.task, &d.feature_names, Scale::Standard)?, skipped));
    };
    let mut classes = ClassMap::default();
    let mut skipped = Vec::new();
    // Blocks number their classes themselves, as first seen (as `classes` does).
    let first_seen = CsvOptions { classes: None, ..opts.clone() };
    let layout = stream(input, opts, &first_seen, &mut classes, &mut skipped, |_, _| Ok(()))?;
    let features = layout.features();
    let task = if opts.regression {
        Task::Regression { targets: layout.targets.iter().map(|&j| layout.names[j].clone()).collect() }
    } else {
        Task::Classification { classes: classes.into_units().0 }
    };
    let mut fixed = task.classes().map(ClassMap::fixed).unwrap_or_default();
    let mut w = binary::BinaryWriter::create(output, features.len(), &task)?;
    let mut skipped_again = Vec::new();
    let fixed_opts = CsvOptions { classes: task.classes().map(<[String]>::to_vec), ..opts.clone() };
    stream(again.rewind()?, opts, &fixed_opts, &mut fixed, &mut skipped_again, |row, target| w.push(row, target))?;
    let names: Vec<String> = features.iter().map(|&j| layout.names[j].clone()).collect();
    Ok((w.finish(&task, &names)?, skipped))
}
