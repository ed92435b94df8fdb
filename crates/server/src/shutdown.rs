//! The server-wide shutdown signal every connection loop selects on.

use tokio::sync::watch;

/// Resolves when the server shuts down (or the server is gone).
pub(crate) async fn shutting_down(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|&s| s).await;
}
