//! The gRPC channel to buildkitd: HTTP/2 over this process's stdin/stdout,
//! which buildkitd wired to its LLBBridge server when it started us.

use std::sync::{Arc, Mutex};

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint};

/// Largest gRPC message we send or accept: definitions and files can be big.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

type Stdio = tokio::io::Join<tokio::io::Stdin, tokio::io::Stdout>;

/// Connect once over stdio. A second connection attempt (tonic reconnecting
/// after the pipe closed) fails instead of reading from a dead pipe.
pub async fn stdio_channel() -> Result<Channel, tonic::transport::Error> {
    let stdio: Arc<Mutex<Option<Stdio>>> = Arc::new(Mutex::new(Some(tokio::io::join(
        tokio::io::stdin(),
        tokio::io::stdout(),
    ))));
    // The URI is required by the API but never resolved: the connector decides.
    Endpoint::from_static("http://buildkitd.invalid")
        .connect_with_connector(tower::service_fn(move |_| {
            let stdio = stdio.clone();
            async move {
                let taken = stdio.lock().map(|mut slot| slot.take()).unwrap_or(None);
                taken.map(TokioIo::new).ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::NotConnected,
                        "stdio connection to buildkitd already used",
                    )
                })
            }
        }))
        .await
}
