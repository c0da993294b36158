//! The few system calls the runner makes beyond std.

use std::os::fd::AsRawFd;

/// This process's peak resident set size, KiB.
pub fn peak_rss_kb() -> u64 {
    // SAFETY: getrusage writes into the struct we pass.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) == 0 {
            u64::try_from(usage.ru_maxrss).unwrap_or(0)
        } else {
            0
        }
    }
}

/// Large allocations (≥ 1 MiB: buffers, tables) always come from mmap and
/// go back to the system when freed, so the resident size follows what is
/// live (glibc would otherwise raise the threshold after the first free,
/// keeping freed tables resident in the heap).
pub fn fix_mmap_threshold() {
    // SAFETY: mallopt only changes an allocator parameter.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// A process's peak RSS from /proc (`VmHWM`), KiB.
pub fn proc_peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub fn parent_pid() -> u32 {
    // SAFETY: no arguments, always succeeds.
    u32::try_from(unsafe { libc::getppid() }).unwrap_or(0)
}

/// Raises a pipe's buffer (fewer wake-ups per byte moved); best effort.
pub fn grow_pipe(fd: &impl AsRawFd, bytes: i32) {
    // SAFETY: F_SETPIPE_SZ on a descriptor we own; failure changes nothing.
    unsafe {
        libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, bytes);
    }
}

/// SIGKILL to one of our own children (which we have not reaped yet, so the
/// pid is still theirs).
pub fn kill(pid: u32) {
    if let Ok(pid) = i32::try_from(pid)
        && pid > 1
    {
        // SAFETY: a plain kill(2).
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

/// Waits until child `pid` has ended, leaving it unreaped (a zombie whose
/// pid is still taken), so the caller can unregister it before reaping.
pub fn wait_without_reaping(pid: u32) -> std::io::Result<()> {
    let id = libc::id_t::from(pid);
    loop {
        // SAFETY: waitid fills `info`; WNOWAIT leaves the child waitable.
        let rc = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(libc::P_PID, id, &mut info, libc::WEXITED | libc::WNOWAIT)
        };
        if rc == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

const SIGNALS: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

fn signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset initialise the set we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in SIGNALS {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Blocks SIGTERM, SIGINT and SIGHUP in this thread and every thread it
/// starts afterwards, so that only [`wait_for_signal`] receives them. (The
/// processes we spawn start with an empty mask: std resets it.)
pub fn block_signals() {
    let set = signal_set();
    // SAFETY: changes this thread's mask only.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Waits for one of the blocked signals; returns its number.
pub fn wait_for_signal() -> i32 {
    let set = signal_set();
    let mut sig: libc::c_int = 0;
    loop {
        // SAFETY: sigwait fills `sig`.
        if unsafe { libc::sigwait(&set, &mut sig) } == 0 {
            return sig;
        }
    }
}
