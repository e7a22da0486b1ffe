//! Confinement of the running daemon: Landlock for files, a seccomp filter for system calls.
//!
//! Both are process-wide and irreversible, so only `ferryd serve` applies them, never
//! `Server::start` (tests run many servers in one process).
//!
//! **Landlock** is applied by [`restrict_files`] after [`super::Server::prepare`] has loaded
//! every key and the users file, and *before* the tokio runtime exists: below Landlock ABI 8
//! `landlock_restrict_self` confines only the calling thread and the threads it creates later,
//! so the one thread alive at that point must be the ancestor of every worker and blocking
//! thread. Binding the listeners afterwards is fine, as Landlock here limits file access only.
//! The rules allow, beneath each path:
//! - read and write (no execute, no devices, fifos or sockets): `data_dir`, `state_dir`, every
//!   user's home and folders, `sandbox.extra_write_paths`, and `server.leftover_uploads_dir`
//!   when leftovers are moved there;
//! - read: the directories holding the config file, the users file, the TLS certificate and key
//!   (also where their symlinks lead, for certbot's `live/` → `archive/`), so files replaced by
//!   an editor, `ferryd user` or a renewal are still readable on reload;
//!   `sandbox.extra_read_paths`; what glibc's resolver reads for `passive_address` host names
//!   (`/etc/hosts`, `/etc/resolv.conf`, NSS modules);
//! - create and append: the directory of `log.transfer_log` (logrotate's new file);
//! - list only: `/proc`, which cap-std walks to reach `/proc/self/fd` when changing modes.
//!
//! SSH host keys are read once at start and never again, so they get no rule.
//!
//! **seccomp** is applied by [`restrict_syscalls`] inside the runtime, just before the
//! listeners are bound and the front ends spawned, to every thread at once
//! (`SECCOMP_FILTER_FLAG_TSYNC`). It allows the system calls the daemon was seen to make
//! (see `docs/security.md`); anything else fails with `EPERM` rather than killing the process,
//! so a call we missed (a new libc using a new syscall) shows up as one failed operation in the
//! log instead of a dead server. `execve`, `ptrace`, `mount`, `bpf`, `io_uring_*`, `kill` and
//! namespace calls are among those refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use landlock::{
    Access, AccessFs, BitFlags, CompatLevel, Compatible, LandlockStatus, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};

use crate::config::{Config, LeftoverUploads};

/// The sandbox could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// Landlock must be applied while the process has one thread (see the module doc).
    #[error("Landlock must be applied before threads start, but the process has {0} threads")]
    Threads(usize),
    /// A directory the daemon must reach cannot be opened to build its rule.
    #[error("{key} = {path}: cannot open it for the Landlock rules: {source}")]
    Path {
        /// The config key naming it.
        key: &'static str,
        /// The path.
        path: PathBuf,
        /// Why.
        source: landlock::PathFdError,
    },
    /// The kernel refused the Landlock ruleset.
    #[error("Landlock: {0}")]
    Landlock(#[from] landlock::RulesetError),
    /// The seccomp filter could not be built or installed.
    #[error("seccomp: {0}")]
    Seccomp(#[from] seccompiler::Error),
    /// The seccomp filter could not be compiled to BPF.
    #[error("seccomp: {0}")]
    SeccompBackend(#[from] seccompiler::BackendError),
}

impl SandboxError {
    /// True when the admin fixes it in the configuration (exit code 78).
    pub fn is_configuration(&self) -> bool {
        matches!(self, SandboxError::Path { .. })
    }
}

/// The Landlock ABI whose file access rights we handle. Pinned rather than "newest" so a kernel
/// upgrade cannot start refusing something new: ABI 9 adds `ResolveUnix`, which would cut the
/// `NOTIFY_SOCKET` path systemd hands us.
const HANDLED_ABI: ABI = ABI::V8;

/// Applies the Landlock rules for `config` plus the user directories known at start. Call it
/// while the process has a single thread. Returns a description for the log, or `None` when
/// Landlock is off in the config.
pub fn restrict_files(
    config: &Config,
    user_dirs: &[PathBuf],
) -> Result<Option<String>, SandboxError> {
    let sandbox = &config.sandbox;
    if !sandbox.enabled || !sandbox.landlock {
        return Ok(None);
    }
    let threads = thread_count();
    if threads > 1 {
        return Err(SandboxError::Threads(threads));
    }
    let handled = AccessFs::from_all(HANDLED_ABI);
    let read = AccessFs::ReadFile | AccessFs::ReadDir;
    let write = read
        | AccessFs::WriteFile
        | AccessFs::Truncate
        | AccessFs::RemoveDir
        | AccessFs::RemoveFile
        | AccessFs::MakeDir
        | AccessFs::MakeReg
        | AccessFs::MakeSym
        | AccessFs::Refer;
    let append = AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::MakeReg;
    let read_file: BitFlags<AccessFs> = AccessFs::ReadFile.into();

    let mut rules: Vec<(PathBuf, BitFlags<AccessFs>)> = Vec::new();
    // Required: these exist (Server::prepare created them) and the daemon is useless without.
    let mut required = vec![
        ("server.data_dir", config.server.data_dir.clone()),
        ("server.state_dir", config.server.state_dir.clone()),
    ];
    let mut optional: Vec<(&'static str, PathBuf, BitFlags<AccessFs>)> = Vec::new();
    // Homes and folders beneath data_dir are covered by its rule. Compared after resolving
    // symlinks and `..` (a folder `dir = "../shared"` is outside), so a home that was already
    // a symlink elsewhere at start, as configured, keeps working. A new user's home inside
    // data_dir does not exist until the first login creates it.
    let data_dir = std::fs::canonicalize(&config.server.data_dir)
        .unwrap_or_else(|_| config.server.data_dir.clone());
    for dir in user_dirs {
        match std::fs::canonicalize(dir) {
            Ok(real) if real.starts_with(&data_dir) => {}
            Ok(real) => rules.push((real, write)),
            Err(_) if is_plainly_beneath(dir, &config.server.data_dir) => {}
            Err(_) => optional.push(("user home or folder", dir.clone(), write)),
        }
    }
    for dir in &sandbox.extra_write_paths {
        required.push(("sandbox.extra_write_paths", dir.clone()));
    }
    if config.server.leftover_uploads == LeftoverUploads::Move {
        required.push((
            "server.leftover_uploads_dir",
            config.server.leftover_uploads_dir.clone(),
        ));
    }
    check_paths(config)?;
    for path in &sandbox.extra_read_paths {
        rules.push((open_check("sandbox.extra_read_paths", path)?, read));
    }
    for (key, dir) in required {
        rules.push((open_check(key, &dir)?, write));
    }
    let mut files = vec![("auth.users_file", config.auth.users_file.clone())];
    if let Some(source) = &config.source {
        files.push(("config file", source.clone()));
    }
    if config.ftps.enabled {
        files.push(("ftps.cert", config.ftps.cert.clone()));
        files.push(("ftps.key", config.ftps.key.clone()));
    }
    for (key, file) in files {
        for dir in containing_dirs(&file) {
            optional.push((key, dir, read_file));
        }
    }
    if let Some(log) = &config.log.transfer_log {
        for dir in containing_dirs(log) {
            optional.push(("log.transfer_log", dir, append));
        }
    }
    // cap-std changes modes (SITE CHMOD, SFTP setstat) through `/proc/self/fd`, whose
    // directories rustix opens to check they really are procfs. Listing is all it needs;
    // without ReadFile no file under /proc (environ, maps, …) can be opened.
    if Path::new("/proc").is_dir() {
        rules.push((PathBuf::from("/proc"), AccessFs::ReadDir.into()));
    }
    // Which of these exist depends on the distribution; none is worth a warning.
    rules.extend(
        SYSTEM_FILES
            .iter()
            .map(PathBuf::from)
            .filter(|path| path.exists())
            .map(|path| (path, read_file)),
    );
    for (key, path, access) in optional {
        if path.exists() {
            rules.push((path, access));
        } else {
            tracing::warn!(
                path = %path.display(),
                what = key,
                "does not exist, so the sandbox cannot allow it; create it and restart"
            );
        }
    }

    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(handled)?
        // The daemon never signals another process; a compromised one should not either.
        .scope(Scope::Signal)?
        .create()?;
    for (path, access) in &rules {
        let fd = PathFd::new(path).map_err(|source| SandboxError::Path {
            key: "sandbox rule",
            path: path.clone(),
            source,
        })?;
        // Directory rights on a file would make the crate report "partially enforced".
        let access = if path.is_dir() {
            *access & handled
        } else {
            *access & AccessFs::from_file(HANDLED_ABI)
        };
        ruleset = ruleset.add_rule(PathBeneath::new(fd, access))?;
    }
    let status = ruleset.restrict_self()?;
    let abi = match status.landlock {
        LandlockStatus::Available { effective_abi, .. } => effective_abi.to_string(),
        LandlockStatus::NotEnabled => "disabled at boot".to_owned(),
        LandlockStatus::NotImplemented => "not in this kernel".to_owned(),
    };
    let state = match status.ruleset {
        RulesetStatus::FullyEnforced => "fully enforced",
        RulesetStatus::PartiallyEnforced => "partially enforced (older kernel)",
        RulesetStatus::NotEnforced => {
            tracing::warn!(
                landlock = %abi,
                "this kernel lacks Landlock: file access is NOT confined"
            );
            return Ok(Some(format!("not enforced (Landlock {abi})")));
        }
    };
    Ok(Some(format!(
        "{state}, Landlock ABI {abi}, {} rules",
        rules.len()
    )))
}

/// What glibc reads on its own: the resolver's configuration and the NSS modules it loads with
/// `dlopen` at the first lookup (`ftps.passive_address` host names are re-resolved at each
/// PASV), what malloc reads to size its arenas and before shrinking a thread's heap, and the
/// system's root certificates, which an object-storage client reads when it is built for a
/// bucket first named by a reloaded users file.
const SYSTEM_FILES: &[&str] = &[
    "/etc/ssl/certs",
    "/proc/sys/vm/overcommit_memory",
    "/sys/devices/system/cpu/online",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/ld.so.cache",
    "/lib",
    "/lib64",
    "/usr/lib",
    "/usr/lib64",
];

/// The paths the admin added to the sandbox must exist (a rule for a missing path would
/// silently allow nothing). `restrict_files` refuses them, and `check-config` asks this too.
pub fn check_paths(config: &Config) -> Result<(), SandboxError> {
    let sandbox = &config.sandbox;
    if !sandbox.enabled || !sandbox.landlock {
        return Ok(());
    }
    for path in &sandbox.extra_read_paths {
        open_check("sandbox.extra_read_paths", path)?;
    }
    for path in &sandbox.extra_write_paths {
        open_check("sandbox.extra_write_paths", path)?;
    }
    Ok(())
}

fn open_check(key: &'static str, path: &Path) -> Result<PathBuf, SandboxError> {
    PathFd::new(path).map_err(|source| SandboxError::Path {
        key,
        path: path.to_owned(),
        source,
    })?;
    Ok(path.to_owned())
}

/// The directory holding `file`, and the one holding what it resolves to when that differs
/// (a symlink into another directory).
fn containing_dirs(file: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        dirs.push(parent.to_owned());
    }
    if let Some(parent) = std::fs::canonicalize(file)
        .ok()
        .and_then(|real| real.parent().map(Path::to_owned))
    {
        if !dirs.contains(&parent) {
            dirs.push(parent);
        }
    }
    dirs
}

/// True when `path` lies beneath `dir` without any `..` that could lead back out.
fn is_plainly_beneath(path: &Path, dir: &Path) -> bool {
    path.starts_with(dir)
        && !path
            .components()
            .any(|part| part == std::path::Component::ParentDir)
}

/// Threads of this process, from `/proc/self/status`; 1 when that cannot be read.
fn thread_count() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Threads:"))
                .and_then(|count| count.trim().parse().ok())
        })
        .unwrap_or(1)
}

/// Installs the seccomp filter on every thread. Returns a description for the log, or `None`
/// when seccomp is off in the config or unsupported on this architecture.
pub fn restrict_syscalls(config: &Config) -> Result<Option<String>, SandboxError> {
    let sandbox = &config.sandbox;
    if !sandbox.enabled || !sandbox.seccomp {
        return Ok(None);
    }
    let Ok(arch) = seccompiler::TargetArch::try_from(std::env::consts::ARCH) else {
        tracing::warn!(
            arch = std::env::consts::ARCH,
            "no seccomp allow-list for this architecture: system calls are NOT filtered"
        );
        return Ok(None);
    };
    let rules: BTreeMap<i64, Vec<seccompiler::SeccompRule>> = ALLOWED_SYSCALLS
        .iter()
        .map(|&number| (number, Vec::new()))
        .collect();
    let filter = seccompiler::SeccompFilter::new(
        rules,
        seccompiler::SeccompAction::Errno(EPERM),
        seccompiler::SeccompAction::Allow,
        arch,
    )?;
    let program: seccompiler::BpfProgram = filter.try_into()?;
    seccompiler::apply_filter_all_threads(&program)?;
    Ok(Some(format!(
        "{} system calls allowed, others fail with EPERM",
        ALLOWED_SYSCALLS.len()
    )))
}

const EPERM: u32 = 1;

/// Every system call the daemon makes, found by running the release binary under
/// `strace -f -c` through the integration tests' workloads (FTPS and SFTP logins, uploads,
/// downloads, listings, renames, links, chmod, reload, shutdown) plus the fallbacks glibc takes
/// on older kernels. Grouped by who needs them.
const ALLOWED_SYSCALLS: &[i64] = &[
    // Memory (allocator, aws-lc, thread stacks).
    libc::SYS_brk,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mremap,
    libc::SYS_mprotect,
    libc::SYS_madvise,
    // russh locks its key buffers in memory so they are never swapped out.
    libc::SYS_mlock,
    libc::SYS_munlock,
    // Threads: tokio workers, spawn_blocking, the transfer log writer.
    libc::SYS_clone,
    libc::SYS_clone3,
    libc::SYS_futex,
    libc::SYS_set_robust_list,
    libc::SYS_rseq,
    libc::SYS_sched_yield,
    libc::SYS_sched_getaffinity,
    libc::SYS_gettid,
    libc::SYS_getpid,
    libc::SYS_prctl,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_restart_syscall,
    // Signals: tokio's handlers; tgkill is how abort() raises SIGABRT on a panic=abort path.
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_sigaltstack,
    libc::SYS_tgkill,
    // Time.
    libc::SYS_clock_gettime,
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
    libc::SYS_gettimeofday,
    // Randomness (aws-lc, rand, HashMap keys).
    libc::SYS_getrandom,
    // Event loop and descriptors.
    libc::SYS_epoll_create1,
    libc::SYS_epoll_ctl,
    libc::SYS_epoll_pwait,
    libc::SYS_epoll_pwait2,
    libc::SYS_ppoll,
    libc::SYS_eventfd2,
    libc::SYS_pipe2,
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_pread64,
    libc::SYS_pwrite64,
    libc::SYS_preadv,
    libc::SYS_pwritev,
    libc::SYS_lseek,
    libc::SYS_close,
    libc::SYS_dup,
    libc::SYS_dup3,
    libc::SYS_fcntl,
    libc::SYS_ioctl,
    // Files: cap-std's confined lookups (openat2 with RESOLVE_BENEATH) and the vfs operations.
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_newfstatat,
    libc::SYS_fstat,
    libc::SYS_statx,
    libc::SYS_fstatfs,
    libc::SYS_statfs,
    libc::SYS_getdents64,
    libc::SYS_mkdirat,
    libc::SYS_unlinkat,
    libc::SYS_renameat2,
    libc::SYS_linkat,
    libc::SYS_symlinkat,
    libc::SYS_readlinkat,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_fchmod,
    libc::SYS_fchmodat,
    libc::SYS_fchown,
    libc::SYS_fchownat,
    libc::SYS_utimensat,
    libc::SYS_ftruncate,
    libc::SYS_fallocate,
    libc::SYS_fsync,
    libc::SYS_fdatasync,
    libc::SYS_copy_file_range,
    libc::SYS_sendfile,
    libc::SYS_getcwd,
    libc::SYS_flock,
    // Network: listeners, passive and active data connections, sd_notify, DNS.
    libc::SYS_socket,
    libc::SYS_socketpair,
    libc::SYS_bind,
    libc::SYS_listen,
    libc::SYS_accept4,
    libc::SYS_connect,
    libc::SYS_getsockname,
    libc::SYS_getpeername,
    libc::SYS_setsockopt,
    libc::SYS_getsockopt,
    libc::SYS_sendto,
    libc::SYS_recvfrom,
    libc::SYS_sendmsg,
    libc::SYS_recvmsg,
    libc::SYS_sendmmsg,
    libc::SYS_recvmmsg,
    libc::SYS_shutdown,
    // Identity and limits (glibc, gethostname).
    libc::SYS_uname,
    libc::SYS_getuid,
    libc::SYS_geteuid,
    libc::SYS_getgid,
    libc::SYS_getegid,
    libc::SYS_prlimit64,
    // x86_64's older entry points, which glibc and Rust's std still use for some calls.
    #[cfg(target_arch = "x86_64")]
    libc::SYS_open,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_stat,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_lstat,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_access,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_readlink,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_rename,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_renameat,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_mkdir,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_unlink,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_rmdir,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_poll,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_epoll_wait,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_pipe,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_dup2,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_arch_prctl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_getdents,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_accept,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allow_list_has_no_duplicates_and_no_dangerous_calls() {
        let unique: std::collections::BTreeSet<i64> = ALLOWED_SYSCALLS.iter().copied().collect();
        assert_eq!(unique.len(), ALLOWED_SYSCALLS.len());
        for refused in [
            libc::SYS_execve,
            libc::SYS_execveat,
            libc::SYS_ptrace,
            libc::SYS_mount,
            libc::SYS_unshare,
            libc::SYS_setns,
            libc::SYS_bpf,
            libc::SYS_io_uring_setup,
            libc::SYS_kill,
            libc::SYS_setuid,
            libc::SYS_process_vm_readv,
        ] {
            assert!(!unique.contains(&refused), "{refused}");
        }
    }

    #[test]
    fn a_file_behind_a_symlink_brings_both_directories() {
        let temp = tempfile::tempdir().unwrap();
        let (live, archive) = (temp.path().join("live"), temp.path().join("archive"));
        std::fs::create_dir(&live).unwrap();
        std::fs::create_dir(&archive).unwrap();
        std::fs::write(archive.join("key1.pem"), "k").unwrap();
        std::os::unix::fs::symlink("../archive/key1.pem", live.join("key.pem")).unwrap();
        let dirs = containing_dirs(&live.join("key.pem"));
        assert_eq!(dirs, [live, std::fs::canonicalize(&archive).unwrap()]);
        assert_eq!(containing_dirs(&archive.join("key1.pem")).len(), 1);
    }

    #[test]
    fn only_plain_paths_count_as_beneath_data_dir() {
        let data = Path::new("/srv/data");
        assert!(is_plainly_beneath(Path::new("/srv/data/alice"), data));
        assert!(!is_plainly_beneath(Path::new("/srv/data/../shared"), data));
        assert!(!is_plainly_beneath(Path::new("/srv/other"), data));
    }

    #[test]
    fn a_disabled_sandbox_does_nothing() {
        let mut config = Config::default();
        config.sandbox.enabled = false;
        assert!(restrict_files(&config, &[]).unwrap().is_none());
        assert!(restrict_syscalls(&config).unwrap().is_none());
    }
}
