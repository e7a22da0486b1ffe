//! How a user runs this ferryd again: the commands ferryd prints for pasting into a shell.
//!
//! A hint like `ferryd user passwd ferry` is useless when `ferryd` is not on the PATH (after
//! `cargo run`) or when the daemon runs with a config other than the default. So every
//! printed command names the program as the user's shell can find it, the config it runs
//! with, and, when that config has relative paths, the working directory they resolve against.

use std::ffi::OsStr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::config::Config;

/// The config file used without `--config` (and without `FERRYD_CONFIG`).
pub const DEFAULT_CONFIG: &str = "/etc/ferryd/ferryd.toml";

/// The program name a user types when it is on the PATH.
const PROGRAM_NAME: &str = "ferryd";

/// How to run this ferryd, with this config, from a POSIX shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invocation {
    /// `ferryd` or the quoted absolute path of this executable.
    program: String,
    /// The absolute config path, when it is not the one used without `--config`.
    config: Option<PathBuf>,
    /// Where relative paths in the config resolve, when it has any.
    working_dir: Option<PathBuf>,
}

impl Invocation {
    /// Looks at the PATH, this executable and the working directory. Call it before the
    /// sandbox is applied, which may hide the PATH's directories.
    pub(crate) fn new(config_path: &Path, config: &Config) -> Invocation {
        let exe = current_exe();
        let path_var = std::env::var_os("PATH");
        let program = match &exe {
            Some(exe) if path_finds_same_file(path_var.as_deref(), exe) => PROGRAM_NAME.to_owned(),
            Some(exe) => quote(&exe.to_string_lossy()),
            // Without a known executable the name is the best guess left.
            None => PROGRAM_NAME.to_owned(),
        };
        let working_dir = if has_relative_paths(config) {
            std::env::current_dir().ok()
        } else {
            None
        };
        let config_path = absolute(config_path);
        let config_arg =
            (config_path != absolute(Path::new(DEFAULT_CONFIG))).then_some(config_path);
        Invocation::from_parts(program, config_arg, working_dir)
    }

    fn from_parts(
        program: String,
        config: Option<PathBuf>,
        working_dir: Option<PathBuf>,
    ) -> Invocation {
        Invocation {
            program,
            config,
            working_dir,
        }
    }

    /// Whether this is the config ferryd uses without `--config` (as the systemd unit does).
    pub(crate) fn uses_default_config(&self) -> bool {
        self.config.is_none()
    }

    /// The command line that runs ferryd with `args`, each quoted for the shell.
    pub(crate) fn command(&self, args: &[&str]) -> String {
        let mut words = vec![self.program.clone()];
        if let Some(config) = &self.config {
            words.push("--config".to_owned());
            words.push(quote(&config.to_string_lossy()));
        }
        words.extend(args.iter().map(|arg| quote(arg)));
        let command = words.join(" ");
        match &self.working_dir {
            // A subshell, so pasting it does not move the user's own shell.
            Some(dir) => format!("(cd {} && {command})", quote(&dir.to_string_lossy())),
            None => command,
        }
    }
}

/// True when a path the CLI subcommands use depends on the working directory.
fn has_relative_paths(config: &Config) -> bool {
    let server = &config.server;
    [
        &server.data_dir,
        &server.state_dir,
        &config.auth.users_file,
        &config.ftps.cert,
        &config.ftps.key,
    ]
    .into_iter()
    .chain(&config.sftp.host_keys)
    .any(|path| path.is_relative())
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

fn current_exe() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    // Linux names a replaced executable "… (deleted)"; the path itself holds the new build.
    if !exe.exists() {
        let text = exe.to_string_lossy();
        if let Some(original) = text.strip_suffix(" (deleted)") {
            return Some(PathBuf::from(original));
        }
    }
    Some(exe)
}

/// Whether a shell looking up `ferryd` in `path_var` runs the file `exe`.
fn path_finds_same_file(path_var: Option<&OsStr>, exe: &Path) -> bool {
    let Some(path_var) = path_var else {
        return false;
    };
    let Ok(target) = std::fs::metadata(exe) else {
        return false;
    };
    for dir in std::env::split_paths(path_var) {
        let candidate = dir.join(PROGRAM_NAME);
        let Ok(found) = std::fs::metadata(&candidate) else {
            continue;
        };
        if !found.is_file() || found.permissions().mode() & 0o111 == 0 {
            continue;
        }
        // The shell stops at the first match; a relative entry (`.`) would find another file
        // once the user is in another directory.
        return dir.is_absolute() && found.dev() == target.dev() && found.ino() == target.ino();
    }
    false
}

/// `word` as one word for a POSIX shell: as is when nothing in it is special, else in single
/// quotes (a quote inside becomes `'\''`).
pub(crate) fn quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./,:@+%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_owned();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_stay_and_others_are_single_quoted() {
        assert_eq!(quote("/usr/local/bin/ferryd"), "/usr/local/bin/ferryd");
        assert_eq!(quote("--random-password"), "--random-password");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("/home/me/my files"), "'/home/me/my files'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        for special in [
            "a$b", "a`b`", "a;b", "a&b", "a|b", "~x", "a*", "a\"b", "a\nb", "=x",
        ] {
            assert!(quote(special).starts_with('\''), "{special:?}");
        }
    }

    #[test]
    fn quoted_words_come_back_unchanged_through_sh() {
        let words = [
            "/tmp/a b/ferryd.toml",
            "it's",
            "$HOME `id` \\ \"x\"",
            "",
            "a\nb",
        ];
        let line = words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ");
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s\\0' {line}"))
            .output()
            .unwrap();
        let back: Vec<&str> = std::str::from_utf8(&output.stdout)
            .unwrap()
            .split_terminator('\0')
            .collect();
        assert_eq!(back, words);
    }

    #[test]
    fn command_adds_the_config_and_the_working_directory_only_when_needed() {
        let bare = Invocation::from_parts("ferryd".to_owned(), None, None);
        assert_eq!(
            bare.command(&["user", "passwd", "ferry", "--random-password"]),
            "ferryd user passwd ferry --random-password"
        );
        let full = Invocation::from_parts(
            "'/src/my ferryd/target/release/ferryd'".to_owned(),
            Some(PathBuf::from("/src/my ferryd/config/quickstart.toml")),
            Some(PathBuf::from("/src/my ferryd")),
        );
        assert_eq!(
            full.command(&["reload"]),
            "(cd '/src/my ferryd' && '/src/my ferryd/target/release/ferryd' \
             --config '/src/my ferryd/config/quickstart.toml' reload)"
        );
    }

    #[test]
    fn the_default_config_needs_no_flag_and_relative_paths_need_their_directory() {
        let absolute = "[server]\ndata_dir = \"/srv/ferryd\"\nstate_dir = \"/var/lib/ferryd\"\n";
        let parse = |text: &str| Config::parse(text, Path::new(DEFAULT_CONFIG)).unwrap();
        let invocation = Invocation::new(Path::new(DEFAULT_CONFIG), &parse(absolute));
        assert!(invocation.uses_default_config());
        assert_eq!(invocation.working_dir, None);
        let line = invocation.command(&["reload"]);
        assert!(
            line.ends_with(" reload") && !line.contains("--config"),
            "{line}"
        );

        let elsewhere = Invocation::new(Path::new("/opt/x/ferryd.toml"), &parse(absolute));
        assert_eq!(elsewhere.config, Some(PathBuf::from("/opt/x/ferryd.toml")));

        let relative = "[server]\ndata_dir = \"data\"\nstate_dir = \"/var/lib/ferryd\"\n";
        let invocation = Invocation::new(Path::new("quick.toml"), &parse(relative));
        let here = std::env::current_dir().unwrap();
        assert_eq!(invocation.working_dir, Some(here.clone()));
        assert_eq!(invocation.config, Some(here.join("quick.toml")));
    }

    #[test]
    fn path_lookup_takes_the_first_executable_ferryd_like_a_shell() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let make = |name: &str, mode: u32| -> PathBuf {
            let sub = dir.path().join(name);
            std::fs::create_dir(&sub).unwrap();
            let file = sub.join(PROGRAM_NAME);
            std::fs::write(&file, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            file
        };
        let ours = make("ours", 0o755);
        let other = make("other", 0o755);
        let not_executable = make("plain", 0o644);
        let linked = dir.path().join("linked");
        std::fs::create_dir(&linked).unwrap();
        std::os::unix::fs::symlink(&ours, linked.join(PROGRAM_NAME)).unwrap();
        let path = |dirs: &[&Path]| std::env::join_paths(dirs).unwrap();
        let parent = |file: &Path| file.parent().unwrap().to_owned();
        let (ours_dir, other_dir) = (parent(&ours), parent(&other));
        let plain_dir = parent(&not_executable);

        assert!(path_finds_same_file(Some(&path(&[&ours_dir])), &ours));
        assert!(path_finds_same_file(Some(&path(&[&linked])), &ours));
        assert!(path_finds_same_file(
            Some(&path(&[&plain_dir, &ours_dir])),
            &ours
        ));
        assert!(!path_finds_same_file(
            Some(&path(&[&other_dir, &ours_dir])),
            &ours
        ));
        assert!(!path_finds_same_file(Some(&path(&[&plain_dir])), &ours));
        assert!(!path_finds_same_file(None, &ours));
    }
}
