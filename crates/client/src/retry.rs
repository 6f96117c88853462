//! One retry runner for every retried call: the client's [`RetryPolicy`] decides which errors
//! are worth another attempt and how long to wait, and an optional budget shared by every
//! call of one transfer (parts, initiate, complete, abort, listings) caps the retries all of
//! them take together.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::config::RetryPolicy;
use crate::error::{Error, Result};

/// A retry policy, optionally with a budget of retries shared by all its clones.
#[derive(Debug, Clone)]
pub struct Retrier {
    policy: RetryPolicy,
    budget: Option<Arc<AtomicU32>>,
}

impl Retrier {
    /// Retries per `policy`, without a shared budget.
    pub fn new(policy: RetryPolicy) -> Retrier {
        Retrier {
            policy,
            budget: None,
        }
    }

    /// The same policy, with at most `total` retries across every call made with this
    /// retrier and its clones.
    pub fn with_budget(mut self, total: u32) -> Retrier {
        self.budget = Some(Arc::new(AtomicU32::new(total)));
        self
    }

    /// The same budget, with at most `per_call` retries for each call.
    pub fn with_max_retries(mut self, per_call: u32) -> Retrier {
        self.policy.max_retries = per_call;
        self
    }

    /// The policy in force.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Retries left in the shared budget (`None` without one).
    pub fn budget_left(&self) -> Option<u32> {
        self.budget.as_ref().map(|b| b.load(Ordering::SeqCst))
    }

    /// Starts counting the attempts of one call.
    pub fn attempts(&self) -> Attempts<'_> {
        Attempts {
            retrier: self,
            retries: 0,
        }
    }

    /// Runs `call` (given the retry number, 0 first) until it succeeds, fails with an error
    /// not worth retrying, or the retries are used up; waits the policy's backoff in between.
    pub async fn run<T, F, Fut>(&self, op: &str, mut call: F) -> Result<T>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut attempts = self.attempts();
        loop {
            match call(attempts.retries()).await {
                Ok(v) => return Ok(v),
                Err(e) => match attempts.next_delay(&e) {
                    Some(delay) => {
                        tracing::debug!(op, retry = attempts.retries(), error = %e, ?delay, "retrying");
                        tokio::time::sleep(delay).await;
                    }
                    None => return Err(e),
                },
            }
        }
    }
}

/// The attempts of one call so far.
#[derive(Debug)]
pub struct Attempts<'a> {
    retrier: &'a Retrier,
    retries: u32,
}

impl Attempts<'_> {
    /// Retries taken so far.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// After a failed attempt: the wait before the next one, or `None` when `error` is not
    /// worth retrying or no retry is left (for this call or in the shared budget).
    pub fn next_delay(&mut self, error: &Error) -> Option<Duration> {
        if !error.is_retryable() || self.retries >= self.retrier.policy.max_retries {
            return None;
        }
        if let Some(budget) = &self.retrier.budget {
            let took = budget
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                    left.checked_sub(1)
                })
                .is_ok();
            if !took {
                tracing::debug!(error = %error, "the transfer's retry budget is used up");
                return None;
            }
        }
        self.retries += 1;
        Some(self.retrier.policy.backoff(self.retries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max: u32) -> RetryPolicy {
        RetryPolicy {
            max_retries: max,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        }
    }

    fn flaky() -> Error {
        Error::transport("reset")
    }

    #[test]
    fn per_call_limit_and_shared_budget() {
        let r = Retrier::new(policy(2)).with_budget(3);
        let mut a = r.attempts();
        assert!(a.next_delay(&flaky()).is_some());
        assert!(a.next_delay(&flaky()).is_some());
        assert!(a.next_delay(&flaky()).is_none(), "2 per call");
        let clone = r.clone();
        let mut b = clone.attempts();
        assert!(b.next_delay(&flaky()).is_some());
        assert!(
            b.next_delay(&flaky()).is_none(),
            "the budget of 3 is shared"
        );
        assert_eq!(r.budget_left(), Some(0));
    }

    #[test]
    fn errors_not_worth_retrying_end_at_once() {
        let r = Retrier::new(policy(5));
        let mut a = r.attempts();
        assert!(a.next_delay(&Error::Cancelled).is_none());
        assert_eq!(a.retries(), 0);
    }

    #[tokio::test]
    async fn run_passes_the_retry_number() {
        let r = Retrier::new(policy(3));
        let mut seen = Vec::new();
        let out = r
            .run("test", |n| {
                seen.push(n);
                async move {
                    if n < 2 {
                        Err(flaky())
                    } else {
                        Ok(n)
                    }
                }
            })
            .await
            .unwrap();
        assert_eq!(out, 2);
        assert_eq!(seen, vec![0, 1, 2]);
    }
}
