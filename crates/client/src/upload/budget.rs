//! A transfer budget shared by many uploads at once (a whole directory tree): at most
//! `connections` request bodies in flight and at most `buffered_bytes` of part and object
//! data held in memory, whatever the number of files, `parallel` or part size.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Budget units are KiB so that any part size (up to 5 GiB) fits a semaphore's permit count.
const UNIT: u64 = 1024;

/// Limits shared by every upload that holds a clone.
#[derive(Debug, Clone)]
pub struct TransferBudget {
    connections: Arc<Semaphore>,
    bytes: Arc<Semaphore>,
    byte_units: u32,
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
        }
    }

    /// Waits for one connection and room for `bytes` of data.
    pub async fn acquire(&self, bytes: u64) -> BudgetPermit {
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
    use std::time::Duration;

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
}
