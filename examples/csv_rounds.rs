//! Side-by-side CSV load timings (issue 13): the sequential parser and the block pipeline at 1
//! and 2 parser threads, alternated for several rounds in one run, so a noisy machine affects
//! them alike. Run: `cargo run --release --example csv_rounds -- FILE [ROUNDS]`.

use std::time::Instant;

use shardprop::data::open::Input;
use shardprop::data::{CsvOptions, Examples, csv};

/// CPU seconds used by this process so far (all threads).
fn cpu() -> f64 {
    // SAFETY: getrusage writes into the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 * 1e-6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn main() -> shardprop::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = std::path::PathBuf::from(args.next().expect("usage: csv_rounds FILE [ROUNDS]"));
    let rounds: usize = args.next().map_or(3, |r| r.parse().expect("ROUNDS is a number"));
    let opts = CsvOptions::default();
    let mut reference = None;
    for round in 1..=rounds {
        let (t, c) = (Instant::now(), cpu());
        let (d, _) = csv::load_sequential_input(Input::open(&path)?, &opts)?;
        let sequential = t.elapsed().as_secs_f64();
        let sequential_cpu = cpu() - c;
        let rows = d.len();
        reference.get_or_insert(d);
        let mut line = format!("round {round}: sequential {sequential:.3} s (cpu {sequential_cpu:.3})");
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a pool");
            let (t, c) = (Instant::now(), cpu());
            let (d, _) = pool.install(|| csv::load_input(Input::open(&path)?, &opts))?;
            let (s, s_cpu) = (t.elapsed().as_secs_f64(), cpu() - c);
            let same =
                reference.as_ref().is_some_and(|r| r.x() == d.x() && (0..r.len()).all(|i| r.target(i) == d.target(i)));
            assert!(same, "the pipeline read other rows than the sequential parser");
            line += &format!(", pipeline/{threads} {s:.3} s ({:.2}x, cpu {s_cpu:.3})", sequential / s);
        }
        println!("{line} [{rows} rows]");
    }
    Ok(())
}
