//! Keeping a secret out of core files.
//!
//! Called before the password or token is read (from a file, a variable or
//! a command): from then on the process holds it, and a crash must not
//! write it to disk, nor may another process of the same user read it
//! through ptrace or `/proc/PID/mem`.

/// Makes the process non-dumpable (`prctl(PR_SET_DUMPABLE, 0)`, Linux) and
/// sets its core size limit to 0, soft and hard (every Unix).
///
/// Both, because neither is enough alone: a non-dumpable process is still
/// dumped, readable by root, when `fs.suid_dumpable` is 2 (as some
/// distributions set it for their crash reporters), and the core limit does
/// not stop ptrace or `/proc/PID/mem` access by the user's other processes,
/// which non-dumpable does. The limit is inherited by the password command,
/// which holds the secret too. Failures are ignored: they leave the process
/// as it was, which is no reason to refuse to send.
pub(crate) fn no_core_dumps() {
    #[cfg(target_os = "linux")]
    {
        let _ =
            rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
    }
    #[cfg(unix)]
    {
        let none = rustix::process::Rlimit {
            current: Some(0),
            maximum: Some(0),
        };
        let _ = rustix::process::setrlimit(rustix::process::Resource::Core, none);
    }
}
