//! Tools around training: the `bench` workloads and the finite-difference gradient check.

pub mod bench;
pub mod gradcheck;
