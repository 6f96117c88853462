//! Test support for osspart, shared by the reliability rigs and the crates' own tests.
//!
//! - [`fault_proxy`]: a loopback HTTP/1.1 proxy that injects resets, stalls, truncated
//!   answers, OSS errors and latency per request, and counts what it did and forwarded.
//! - [`local_server`]: an in-process `osspart serve` on a temp dir with known credentials.
//! - [`test_data`]: deterministic, incompressible source bytes from a seed.
//!
//! Nothing here is meant for production use; the crate is not published.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod fault_proxy;
pub mod local_server;
pub mod test_data;

pub use fault_proxy::{
    Cut, Fault, FaultKind, FaultProxy, FaultRule, FaultStats, InjectedError, Phase, SeenRequest,
};
pub use local_server::LocalServer;
pub use test_data::{object_bytes, SeededSizes};
