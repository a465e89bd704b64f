//! `swim agent --event-handler CMD`: runs `sh -c CMD` for every event, one
//! at a time, like serf's event handlers. Environment: `SWIM_EVENT`
//! (`joined`, `updated`, `suspected`, `alive`, `failed`, `left`, `message`,
//! `user`), `SWIM_MEMBER` (the member's address, or the sender's),
//! `SWIM_USER_EVENT` (a user event's name). Stdin: a user event's or
//! message's payload, or the member's metadata. The handler's stdout and
//! stderr go to the agent's stderr (stdout is the agent's event stream).
//! A handler running longer than [`HANDLER_TIMEOUT`] is killed; when more
//! than [`QUEUE`] events wait, new ones skip the handler (logged).

use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// Longest run of one handler.
pub(crate) const HANDLER_TIMEOUT: Duration = Duration::from_secs(30);
/// Events waiting for the handler at most.
pub(crate) const QUEUE: usize = 256;

/// One handler run.
pub(crate) struct Job {
    pub(crate) event: String,
    pub(crate) member: String,
    pub(crate) user_event: Option<String>,
    pub(crate) stdin: Vec<u8>,
}

/// Starts the handler task; send it jobs.
pub(crate) fn spawn(command: String) -> mpsc::Sender<Job> {
    let (tx, mut rx) = mpsc::channel::<Job>(QUEUE);
    tokio::spawn(async move {
        while let Some(job) = rx.recv().await {
            run(&command, job).await;
        }
    });
    tx
}

fn stderr() -> Stdio {
    use std::os::fd::AsFd;
    std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

async fn run(command: &str, job: Job) {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .env("SWIM_EVENT", &job.event)
        .env("SWIM_MEMBER", &job.member)
        .stdin(Stdio::piped())
        .stdout(stderr())
        .stderr(stderr())
        .kill_on_drop(true);
    match &job.user_event {
        Some(name) => cmd.env("SWIM_USER_EVENT", name),
        None => cmd.env_remove("SWIM_USER_EVENT"),
    };
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "event handler did not start");
            return;
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A handler that does not read its stdin is fine.
        let _ = stdin.write_all(&job.stdin).await;
    }
    match tokio::time::timeout(HANDLER_TIMEOUT, child.wait()).await {
        Ok(Ok(status)) if status.success() => {}
        Ok(Ok(status)) => tracing::warn!(event = %job.event, %status, "event handler failed"),
        Ok(Err(e)) => tracing::warn!(error = %e, "event handler"),
        Err(_) => {
            let _ = child.kill().await;
            tracing::warn!(event = %job.event, timeout = ?HANDLER_TIMEOUT, "event handler killed");
        }
    }
}
