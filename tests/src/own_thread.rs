//! The sandbox served from a runtime on a thread of its own, for blocking code and plain
//! `#[test]`s: blocking the calling thread never blocks the server.

use hpp_sandbox::{Sandbox, SandboxConfig};

/// Starts a sandbox on a new thread with its own Tokio runtime, which runs until the process
/// ends. The returned handle works from any thread.
pub fn sandbox_on_own_thread(config: SandboxConfig) -> Sandbox {
    let (ready, started) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a Tokio runtime");
        runtime.block_on(async move {
            let _ = ready.send(Sandbox::start(config).await);
            std::future::pending::<()>().await;
        });
    });
    started.recv().expect("the sandbox thread answered").expect("the sandbox started")
}
