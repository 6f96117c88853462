//! The reliability rigs that run in-process: the fault proxy's own behaviour, the
//! fault scenario (uploads through a proxy that injects every fault kind) and the load test.
//!
//! Scale them by hand with `OSSPART_STRESS_ITERATIONS` (fault scenario uploads, default 20),
//! `OSSPART_LOAD_ROUNDS` (rounds of 32 concurrent uploads, default 1) and
//! `OSSPART_STRESS_SEED`; run with `--nocapture` to see the figures.

mod faults;
mod load;
mod proxy;
mod rig;
