//! MPI as shardprop's [`Collective`] (the `mpi` feature, rsmpi 0.8).

use mpi::collective::{CommunicatorCollectives, Root};
use mpi::environment::Universe;
use mpi::topology::{Communicator, SimpleCommunicator};
use shardprop::engine::exchange::Collective;

use std::sync::{Mutex, MutexGuard};

/// The MPI world behind a mutex: under MPI_THREAD_SERIALIZED any thread may call MPI, but never
/// two at once, and the mutex is what makes that true (the training loop, which alone calls
/// collectives today, may run on any worker of the engine's pool).
pub struct Mpi {
    world: Mutex<World>,
}

/// The communicator, movable between threads.
struct World(SimpleCommunicator);

// SAFETY: MPI is initialised with MPI_THREAD_SERIALIZED (checked in `init`), which allows calls
// from any thread provided they never overlap; every use goes through `Mpi::world`'s mutex. The
// handle itself is an integer (MPI_Comm) with no thread affinity.
unsafe impl Send for World {}

/// Initialises MPI; keep the returned universe alive until the end of `main` (dropping it
/// finalises MPI).
pub fn init() -> anyhow::Result<(Universe, Mpi)> {
    let (universe, level) = mpi::initialize_with_threading(mpi::Threading::Serialized)
        .ok_or_else(|| anyhow::anyhow!("MPI could not be initialised (already initialised?)"))?;
    if level < mpi::Threading::Serialized {
        anyhow::bail!("this MPI library does not support MPI_THREAD_SERIALIZED (got {level:?})");
    }
    let world = universe.world();
    Ok((universe, Mpi { world: Mutex::new(World(world)) }))
}

impl Mpi {
    /// The communicator, held for one MPI call. A poisoned lock still holds a valid handle (a
    /// panic elsewhere cannot leave MPI half-called), so it is used as is.
    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Collective for Mpi {
    fn rank(&self) -> usize {
        self.world().0.rank() as usize
    }
    fn size(&self) -> usize {
        self.world().0.size() as usize
    }
    fn all_gather(&self, send: &[u8], recv: &mut [u8]) {
        self.world().0.all_gather_into(send, recv);
    }
    fn all_to_all(&self, send: &[u8], recv: &mut [u8]) {
        self.world().0.all_to_all_into(send, recv);
    }
    fn broadcast(&self, buf: &mut [u8]) {
        self.world().0.process_at_rank(0).broadcast_into(buf);
    }
    fn abort(&self, code: i32) -> ! {
        self.world().0.abort(code)
    }
}
