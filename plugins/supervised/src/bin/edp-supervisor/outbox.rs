//! Messages down a pipe between keeper and worker, never blocking the
//! sender: what the pipe cannot take now waits here (up to a bound) for the
//! next send or flush.

use std::os::fd::OwnedFd;

use rustix::io::Errno;
use serde::Serialize;

use crate::log;

/// Beyond this, a reader that does not read loses messages (and says so).
const LIMIT: usize = 16 << 20;

pub struct Outbox {
    fd: OwnedFd,
    pending: Vec<u8>,
    broken: bool,
    name: &'static str,
}

impl Outbox {
    /// `fd` is the pipe's write end, non-blocking.
    pub fn new(fd: OwnedFd, name: &'static str) -> Self {
        Self { fd, pending: Vec::new(), broken: false, name }
    }

    pub fn send<T: Serialize>(&mut self, message: &T) {
        if self.broken {
            return;
        }
        self.pending.extend(edp_supervised::protocol::line(message));
        self.flush();
        if self.pending.len() > LIMIT {
            log!("the {} does not read its messages: {} bytes of them dropped", self.name, self.pending.len());
            self.pending.clear();
        }
    }

    pub fn flush(&mut self) {
        while !self.pending.is_empty() {
            match rustix::io::write(&self.fd, &self.pending) {
                Ok(n) => drop(self.pending.drain(..n)),
                Err(Errno::AGAIN) => return,
                Err(Errno::INTR) => {}
                Err(e) => {
                    log!("the {} is gone ({e}): it is told nothing more", self.name);
                    self.broken = true;
                    self.pending.clear();
                }
            }
        }
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }
}
