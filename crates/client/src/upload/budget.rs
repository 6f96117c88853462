//! A transfer budget shared by many uploads at once (a whole directory tree): at most
//! `connections` request bodies in flight and at most `buffered_bytes` of part and object
//! data held in memory, whatever the number of files, `parallel` or part size; optionally a
//! bandwidth cap that every body sent or received under the budget is paced to.

use std::sync::Arc;

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Budget units are KiB so that any part size (up to 5 GiB) fits a semaphore's permit count.
const UNIT: u64 = 1024;

/// Limits shared by every upload that holds a clone.
#[derive(Debug, Clone)]
pub struct TransferBudget {
    connections: Arc<Semaphore>,
    bytes: Arc<Semaphore>,
    byte_units: u32,
    rate: Option<Arc<Pacer>>,
}

/// Paces bodies to a byte rate: each request gets the next free slot of the shared timeline
/// (its length `bytes / rate`) and waits until the slot begins. Over any stretch the bytes
/// started stay within the rate plus one request.
#[derive(Debug)]
struct Pacer {
    bytes_per_second: u64,
    next_free: Mutex<Option<Instant>>,
}

impl Pacer {
    async fn wait_for(&self, bytes: u64) {
        let start = {
            let mut next = self.next_free.lock().unwrap();
            let now = Instant::now();
            let start = next.filter(|t| *t > now).unwrap_or(now);
            let length = Duration::from_secs_f64(bytes as f64 / self.bytes_per_second as f64);
            *next = Some(start + length);
            start
        };
        tokio::time::sleep_until(start).await;
    }
}

/// One request's share of a [`TransferBudget`], returned when dropped.
#[derive(Debug)]
pub struct BudgetPermit {
    _connection: OwnedSemaphorePermit,
    _bytes: OwnedSemaphorePermit,
}

impl TransferBudget {
    /// A budget of `connections` bodies in flight (at least 1) and `buffered_bytes` of data
    /// held at once (at least 1 KiB). A single request larger than the whole byte budget
    /// waits until it has the budget to itself.
    pub fn new(connections: usize, buffered_bytes: u64) -> TransferBudget {
        let byte_units = (buffered_bytes / UNIT).clamp(1, u64::from(u32::MAX >> 3)) as u32;
        TransferBudget {
            connections: Arc::new(Semaphore::new(connections.max(1))),
            bytes: Arc::new(Semaphore::new(byte_units as usize)),
            byte_units,
            rate: None,
        }
    }

    /// The same budget, with every body paced to at most `bytes_per_second` in all.
    pub fn with_bandwidth_limit(mut self, bytes_per_second: u64) -> TransferBudget {
        self.rate = Some(Arc::new(Pacer {
            bytes_per_second: bytes_per_second.max(1),
            next_free: Mutex::new(None),
        }));
        self
    }

    /// Waits for one connection and room for `bytes` of data (and, under a bandwidth limit,
    /// for the moment those bytes may start).
    pub async fn acquire(&self, bytes: u64) -> BudgetPermit {
        let requested = bytes;
        let units = bytes.div_ceil(UNIT).clamp(1, u64::from(self.byte_units)) as u32;
        // Memory first: a request that waits for memory should not hold a connection.
        let bytes = self
            .bytes
            .clone()
            .acquire_many_owned(units)
            .await
            .expect("budget semaphores are never closed");
        let connection = self
            .connections
            .clone()
            .acquire_owned()
            .await
            .expect("budget semaphores are never closed");
        if let Some(pacer) = &self.rate {
            pacer.wait_for(requested).await;
        }
        BudgetPermit {
            _connection: connection,
            _bytes: bytes,
        }
    }

    /// Bytes of data that may be held at once.
    pub fn buffered_bytes(&self) -> u64 {
        u64::from(self.byte_units) * UNIT
    }

    /// Connections not in use right now (for tests and reports).
    pub fn idle_connections(&self) -> usize {
        self.connections.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn holds_requests_to_the_budget() {
        let budget = TransferBudget::new(2, 100 * 1024);
        let a = budget.acquire(60 * 1024).await;
        // Not enough memory left for another 60 KiB.
        let waiting = tokio::time::timeout(Duration::from_millis(50), budget.acquire(60 * 1024));
        assert!(waiting.await.is_err());
        let b = budget.acquire(10 * 1024).await;
        assert_eq!(budget.idle_connections(), 0);
        drop(a);
        // `a` gave back its memory and its connection.
        let c = budget.acquire(60 * 1024).await;
        drop((b, c));
        // A request larger than the whole budget still runs, alone.
        let big = budget.acquire(1 << 30).await;
        let blocked = tokio::time::timeout(Duration::from_millis(50), budget.acquire(1));
        assert!(blocked.await.is_err());
        drop(big);
        assert_eq!(budget.idle_connections(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn paces_bodies_to_the_rate() {
        let budget = TransferBudget::new(4, 1 << 30).with_bandwidth_limit(1000);
        let start = Instant::now();
        // 10 requests of 500 bytes at 1000 B/s: the last may start after 4.5 s.
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let b = budget.clone();
            tasks.push(tokio::spawn(async move {
                let _p = b.acquire(500).await;
                Instant::now()
            }));
        }
        let mut starts = Vec::new();
        for t in tasks {
            starts.push(t.await.unwrap() - start);
        }
        starts.sort();
        assert_eq!(starts[0], Duration::ZERO);
        assert_eq!(starts[9], Duration::from_millis(4500));
    }
}
