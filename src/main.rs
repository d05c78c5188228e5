//! The `shardprop` command: a thin layer of argument parsing and output over the library.

mod cli;

use std::process::ExitCode;

use shardprop::kalloc::KernelArena;

/// The kernels' scratch memory comes from a per-thread arena: no heap allocation per step.
#[global_allocator]
static ALLOCATOR: KernelArena<std::alloc::System> = KernelArena::new(std::alloc::System);

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
