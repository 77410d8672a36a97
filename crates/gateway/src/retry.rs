//! Retries a call that failed before its first event: 429 and 5xx replies and
//! refused connections, waiting what `Retry-After` asks or backing off
//! exponentially. Once any event has reached the caller, an error is final, so
//! a user never sees text twice.

use crate::{Answer, ChatRequest, GatewayError, Provider, StreamEvent};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// The first backoff; doubles each time.
    pub base_delay: Duration,
    /// A provider asking to wait longer than this gets its error passed on
    /// instead (a user should not stare at nothing for minutes).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// How long to wait before try number `attempt + 1`, or `None` to give up.
    fn delay(&self, attempt: u32, error: &GatewayError) -> Option<Duration> {
        if attempt + 1 >= self.attempts || !error.is_retryable() {
            return None;
        }
        let wait = match error {
            GatewayError::RateLimited {
                retry_after: Some(d),
                ..
            } => *d,
            _ => self.base_delay * 2u32.pow(attempt),
        };
        (wait <= self.max_delay).then_some(wait)
    }
}

/// A provider whose calls are retried by `policy`.
pub struct Retrying {
    inner: Arc<dyn Provider>,
    policy: RetryPolicy,
}

impl Retrying {
    pub fn new(inner: Arc<dyn Provider>, policy: RetryPolicy) -> Self {
        Self { inner, policy }
    }
}

impl Provider for Retrying {
    fn unavailable(&self) -> Option<String> {
        self.inner.unavailable()
    }

    fn stream(
        &self,
        request: ChatRequest,
    ) -> BoxStream<'static, Result<StreamEvent, GatewayError>> {
        let inner = self.inner.clone();
        let policy = self.policy;
        async_stream::stream! {
            let mut attempt = 0;
            loop {
                let mut events = inner.stream(request.clone());
                match events.next().await {
                    None => return,
                    Some(Err(e)) => match policy.delay(attempt, &e) {
                        Some(wait) => {
                            tracing::info!(error = %e, ?wait, attempt, "retrying the provider call");
                            tokio::time::sleep(wait).await;
                            attempt += 1;
                        }
                        None => {
                            yield Err(e);
                            return;
                        }
                    },
                    Some(Ok(first)) => {
                        yield Ok(first);
                        while let Some(item) = events.next().await {
                            yield item;
                        }
                        return;
                    }
                }
            }
        }
        .boxed()
    }

    fn complete(&self, request: ChatRequest) -> BoxFuture<'static, Result<Answer, GatewayError>> {
        let inner = self.inner.clone();
        let policy = self.policy;
        async move {
            let mut attempt = 0;
            loop {
                match inner.complete(request.clone()).await {
                    Err(e) => match policy.delay(attempt, &e) {
                        Some(wait) => {
                            tokio::time::sleep(wait).await;
                            attempt += 1;
                        }
                        None => return Err(e),
                    },
                    ok => return ok,
                }
            }
        }
        .boxed()
    }

    fn list_models(&self) -> BoxFuture<'static, Result<Vec<String>, GatewayError>> {
        self.inner.list_models()
    }
}
