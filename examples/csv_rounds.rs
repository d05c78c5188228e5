//! Side-by-side CSV load timings (issue 13): the sequential parser and the block pipeline at 1
//! and 2 parser threads, alternated for several rounds in one run, so a noisy machine affects
//! them alike. Run: `cargo run --release --example csv_rounds -- FILE [ROUNDS]`.

use std::time::Instant;

use shardprop::data::open::Input;
use shardprop::data::{CsvOptions, Examples, csv};

fn main() -> shardprop::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = std::path::PathBuf::from(args.next().expect("usage: csv_rounds FILE [ROUNDS]"));
    let rounds: usize = args.next().map_or(3, |r| r.parse().expect("ROUNDS is a number"));
    let opts = CsvOptions::default();
    let mut reference = None;
    for round in 1..=rounds {
        let t = Instant::now();
        let (d, _) = csv::load_sequential_input(Input::open(&path)?, &opts)?;
        let sequential = t.elapsed().as_secs_f64();
        let rows = d.len();
        reference.get_or_insert(d);
        let mut line = format!("round {round}: sequential {sequential:.3} s");
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a pool");
            let t = Instant::now();
            let (d, _) = pool.install(|| csv::load_input(Input::open(&path)?, &opts))?;
            let s = t.elapsed().as_secs_f64();
            let same =
                reference.as_ref().is_some_and(|r| r.x() == d.x() && (0..r.len()).all(|i| r.target(i) == d.target(i)));
            assert!(same, "the pipeline read other rows than the sequential parser");
            line += &format!(", pipeline/{threads} {s:.3} s ({:.2}x)", sequential / s);
        }
        println!("{line} [{rows} rows]");
    }
    Ok(())
}
