//! The lock that guards a device's sync state, and how a live sync steps
//! aside for another process of the same device.
//!
//! One process at a time changes sync state (`sync.lock`, an advisory file
//! lock). A command that needs it while a `sync --watch` holds it drops a
//! request file in `sync.pause/` and waits; the watcher sees the request,
//! saves, disconnects and unlocks, and takes the lock back once no request
//! is left and the lock is free. A request left by a killed process is
//! cleared once the lock has stayed free for 5 seconds while it stays.
//!
//! Within a process the lock is shared: a live sync of journals on several
//! relays runs one connection per relay, each holding the same lock. All
//! of them step aside for a request (the file is unlocked once the last
//! lets go), and none takes the lock back while a request is left.

use std::fs::{File, TryLockError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand_core::OsRng;

use super::Client;
use crate::error::{ClientError, Result};

/// Held while this process may change sync state.
#[derive(Debug)]
pub(crate) struct SyncLock(#[allow(dead_code)] Arc<File>);

/// Directory where processes ask a live sync to step aside (one file each).
const PAUSE_DIR: &str = "sync.pause";
/// How long a process waits for a live sync to step aside.
const PAUSE_WAIT: Duration = Duration::from_secs(10);
/// How long the lock stays free with a request left before the request is
/// taken to be a dead process's.
const STALE_REQUEST: Duration = Duration::from_secs(5);

/// Whether `file`'s lock was taken (`false`: someone else holds it).
fn take(file: &File) -> Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(e)) => Err(e.into()),
    }
}

impl Client {
    /// The lock a sync of this process already holds, shared.
    fn shared_lock(&self) -> Option<SyncLock> {
        let held = self.sync_lock.lock().unwrap_or_else(|p| p.into_inner());
        held.upgrade().map(SyncLock)
    }

    /// `file`, locked by this process, as the lock its syncs share.
    fn hold(&self, file: File) -> SyncLock {
        let file = Arc::new(file);
        *self.sync_lock.lock().unwrap_or_else(|p| p.into_inner()) = Arc::downgrade(&file);
        SyncLock(file)
    }

    fn lock_file(&self) -> Result<File> {
        Ok(File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.home.join("sync.lock"))?)
    }

    /// Take the lock if it is free; otherwise [`ClientError::SyncBusy`]. A
    /// live sync takes it this way: it never asks another live sync to step
    /// aside (two would take turns forever).
    pub(crate) fn try_lock(&self) -> Result<SyncLock> {
        if let Some(shared) = self.shared_lock() {
            return Ok(shared);
        }
        let file = self.lock_file()?;
        if take(&file)? {
            Ok(self.hold(file))
        } else {
            Err(ClientError::SyncBusy)
        }
    }

    /// Take the lock, asking a live sync that holds it to step aside. The
    /// request is withdrawn as soon as the lock is taken. Fails with
    /// [`ClientError::SyncBusy`] if the lock is not free within 10 seconds
    /// (another one-off sync is running, say).
    pub(crate) fn lock(&self) -> Result<SyncLock> {
        if let Some(shared) = self.shared_lock() {
            return Ok(shared);
        }
        let file = self.lock_file()?;
        if take(&file)? {
            return Ok(self.hold(file));
        }
        let dir = self.home.join(PAUSE_DIR);
        std::fs::create_dir_all(&dir)?;
        let request = dir.join(format!(
            "{}-{:016x}",
            std::process::id(),
            rand_core::RngCore::next_u64(&mut OsRng)
        ));
        File::create(&request)?;
        let deadline = Instant::now() + PAUSE_WAIT;
        let taken = loop {
            std::thread::sleep(Duration::from_millis(20));
            match take(&file) {
                Ok(false) if Instant::now() < deadline => {}
                Ok(false) => break Err(ClientError::SyncBusy),
                other => break other,
            }
        };
        let _ = std::fs::remove_file(&request);
        taken.map(|_| self.hold(file))
    }

    /// Whether another process asked the live sync holding the lock to step aside.
    pub(crate) fn pause_requested(&self) -> bool {
        std::fs::read_dir(self.home.join(PAUSE_DIR))
            .map(|mut d| d.next().is_some())
            .unwrap_or(false)
    }

    /// Wait (unlocked) until no process asks for the lock any more and it
    /// is free, then take it back; clears requests left by dead processes.
    pub(crate) async fn relock_after_pause(&self) -> Result<SyncLock> {
        let file = self.lock_file()?;
        let mut free_since: Option<Instant> = None;
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            // Another live sync of this process took it back first.
            if !self.pause_requested()
                && let Some(shared) = self.shared_lock()
            {
                return Ok(shared);
            }
            if !take(&file)? {
                free_since = None;
                continue;
            }
            if !self.pause_requested() {
                return Ok(self.hold(file));
            }
            if free_since.get_or_insert_with(Instant::now).elapsed() > STALE_REQUEST {
                if let Ok(entries) = std::fs::read_dir(self.home.join(PAUSE_DIR)) {
                    for entry in entries.flatten() {
                        let _ = std::fs::remove_file(entry.path());
                    }
                }
                return Ok(self.hold(file));
            }
            // Unlock at once: the requester is about to take it.
            file.unlock()?;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    #[test]
    fn a_process_waiting_for_the_lock_gets_it_once_the_holder_steps_aside() {
        let home = tempfile::tempdir().unwrap();
        let client = Client::open(home.path()).unwrap();
        let held = client.lock().unwrap();
        assert!(!client.pause_requested());
        let waiter = {
            let home = home.path().to_owned();
            std::thread::spawn(move || Client::open(&home).unwrap().lock().map(|_| ()))
        };
        // The holder (a live sync) sees the request, and lets go.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !client.pause_requested() {
            assert!(Instant::now() < deadline, "no request seen");
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(held);
        waiter.join().unwrap().unwrap();
        // The waiter withdrew its request once it had the lock.
        assert!(!client.pause_requested());
        runtime().block_on(client.relock_after_pause()).unwrap();
    }

    #[test]
    fn a_request_left_by_a_killed_process_does_not_pause_a_live_sync_forever() {
        let home = tempfile::tempdir().unwrap();
        let client = Client::open(home.path()).unwrap();
        let dir = home.path().join(PAUSE_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        File::create(dir.join("4242-dead")).unwrap();
        assert!(client.pause_requested());
        let started = Instant::now();
        let lock = runtime().block_on(client.relock_after_pause()).unwrap();
        assert!(started.elapsed() < Duration::from_secs(8));
        assert!(!client.pause_requested(), "the stale request was cleared");
        // And the live sync holds the lock again: nobody else gets it at once.
        assert!(!take(&client.lock_file().unwrap()).unwrap());
        drop(lock);
    }
}
