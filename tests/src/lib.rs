//! What the end-to-end tests share: building and finding the binaries, and
//! [`TestApp`], a real `edpd` process on a free port with its own data and
//! plugin directories.

pub mod app;
pub mod bench;
pub mod build;
pub mod spark;

pub use app::{Caller, Reply, TestApp};

use std::time::{Duration, Instant};

/// Polls `check` until it returns `Some`, or panics with `what` after
/// `timeout`. Tests wait for conditions, never for a fixed time.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
