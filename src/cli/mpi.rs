//! MPI as shardprop's [`Collective`] (the `mpi` feature, rsmpi 0.8).

use mpi::collective::{CommunicatorCollectives, Root};
use mpi::environment::Universe;
use mpi::topology::{Communicator, SimpleCommunicator};
use shardprop::dist::Collective;

/// The MPI world. Collectives are called by one thread at a time: the one running the training
/// loop, which is a worker of the engine's pool (MPI "serialized").
pub struct Mpi {
    world: SimpleCommunicator,
}

// SAFETY: MPI is initialised with MPI_THREAD_SERIALIZED (checked in `init`), and the training
// loop, which alone calls collectives, runs on one thread at a time.
unsafe impl Send for Mpi {}
unsafe impl Sync for Mpi {}

/// Initialises MPI; keep the returned universe alive until the end of `main` (dropping it
/// finalises MPI).
pub fn init() -> anyhow::Result<(Universe, Mpi)> {
    let (universe, level) = mpi::initialize_with_threading(mpi::Threading::Serialized)
        .ok_or_else(|| anyhow::anyhow!("MPI could not be initialised (already initialised?)"))?;
    if level < mpi::Threading::Serialized {
        anyhow::bail!("this MPI library does not support MPI_THREAD_SERIALIZED (got {level:?})");
    }
    let world = universe.world();
    Ok((universe, Mpi { world }))
}

impl Collective for Mpi {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }
    fn size(&self) -> usize {
        self.world.size() as usize
    }
    fn all_gather(&self, send: &[u8], recv: &mut [u8]) {
        self.world.all_gather_into(send, recv);
    }
    fn all_to_all(&self, send: &[u8], recv: &mut [u8]) {
        self.world.all_to_all_into(send, recv);
    }
    fn broadcast(&self, buf: &mut [u8]) {
        self.world.process_at_rank(0).broadcast_into(buf);
    }
    fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}
