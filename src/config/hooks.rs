//! `[[hook]]` and `[hooks]`: what runs when users do things, and the bounds on running it.
//!
//! The same hook table is accepted in `ferryd.toml` (for everyone, or the users it names) and
//! as `[[user.hook]]` in the users file (for that user, on top of the global ones), so its raw
//! form and its checks live here once; `hooks` runs them.

use std::path::PathBuf;
use std::time::Duration;

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

use super::error::{locate, Problem};

/// Something a user did that a hook can follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HookEvent {
    /// A file was uploaded (committed under its final name).
    Upload,
    /// A file was downloaded to its end.
    Download,
    /// A file was removed.
    Delete,
    /// A file or directory was renamed.
    Rename,
    /// A directory was created.
    Mkdir,
    /// A directory was removed.
    Rmdir,
    /// A user logged in.
    Login,
    /// A login was refused.
    LoginFailed,
}

impl HookEvent {
    /// Every event, for messages.
    pub const ALL: [HookEvent; 8] = [
        HookEvent::Upload,
        HookEvent::Download,
        HookEvent::Delete,
        HookEvent::Rename,
        HookEvent::Mkdir,
        HookEvent::Rmdir,
        HookEvent::Login,
        HookEvent::LoginFailed,
    ];

    /// The name in the config, `FERRYD_EVENT` and the webhook body.
    pub fn as_str(self) -> &'static str {
        match self {
            HookEvent::Upload => "upload",
            HookEvent::Download => "download",
            HookEvent::Delete => "delete",
            HookEvent::Rename => "rename",
            HookEvent::Mkdir => "mkdir",
            HookEvent::Rmdir => "rmdir",
            HookEvent::Login => "login",
            HookEvent::LoginFailed => "login_failed",
        }
    }

    fn parse(text: &str) -> Option<HookEvent> {
        HookEvent::ALL
            .into_iter()
            .find(|event| event.as_str() == text)
    }
}

/// What a hook does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookAction {
    /// Runs a program (argv; no shell) with the event in its environment.
    Command(Vec<String>),
    /// POSTs the event as JSON; signed with HMAC-SHA256 when a secret file is set.
    Webhook {
        /// `http://` or `https://`.
        url: String,
        /// The HMAC key, read when the config is loaded (must not be readable by others).
        secret_file: Option<PathBuf>,
    },
}

/// One validated `[[hook]]`.
#[derive(Clone, Debug)]
pub struct HookSpec {
    /// The events it follows.
    pub on: Vec<HookEvent>,
    /// Globs on the virtual path (`*` stays within a directory, `**` crosses them); empty:
    /// every path.
    pub paths: Vec<String>,
    /// The compiled `paths`; `None` when there are none.
    pub path_set: Option<GlobSet>,
    /// User names it applies to; empty: everyone (per-user hooks: that user).
    pub users: Vec<String>,
    /// What it does.
    pub action: HookAction,
    /// How long one run may take.
    pub timeout: Duration,
    /// An upload gate: runs after the last byte and before the file gets its final name.
    pub before_commit: bool,
}

impl PartialEq for HookSpec {
    fn eq(&self, other: &HookSpec) -> bool {
        // The glob set is derived from `paths`.
        (
            &self.on,
            &self.paths,
            &self.users,
            &self.action,
            self.timeout,
            self.before_commit,
        ) == (
            &other.on,
            &other.paths,
            &other.users,
            &other.action,
            other.timeout,
            other.before_commit,
        )
    }
}

impl Eq for HookSpec {}

impl HookSpec {
    /// Whether it follows `event` by `user` on `path` (a rename also matches on its target).
    pub fn applies(&self, event: HookEvent, user: &str, path: &str, target: Option<&str>) -> bool {
        if !self.on.contains(&event) {
            return false;
        }
        if !self.users.is_empty() && !self.users.iter().any(|name| name == user) {
            return false;
        }
        match &self.path_set {
            None => true,
            Some(set) => set.is_match(path) || target.is_some_and(|target| set.is_match(target)),
        }
    }
}

/// `[hooks]` and every `[[hook]]` of `ferryd.toml`, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HooksConfig {
    /// The global hooks.
    pub hooks: Vec<HookSpec>,
    /// Events waiting to run at most; one more is dropped (with a log line).
    pub queue: usize,
    /// Hooks running at once at most (after-the-fact ones; gates run in their upload).
    pub max_running: usize,
    /// Further attempts after a failed run (a command's non-zero exit or timeout, a webhook's
    /// connection error or 5xx).
    pub retries: u32,
}

impl Default for HooksConfig {
    fn default() -> HooksConfig {
        HooksConfig {
            hooks: Vec::new(),
            queue: 1000,
            max_running: 4,
            retries: 3,
        }
    }
}

/// A `[[hook]]` table as written (and as the users file writer writes it back).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawHook {
    on: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    users: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    run: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    secret_file: String,
    #[serde(default = "default_timeout")]
    timeout_secs: i64,
    #[serde(default, skip_serializing_if = "is_false")]
    before_commit: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn default_timeout() -> i64 {
    30
}

/// The longest a hook may be given.
const MAX_TIMEOUT_SECS: i64 = 3600;

/// `[hooks]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct HooksSection {
    pub queue: i64,
    pub max_running: i64,
    pub retries: i64,
}

impl Default for HooksSection {
    fn default() -> HooksSection {
        let defaults = HooksConfig::default();
        HooksSection {
            queue: defaults.queue as i64,
            max_running: defaults.max_running as i64,
            retries: i64::from(defaults.retries),
        }
    }
}

/// A problem with one field of a hook: the field's name (under the hook) and what is wrong.
pub type HookProblem = (&'static str, String);

/// Whether the hook is global (`ferryd.toml`) or one user's (the users file, no `users`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookScope {
    /// `[[hook]]` in ferryd.toml.
    Global,
    /// `[[user.hook]]` in the users file.
    User,
}

impl RawHook {
    /// The table that validates to `spec`.
    pub fn from_spec(spec: &HookSpec) -> RawHook {
        let (run, url, secret_file) = match &spec.action {
            HookAction::Command(argv) => (argv.clone(), String::new(), String::new()),
            HookAction::Webhook { url, secret_file } => (
                Vec::new(),
                url.clone(),
                secret_file
                    .as_ref()
                    .map(|path| path.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            ),
        };
        RawHook {
            on: spec
                .on
                .iter()
                .map(|event| event.as_str().to_owned())
                .collect(),
            paths: spec.paths.clone(),
            users: spec.users.clone(),
            run,
            url,
            secret_file,
            timeout_secs: i64::try_from(spec.timeout.as_secs()).unwrap_or(MAX_TIMEOUT_SECS),
            before_commit: spec.before_commit,
        }
    }

    /// Checks every field; all problems are reported, not just the first.
    pub fn validate(&self, scope: HookScope) -> Result<HookSpec, Vec<HookProblem>> {
        let mut problems: Vec<HookProblem> = Vec::new();
        let mut on = Vec::new();
        if self.on.is_empty() {
            problems.push(("on", "must name at least one event".to_owned()));
        }
        for name in &self.on {
            match HookEvent::parse(name) {
                Some(event) if !on.contains(&event) => on.push(event),
                Some(_) => {}
                None => problems.push((
                    "on",
                    format!(
                        "{name:?} is not an event (one of: {})",
                        HookEvent::ALL.map(HookEvent::as_str).join(", ")
                    ),
                )),
            }
        }
        let path_set = self.compile_paths(&mut problems);
        if scope == HookScope::User && !self.users.is_empty() {
            problems.push((
                "users",
                "a user's own hook applies to that user only".to_owned(),
            ));
        }
        for name in &self.users {
            if !is_user_name(name) {
                problems.push(("users", format!("{name:?} is not a valid user name")));
            }
        }
        let action = self.action(&mut problems);
        if !(1..=MAX_TIMEOUT_SECS).contains(&self.timeout_secs) {
            problems.push((
                "timeout_secs",
                format!("must be between 1 and {MAX_TIMEOUT_SECS}"),
            ));
        }
        if self.before_commit {
            if on != [HookEvent::Upload] {
                problems.push((
                    "before_commit",
                    "a gate follows uploads only: on = [\"upload\"]".to_owned(),
                ));
            }
            if !matches!(action, Some(HookAction::Command(_))) {
                problems.push((
                    "before_commit",
                    "a gate runs a command (run = [...]), not a webhook".to_owned(),
                ));
            }
        }
        match action {
            Some(action) if problems.is_empty() => Ok(HookSpec {
                on,
                paths: self.paths.clone(),
                path_set,
                users: self.users.clone(),
                action,
                timeout: Duration::from_secs(self.timeout_secs.unsigned_abs()),
                before_commit: self.before_commit,
            }),
            _ => Err(problems),
        }
    }

    fn compile_paths(&self, problems: &mut Vec<HookProblem>) -> Option<GlobSet> {
        if self.paths.is_empty() {
            return None;
        }
        let mut set = GlobSetBuilder::new();
        for pattern in &self.paths {
            if !pattern.starts_with('/') {
                problems.push((
                    "paths",
                    format!("{pattern:?} must be an absolute virtual path (start with '/')"),
                ));
                continue;
            }
            match glob(pattern) {
                Ok(glob) => {
                    set.add(glob);
                }
                Err(error) => problems.push(("paths", format!("{pattern:?}: {error}"))),
            }
        }
        set.build()
            .map_err(|error| problems.push(("paths", error.to_string())))
            .ok()
    }

    fn action(&self, problems: &mut Vec<HookProblem>) -> Option<HookAction> {
        match (self.run.is_empty(), self.url.is_empty()) {
            (false, false) => {
                problems.push(("run", "set either run or url, not both".to_owned()));
                None
            }
            (true, true) => {
                problems.push(("run", "set run = [program, args...] or url".to_owned()));
                None
            }
            (false, true) => {
                let program = &self.run[0];
                if !program.starts_with('/') {
                    problems.push((
                        "run",
                        format!(
                            "{program:?} must be an absolute path (hooks are not looked up in PATH)"
                        ),
                    ));
                }
                if self.run.iter().any(|arg| arg.contains('\0')) {
                    problems.push(("run", "an argument contains a NUL byte".to_owned()));
                }
                if !self.secret_file.is_empty() {
                    problems.push(("secret_file", "only a webhook (url) is signed".to_owned()));
                }
                Some(HookAction::Command(self.run.clone()))
            }
            (true, false) => {
                if !valid_url(&self.url) {
                    problems.push((
                        "url",
                        format!(
                            "{:?} must be an http:// or https:// URL with a host",
                            self.url
                        ),
                    ));
                }
                let secret_file = match self.secret_file.as_str() {
                    "" => None,
                    path if path.starts_with('/') => Some(PathBuf::from(path)),
                    path => {
                        problems.push(("secret_file", format!("{path:?} must be absolute")));
                        None
                    }
                };
                Some(HookAction::Webhook {
                    url: self.url.clone(),
                    secret_file,
                })
            }
        }
    }
}

/// A path glob: `*` and `?` stay within one path segment, `**` spans segments.
fn glob(pattern: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
}

/// Line and column of the `index`th `[[hook]]` header.
fn nth_hook_line(source: &str, index: usize) -> Option<(usize, usize)> {
    source
        .lines()
        .enumerate()
        .filter(|(_, line)| line.trim().trim_end_matches(|c: char| c != ']') == "[[hook]]")
        .nth(index)
        .map(|(number, line)| (number + 1, line.len() - line.trim_start().len() + 1))
}

fn valid_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|rest| {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !host.starts_with(':') && !rest.chars().any(char::is_whitespace)
    })
}

fn is_user_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with(['-', '.'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `[hooks]` and the `[[hook]]`s of `ferryd.toml` (`source`, to point at lines) validated;
/// every problem is returned.
pub(super) fn validate(
    section: HooksSection,
    raw: Vec<RawHook>,
    source: &str,
) -> (HooksConfig, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut bounded = |key: &str, value: i64, range: std::ops::RangeInclusive<i64>| {
        if !range.contains(&value) {
            problems.push(Problem {
                key: key.to_owned(),
                position: locate(source, key),
                message: format!(
                    "must be between {} and {}, got {value}",
                    range.start(),
                    range.end()
                ),
            });
        }
        value.clamp(*range.start(), *range.end()).unsigned_abs()
    };
    let queue = bounded("hooks.queue", section.queue, 1..=1_000_000);
    let max_running = bounded("hooks.max_running", section.max_running, 1..=1024);
    let retries = bounded("hooks.retries", section.retries, 0..=100);
    let mut hooks = Vec::new();
    for (index, hook) in raw.iter().enumerate() {
        match hook.validate(HookScope::Global) {
            Ok(spec) => hooks.push(spec),
            Err(found) => {
                // Problems point at the hook's `[[hook]]` line; the key says which field.
                let position = nth_hook_line(source, index);
                for (field, message) in found {
                    problems.push(Problem {
                        key: format!("hook[{}].{field}", index + 1),
                        position,
                        message,
                    });
                }
            }
        }
    }
    let config = HooksConfig {
        hooks,
        queue: usize::try_from(queue).unwrap_or(usize::MAX),
        max_running: usize::try_from(max_running).unwrap_or(usize::MAX),
        retries: u32::try_from(retries).unwrap_or(u32::MAX),
    };
    (config, problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    fn parse(text: &str) -> Result<Config, crate::config::ConfigError> {
        Config::parse(text, Path::new("ferryd.toml"))
    }

    #[test]
    fn a_command_hook_with_paths_and_users_matches_what_it_names() {
        let config = parse(
            "[[hook]]\non = [\"upload\", \"rename\"]\npaths = [\"/releases/**\"]\nusers = [\"ci\"]\nrun = [\"/usr/local/bin/deploy\", \"--fast\"]\n",
        )
        .unwrap();
        let hook = &config.hooks.hooks[0];
        assert_eq!(
            hook.action,
            HookAction::Command(vec!["/usr/local/bin/deploy".into(), "--fast".into()])
        );
        assert_eq!(hook.timeout, Duration::from_secs(30));
        assert!(hook.applies(HookEvent::Upload, "ci", "/releases/v1/app.tar", None));
        assert!(!hook.applies(HookEvent::Upload, "bob", "/releases/v1/app.tar", None));
        assert!(!hook.applies(HookEvent::Upload, "ci", "/tmp/app.tar", None));
        assert!(!hook.applies(HookEvent::Delete, "ci", "/releases/app.tar", None));
        assert!(
            hook.applies(HookEvent::Rename, "ci", "/tmp/a", Some("/releases/a")),
            "a rename into the paths"
        );
    }

    #[test]
    fn a_single_star_stays_in_its_directory() {
        let config =
            parse("[[hook]]\non = [\"upload\"]\npaths = [\"/in/*.csv\"]\nrun = [\"/bin/true\"]\n")
                .unwrap();
        let hook = &config.hooks.hooks[0];
        assert!(hook.applies(HookEvent::Upload, "a", "/in/x.csv", None));
        assert!(!hook.applies(HookEvent::Upload, "a", "/in/sub/x.csv", None));
    }

    #[test]
    fn webhooks_and_defaults() {
        let config = parse(
            "[hooks]\nqueue = 10\nmax_running = 2\nretries = 0\n[[hook]]\non = [\"login_failed\"]\nurl = \"https://hooks.example.com/ferryd\"\nsecret_file = \"/etc/ferryd/hook.secret\"\ntimeout_secs = 5\n",
        )
        .unwrap();
        assert_eq!((config.hooks.queue, config.hooks.max_running), (10, 2));
        assert_eq!(config.hooks.retries, 0);
        let hook = &config.hooks.hooks[0];
        assert_eq!(
            hook.action,
            HookAction::Webhook {
                url: "https://hooks.example.com/ferryd".into(),
                secret_file: Some("/etc/ferryd/hook.secret".into()),
            }
        );
        assert!(hook.applies(HookEvent::LoginFailed, "anyone", "", None));
        assert_eq!(Config::default().hooks, HooksConfig::default());
    }

    #[test]
    fn bad_hooks_are_errors_naming_the_hook_and_field() {
        for (text, key, words) in [
            (
                "on = [\"uplod\"]\nrun = [\"/bin/true\"]",
                "hook[1].on",
                "not an event",
            ),
            (
                "on = []\nrun = [\"/bin/true\"]",
                "hook[1].on",
                "at least one",
            ),
            ("on = [\"upload\"]", "hook[1].run", "or url"),
            (
                "on = [\"upload\"]\nrun = [\"deploy\"]",
                "hook[1].run",
                "absolute",
            ),
            (
                "on = [\"upload\"]\nrun = [\"/bin/true\"]\nurl = \"http://x\"",
                "hook[1].run",
                "not both",
            ),
            (
                "on = [\"upload\"]\nurl = \"ftp://x\"",
                "hook[1].url",
                "http",
            ),
            (
                "on = [\"upload\"]\nurl = \"https://\"",
                "hook[1].url",
                "host",
            ),
            (
                "on = [\"upload\"]\nrun = [\"/bin/true\"]\npaths = [\"releases/**\"]",
                "hook[1].paths",
                "absolute",
            ),
            (
                "on = [\"upload\"]\nrun = [\"/bin/true\"]\npaths = [\"/a/[\"]",
                "hook[1].paths",
                "/a/[",
            ),
            (
                "on = [\"upload\", \"delete\"]\nrun = [\"/bin/true\"]\nbefore_commit = true",
                "hook[1].before_commit",
                "uploads only",
            ),
            (
                "on = [\"upload\"]\nurl = \"https://h/x\"\nbefore_commit = true",
                "hook[1].before_commit",
                "command",
            ),
            (
                "on = [\"upload\"]\nrun = [\"/bin/true\"]\ntimeout_secs = 0",
                "hook[1].timeout_secs",
                "between",
            ),
            (
                "on = [\"upload\"]\nrun = [\"/bin/true\"]\nsecret_file = \"/s\"",
                "hook[1].secret_file",
                "webhook",
            ),
            (
                "on = [\"upload\"]\nrun = [\"/bin/true\"]\nusers = [\"-x\"]",
                "hook[1].users",
                "valid user name",
            ),
        ] {
            let error = parse(&format!("[[hook]]\n{text}\n"))
                .unwrap_err()
                .to_string();
            assert!(error.contains(key), "{text}: {error}");
            assert!(error.contains(words), "{text}: {error}");
        }
        let error = parse("[[hook]]\non = [\"upload\"]\nrun = [\"/bin/true\"]\nshell = true\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("shell"), "{error}");
    }

    #[test]
    fn a_users_file_hook_may_not_name_other_users() {
        let raw: RawHook =
            toml::from_str("on = [\"upload\"]\nrun = [\"/bin/true\"]\nusers = [\"bob\"]\n")
                .unwrap();
        let problems = raw.validate(HookScope::User).unwrap_err();
        assert_eq!(problems[0].0, "users");
        assert!(raw.validate(HookScope::Global).is_ok());
    }
}
