//! Where the control socket lives and how it is created and removed.
//!
//! Who may use it: the socket file is mode 0600, so only the user running
//! the agent (and root) can connect; whoever can connect can make the agent
//! leave, change its tags and keys. The file's permissions are the access
//! control, so the agent never lets the file exist with weaker ones:
//!
//! - it binds the socket inside a fresh private directory (mode 0700, next
//!   to the path), sets the socket to 0600 there, then hard-links it to the
//!   path (`link(2)` refuses to replace anything) and removes the
//!   private directory: no other user can connect at any moment, whatever
//!   the umask;
//! - it refuses to start when the path holds anything but a stale socket:
//!   a regular file, a directory, a symbolic link, or a socket a live agent
//!   answers on. A socket nobody answers on (connection refused) and owned
//!   by this user is a dead agent's: it is replaced;
//! - it refuses a path in a directory other users may write to, unless the
//!   directory is sticky (like `/tmp`), where they cannot remove or rename
//!   our file;
//! - on exit it removes the path only if it is still the socket it created
//!   (same device and inode).

use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// The environment variable naming the control socket (both sides).
pub const ENV: &str = "SWIM_CONTROL";

/// The longest path a unix socket address holds (`sun_path` minus NUL).
const MAX_PATH: usize = 107;

/// A control socket this agent created; [`ControlSocket::remove`] unlinks
/// it only while the path still names it.
#[derive(Debug)]
pub struct ControlSocket {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

/// This process's effective user id (the owner of `/proc/self`).
fn my_uid() -> Option<u32> {
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// The default directory for control sockets: `$XDG_RUNTIME_DIR/swim`,
/// `/run/swim` as root, `/tmp/swim-UID` otherwise.
pub fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("swim");
    }
    match my_uid() {
        Some(0) => PathBuf::from("/run/swim"),
        Some(uid) => PathBuf::from(format!("/tmp/swim-{uid}")),
        None => PathBuf::from("/tmp/swim"),
    }
}

/// The agent's control path: `--control`, else `$SWIM_CONTROL`, else
/// `PORT.sock` in [`default_dir`] (created 0700 and checked to be private).
pub fn agent_path(flag: Option<&Path>, port: u16) -> Result<PathBuf, String> {
    if let Some(p) = flag {
        return Ok(p.to_owned());
    }
    if let Some(p) = std::env::var_os(ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let dir = default_dir();
    ensure_private_dir(&dir)?;
    Ok(dir.join(format!("{port}.sock")))
}

/// A client's control path: `--control`, else `$SWIM_CONTROL`, else the one
/// socket in [`default_dir`] (`7946.sock` when there are several).
pub fn client_path(flag: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = flag {
        return Ok(p.to_owned());
    }
    if let Some(p) = std::env::var_os(ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let dir = default_dir();
    let mut socks: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| {
            format!(
                "no agent found: cannot read {} ({e}); start `swim agent` or pass --control PATH",
                dir.display()
            )
        })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sock"))
        .collect();
    socks.sort();
    match socks.len() {
        0 => Err(format!(
            "no agent found: no control socket in {}; start `swim agent` or pass --control PATH",
            dir.display()
        )),
        1 => Ok(socks.remove(0)),
        _ => {
            let default = dir.join("7946.sock");
            if socks.contains(&default) {
                return Ok(default);
            }
            let names: Vec<String> = socks.iter().map(|p| p.display().to_string()).collect();
            Err(format!(
                "several agents in {}: pick one with --control ({})",
                dir.display(),
                names.join(", ")
            ))
        }
    }
}

/// Creates `dir` (mode 0700) if missing; refuses one that is not a
/// directory, is another user's, or that others can read or write.
fn ensure_private_dir(dir: &Path) -> Result<(), String> {
    let shown = dir.display();
    match std::fs::DirBuilder::new()
        .recursive(false)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {
            // The parent is missing (e.g. no /run): create it normally,
            // then ours privately.
            if let Some(parent) = dir.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("control directory {shown}: {e}"))?;
            }
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(dir)
                .or_else(|e| {
                    if e.kind() == ErrorKind::AlreadyExists {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })
                .map_err(|e| format!("control directory {shown}: {e}"))?;
        }
        Err(e) => return Err(format!("control directory {shown}: {e}")),
    }
    let meta =
        std::fs::symlink_metadata(dir).map_err(|e| format!("control directory {shown}: {e}"))?;
    if !meta.is_dir() {
        return Err(format!("control directory {shown}: not a directory"));
    }
    if my_uid().is_some_and(|uid| uid != meta.uid()) {
        return Err(format!(
            "control directory {shown}: owned by uid {}, not by this user; pass --control PATH",
            meta.uid()
        ));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "control directory {shown}: mode {:o} lets other users in; chmod 700 it",
            meta.permissions().mode() & 0o7777
        ));
    }
    Ok(())
}

impl ControlSocket {
    /// Creates the socket at `path` with its final permissions (see the
    /// module docs) and returns it with its listener. Every error names the
    /// path and says what to do.
    pub fn create(path: &Path) -> Result<(ControlSocket, UnixListener), String> {
        let shown = path.display();
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let Some(name) = path.file_name() else {
            return Err(format!("control socket {shown}: not a file path"));
        };
        check_parent(&parent, path)?;
        // The private directory: `.NAME.RANDOM` next to the path, so the
        // link stays on one file system.
        let mut private = None;
        for attempt in 0..8u64 {
            let tag = swim_tokio::os_seed() ^ attempt;
            let dir = parent.join(format!(".{}.{tag:016x}", name.to_string_lossy()));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {
                    private = Some(dir);
                    break;
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(format!(
                        "control socket {shown}: cannot create a directory in {}: {e}",
                        parent.display()
                    ))
                }
            }
        }
        let Some(private) = private else {
            return Err(format!("control socket {shown}: no private directory"));
        };
        let result = Self::create_in(path, &private);
        let _ = std::fs::remove_file(private.join("s"));
        let _ = std::fs::remove_dir(&private);
        result
    }

    fn create_in(path: &Path, private: &Path) -> Result<(ControlSocket, UnixListener), String> {
        let shown = path.display();
        let temp = private.join("s");
        if temp.as_os_str().len() > MAX_PATH || path.as_os_str().len() > MAX_PATH {
            return Err(format!(
                "control socket {shown}: path too long for a unix socket (at most {} bytes \
                 here); choose a shorter --control",
                MAX_PATH.saturating_sub(
                    temp.as_os_str()
                        .len()
                        .saturating_sub(path.as_os_str().len())
                )
            ));
        }
        let listener =
            UnixListener::bind(&temp).map_err(|e| format!("control socket {shown}: {e}"))?;
        std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("control socket {shown}: {e}"))?;
        let mine =
            std::fs::symlink_metadata(&temp).map_err(|e| format!("control socket {shown}: {e}"))?;
        // What is at the path now: nothing, or a dead agent's socket.
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(format!("control socket {shown}: {e}")),
            Ok(there) => {
                if !there.file_type().is_socket() {
                    return Err(format!(
                        "control socket {shown}: the path exists and is not a socket; \
                         refusing to replace it (remove it or choose another --control)"
                    ));
                }
                match UnixStream::connect(path) {
                    Ok(_) => {
                        return Err(format!(
                            "control socket {shown}: another agent is running there; stop it \
                             or choose another --control"
                        ))
                    }
                    Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
                    Err(e) => {
                        return Err(format!(
                            "control socket {shown}: a socket is there and cannot be probed \
                             ({e}); refusing to replace it"
                        ))
                    }
                }
                if there.uid() != mine.uid() {
                    return Err(format!(
                        "control socket {shown}: a stale socket of uid {} is there; refusing \
                         to replace another user's file",
                        there.uid()
                    ));
                }
                tracing::info!(path = %shown, "replacing a stale control socket");
                // Only that same stale socket: if it changed meanwhile, the
                // link below fails.
                let still = std::fs::symlink_metadata(path).ok();
                if still.is_some_and(|s| s.dev() == there.dev() && s.ino() == there.ino()) {
                    std::fs::remove_file(path)
                        .map_err(|e| format!("control socket {shown}: stale socket: {e}"))?;
                }
            }
        }
        // link(2) never replaces: if anything appeared meanwhile, refuse.
        std::fs::hard_link(&temp, path).map_err(|e| {
            if e.kind() == ErrorKind::AlreadyExists {
                format!("control socket {shown}: the path appeared while starting; refusing")
            } else {
                format!("control socket {shown}: {e}")
            }
        })?;
        Ok((
            ControlSocket {
                path: path.to_owned(),
                dev: mine.dev(),
                ino: mine.ino(),
            },
            listener,
        ))
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the socket file if the path still names the socket this
    /// agent created; leaves anything else alone. (Dropping does this too.)
    pub fn remove(&self) {
        if let Ok(m) = std::fs::symlink_metadata(&self.path) {
            if m.dev() == self.dev && m.ino() == self.ino {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Refuses a directory other users may write to unless it is sticky.
fn check_parent(parent: &Path, path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(parent).map_err(|e| {
        format!(
            "control socket {}: directory {}: {e}",
            path.display(),
            parent.display()
        )
    })?;
    let mode = meta.permissions().mode();
    if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        return Err(format!(
            "control socket {}: directory {} (mode {:o}) is writable by other users; use a \
             private directory",
            path.display(),
            parent.display(),
            mode & 0o7777
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("swim-sock-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
        dir
    }

    #[test]
    fn created_0600_and_removed_only_while_ours() {
        let dir = scratch("mode");
        let path = dir.join("a.sock");
        let (sock, _listener) = ControlSocket::create(&path).unwrap();
        let m = std::fs::symlink_metadata(&path).unwrap();
        assert!(m.file_type().is_socket());
        assert_eq!(m.permissions().mode() & 0o777, 0o600);
        assert!(UnixStream::connect(&path).is_ok());
        // Only the socket is left in the directory (no private dir).
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        // Someone replaced the path: remove() leaves their file alone.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"theirs").unwrap();
        sock.remove();
        assert_eq!(std::fs::read(&path).unwrap(), b"theirs");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_files_live_agents_and_replaces_stale_sockets() {
        let dir = scratch("refuse");
        let file = dir.join("file.sock");
        std::fs::write(&file, b"precious").unwrap();
        let e = ControlSocket::create(&file).unwrap_err();
        assert!(e.contains("not a socket"), "{e}");
        assert_eq!(std::fs::read(&file).unwrap(), b"precious");

        let live = dir.join("live.sock");
        let (first, _l) = ControlSocket::create(&live).unwrap();
        let e = ControlSocket::create(&live).unwrap_err();
        assert!(e.contains("another agent is running"), "{e}");
        assert!(
            UnixStream::connect(&live).is_ok(),
            "first agent still reachable"
        );
        drop(first);
        assert!(!live.exists(), "dropping removes our own socket");

        let stale = dir.join("stale.sock");
        drop(UnixListener::bind(&stale).unwrap());
        let (_s, _l) = ControlSocket::create(&stale).unwrap();
        assert!(UnixStream::connect(&stale).is_ok());

        let link = dir.join("link.sock");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let e = ControlSocket::create(&link).unwrap_err();
        assert!(e.contains("not a socket"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_a_directory_others_can_write() {
        let dir = scratch("open");
        let open = dir.join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = ControlSocket::create(&open.join("x.sock")).unwrap_err();
        assert!(e.contains("writable by other users"), "{e}");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(ControlSocket::create(&open.join("x.sock")).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
