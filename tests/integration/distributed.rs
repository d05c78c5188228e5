//! The distributed engine without MPI: ranks are threads exchanging through an in-process
//! collective with MPI's all-gather and broadcast semantics. R ranks must end with the bits of one
//! process, for R = 1 to 5 and several shard counts (the MPI tests then check the real thing).

use std::sync::{Arc, Barrier, Mutex};

use shardprop::data::{Scale, ScalerFit};
use shardprop::dist::Collective;
use shardprop::optim::Method;
use shardprop::{Activation, Head, Network, TrainConfig, Trainer, rng};

use crate::common::classification_data;

struct Group {
    barrier: Barrier,
    slots: Mutex<Vec<Vec<u8>>>,
    size: usize,
}

struct Rank {
    group: Arc<Group>,
    rank: usize,
}

impl Collective for Rank {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.group.size
    }
    fn all_gather(&self, send: &[u8], recv: &mut [u8]) {
        self.group.slots.lock().unwrap()[self.rank] = send.to_vec();
        self.group.barrier.wait();
        {
            let slots = self.group.slots.lock().unwrap();
            for (r, s) in slots.iter().enumerate() {
                recv[r * send.len()..(r + 1) * send.len()].copy_from_slice(s);
            }
        }
        self.group.barrier.wait();
    }
    fn broadcast(&self, buf: &mut [u8]) {
        if self.rank == 0 {
            self.group.slots.lock().unwrap()[0] = buf.to_vec();
        }
        self.group.barrier.wait();
        if self.rank != 0 {
            buf.copy_from_slice(&self.group.slots.lock().unwrap()[0]);
        }
        self.group.barrier.wait();
    }
    fn abort(&self, code: i32) -> ! {
        panic!("abort({code})")
    }
}

fn train(cfg: &TrainConfig, ranks: usize) -> Vec<String> {
    let data = Arc::new(classification_data(500, 10, 4, 21));
    let group =
        Arc::new(Group { barrier: Barrier::new(ranks), slots: Mutex::new(vec![Vec::new(); ranks]), size: ranks });
    let handles: Vec<_> = (0..ranks)
        .map(|rank| {
            let (data, group, cfg) = (Arc::clone(&data), Arc::clone(&group), cfg.clone());
            std::thread::spawn(move || {
                let scaler = ScalerFit::fit(data.as_ref(), Scale::Standard);
                // Ranks other than 0 start from other weights: the broadcast must fix that.
                let seed = if rank == 0 { cfg.seed } else { 1000 + rank as u64 };
                let net = Network::<f32>::new(
                    &[10, 13, 4],
                    Activation::Tanh,
                    Head::SoftmaxCrossEntropy,
                    &mut rng::seeded(seed, 0),
                )
                .unwrap();
                let mut t = Trainer::new(net, cfg, 1).unwrap();
                if ranks > 1 {
                    t.set_collective(Arc::new(Rank { group, rank }));
                }
                let reports = t.train(data.as_ref(), &scaler, |_| {}).unwrap();
                let last = reports.last().unwrap();
                format!("{} {:016x}", t.network().params_digest(), last.train_loss.to_bits())
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn any_number_of_ranks_ends_with_the_bits_of_one_process() {
    for (batch, shard, method) in [
        (100, 8, Method::GradientDescent),
        (0, 30, Method::parse("adam", 0.9).unwrap()),
        (64, 64, Method::parse("momentum", 0.9).unwrap()),
    ] {
        let cfg = TrainConfig {
            epochs: 3,
            batch_size: batch,
            lr: 0.05,
            seed: 3,
            shard_size: shard,
            optimizer: method,
            ..Default::default()
        };
        let single = train(&cfg, 1);
        for ranks in [2, 3, 4, 5] {
            let all = train(&cfg, ranks);
            for (r, got) in all.iter().enumerate() {
                assert_eq!(got, &single[0], "batch {batch} shard {shard} {method:?}: rank {r} of {ranks}");
            }
        }
    }
}
