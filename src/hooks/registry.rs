//! `Hooks`: the hook table in force, and running hooks from it: after-the-fact ones through
//! the bounded queue, gates inline; commands in-process or through the runner.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use zeroize::Zeroizing;

use super::command::{self, CommandOutcome, CommandRequest};
use super::payload::Payload;
use super::queue::{backoff, Queue};
use super::runner::RunnerClient;
use super::webhook::{WebhookClient, WebhookOutcome};
use crate::audit::{Action, AuditSink, Event, Outcome};
use crate::auth::UserDb;
use crate::config::{HookAction, HookEvent, HookSpec, HooksConfig};
use crate::key_material::read_secret;
use crate::metrics::Metrics;

/// Why the hook table could not be built (start refuses, reload keeps the old table).
#[derive(Debug, thiserror::Error)]
pub enum HooksError {
    /// A webhook's secret file is missing, unreadable or readable by others.
    #[error("{origin}: secret_file {path}: {reason}")]
    Secret {
        /// Which hook.
        origin: String,
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The hook runner's socket could not be used.
    #[error("hook runner: {0}")]
    Runner(String),
}

/// One hook, ready to run.
#[derive(Debug)]
pub(crate) struct Hook {
    spec: HookSpec,
    /// The webhook's HMAC key.
    secret: Option<Zeroizing<Vec<u8>>>,
    /// Where it was configured, for log lines (`hook[2]`, `user alice hook[1]`).
    origin: String,
}

impl Hook {
    fn kind(&self) -> &'static str {
        match self.spec.action {
            HookAction::Command(_) => "command",
            HookAction::Webhook { .. } => "webhook",
        }
    }
}

/// The hooks in force.
#[derive(Debug, Default)]
struct Table {
    global: Vec<Arc<Hook>>,
    per_user: HashMap<String, Vec<Arc<Hook>>>,
}

impl Table {
    /// The hooks for `event` by `user` on `path` (or a rename's `target`).
    fn matching<'a>(
        &'a self,
        event: HookEvent,
        user: &'a str,
        path: &'a str,
        target: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Arc<Hook>> + 'a {
        let own = self.per_user.get(user).map(Vec::as_slice).unwrap_or(&[]);
        self.global
            .iter()
            .chain(own)
            .filter(move |hook| hook.spec.applies(event, user, path, target))
    }
}

/// How commands are started.
#[derive(Debug)]
enum Launcher {
    /// In this process (no sandbox).
    Direct,
    /// By the runner process started before the sandbox.
    Runner(RunnerClient),
}

/// The hooks of one server. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Hooks {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    table: ArcSwap<Table>,
    launcher: Launcher,
    /// Built at the first webhook (most servers have none).
    webhooks: std::sync::OnceLock<Result<WebhookClient, String>>,
    queue: Queue<Job>,
    retries: u32,
    metrics: Metrics,
}

/// One hook to run for one event.
struct Job {
    hook: Arc<Hook>,
    payload: Payload,
}

/// The hook table built from a configuration and users file, secrets read: built before the
/// sandbox at start and on every reload, then handed to [`Hooks`].
#[derive(Debug)]
pub struct HookTable(Table);

impl HookTable {
    /// The global hooks of `config` and every user's own.
    pub fn build(config: &HooksConfig, users: &UserDb) -> Result<HookTable, HooksError> {
        let per_user: Vec<(String, Vec<HookSpec>)> = users
            .iter()
            .filter(|record| !record.hooks.is_empty())
            .map(|record| (record.name.to_string(), record.hooks.clone()))
            .collect();
        build_table(&config.hooks, &per_user).map(HookTable)
    }
}

impl Hooks {
    /// Hooks running `table`, bounded by `config`'s `[hooks]`; commands run in-process, or by
    /// the runner behind `runner` when given. Starts the queue: call it on the runtime.
    pub fn new(
        table: HookTable,
        config: &HooksConfig,
        runner: Option<std::os::unix::net::UnixStream>,
        metrics: Metrics,
    ) -> Result<Hooks, HooksError> {
        let launcher = match runner {
            Some(stream) => Launcher::Runner(
                RunnerClient::connect(stream)
                    .map_err(|error| HooksError::Runner(error.to_string()))?,
            ),
            None => Launcher::Direct,
        };
        Ok(Hooks::with_launcher(table, config, launcher, metrics))
    }

    /// No hooks at all (tests of other parts). Call it on the runtime.
    #[cfg(test)]
    pub(crate) fn none() -> Hooks {
        let table = HookTable(Table::default());
        Hooks::with_launcher(
            table,
            &HooksConfig::default(),
            Launcher::Direct,
            Metrics::new(),
        )
    }

    fn with_launcher(
        table: HookTable,
        config: &HooksConfig,
        launcher: Launcher,
        metrics: Metrics,
    ) -> Hooks {
        let inner = Arc::new_cyclic(|weak| Inner {
            table: ArcSwap::from_pointee(table.0),
            launcher,
            webhooks: std::sync::OnceLock::new(),
            queue: Queue::start(config.queue, config.max_running, {
                let weak: std::sync::Weak<Inner> = weak.clone();
                move |job: Job| {
                    let inner = weak.upgrade()?;
                    Some(async move { inner.execute(job).await })
                }
            }),
            retries: config.retries,
            metrics,
        });
        Hooks { inner }
    }

    /// Replaces the hook table (reload); the queue's bounds stay as started.
    pub fn replace(&self, table: HookTable) {
        self.inner.table.store(Arc::new(table.0));
    }

    /// How many hooks are configured (global and per user), for the start-up log line.
    pub fn count(&self) -> usize {
        let table = self.inner.table.load();
        table.global.len() + table.per_user.values().map(Vec::len).sum::<usize>()
    }

    /// Queues the after-the-fact hooks matching `payload` (never waits).
    pub fn dispatch(&self, payload: Payload) {
        let table = self.inner.table.load();
        let hooks: Vec<Arc<Hook>> = table
            .matching(
                payload.event,
                &payload.user,
                &payload.path,
                payload.target.as_deref(),
            )
            .filter(|hook| !hook.spec.before_commit)
            .cloned()
            .collect();
        drop(table);
        for hook in hooks {
            self.inner.enqueue(Job {
                hook,
                payload: payload.clone(),
            });
        }
    }

    /// Whether an upload by `user` to `path` has gates, after-the-fact hooks, or both.
    pub(crate) fn upload_plan(&self, user: &str, path: &str) -> (bool, bool) {
        let table = self.inner.table.load();
        let mut plan = (false, false);
        for hook in table.matching(HookEvent::Upload, user, path, None) {
            if hook.spec.before_commit {
                plan.0 = true;
            } else {
                plan.1 = true;
            }
        }
        plan
    }

    /// Runs the gates for `payload` one after another; the first refusal is the reason.
    pub(crate) async fn gate(&self, payload: &Payload) -> Result<(), String> {
        let gates: Vec<Arc<Hook>> = self
            .inner
            .table
            .load()
            .matching(HookEvent::Upload, &payload.user, &payload.path, None)
            .filter(|hook| hook.spec.before_commit)
            .cloned()
            .collect();
        for hook in gates {
            let HookAction::Command(argv) = &hook.spec.action else {
                continue;
            };
            let outcome = self.inner.run_command(argv, payload, &hook).await;
            self.inner.metrics.hook_finished("gate", outcome.result());
            if outcome.succeeded() {
                tracing::info!(hook = %hook.origin, path = %payload.path, user = %payload.user, "upload passed its gate");
                continue;
            }
            let reason = outcome.describe();
            tracing::info!(hook = %hook.origin, path = %payload.path, user = %payload.user, %reason, "gate refused an upload");
            return Err(format!("refused by the server's check: {reason}"));
        }
        Ok(())
    }
}

impl Inner {
    fn enqueue(&self, job: Job) {
        if let Err(job) = self.queue.push(job) {
            self.metrics.hook_finished(job.hook.kind(), "dropped");
            tracing::warn!(
                hook = %job.hook.origin,
                event = job.payload.event.as_str(),
                path = %job.payload.path,
                user = %job.payload.user,
                "hook queue full: event dropped"
            );
        }
    }

    /// Runs `job` until it succeeds, fails for good or has used its retries; logs and counts
    /// the outcome.
    async fn execute(&self, job: Job) {
        let retries = self.retries;
        let Job { hook, payload } = job;
        let kind = hook.kind();
        let mut attempt = 0;
        loop {
            let (succeeded, retryable, description, result) = match &hook.spec.action {
                HookAction::Command(argv) => {
                    let outcome = self.run_command(argv, &payload, &hook).await;
                    (
                        outcome.succeeded(),
                        true,
                        outcome.describe(),
                        outcome.result(),
                    )
                }
                HookAction::Webhook { url, .. } => {
                    let outcome = match self.webhooks() {
                        Ok(client) => {
                            client
                                .post(
                                    url,
                                    payload.event.as_str(),
                                    payload.json(),
                                    hook.secret.as_deref().map(Vec::as_slice),
                                    hook.spec.timeout,
                                )
                                .await
                        }
                        Err(error) => WebhookOutcome::Unreachable(format!("HTTP client: {error}")),
                    };
                    (
                        outcome.succeeded(),
                        outcome.retryable(),
                        outcome.describe(),
                        outcome.result(),
                    )
                }
            };
            if succeeded {
                self.metrics.hook_finished(kind, "ok");
                tracing::info!(
                    hook = %hook.origin,
                    event = payload.event.as_str(),
                    user = %payload.user,
                    path = %payload.path,
                    attempt = attempt + 1,
                    "hook ran"
                );
                return;
            }
            if !retryable || attempt >= retries {
                self.metrics.hook_finished(kind, result);
                tracing::warn!(
                    hook = %hook.origin,
                    event = payload.event.as_str(),
                    user = %payload.user,
                    path = %payload.path,
                    attempts = attempt + 1,
                    reason = %description,
                    "hook failed"
                );
                return;
            }
            attempt += 1;
            self.metrics.hook_finished(kind, "retried");
            tracing::info!(
                hook = %hook.origin,
                event = payload.event.as_str(),
                reason = %description,
                attempt,
                "hook failed, retrying"
            );
            tokio::time::sleep(backoff(attempt)).await;
        }
    }

    fn webhooks(&self) -> Result<&WebhookClient, String> {
        self.webhooks
            .get_or_init(WebhookClient::new)
            .as_ref()
            .map_err(Clone::clone)
    }

    async fn run_command(&self, argv: &[String], payload: &Payload, hook: &Hook) -> CommandOutcome {
        let request = CommandRequest {
            argv: argv.to_vec(),
            env: payload.environment(),
            timeout_ms: u64::try_from(hook.spec.timeout.as_millis()).unwrap_or(u64::MAX),
        };
        match &self.launcher {
            Launcher::Direct => command::run(&request).await,
            Launcher::Runner(runner) => runner.run(request).await,
        }
    }
}

impl AuditSink for Hooks {
    fn record(&self, event: &Event) {
        let Some(hook_event) = hook_event(event) else {
            return;
        };
        self.dispatch(Payload {
            event: hook_event,
            user: event.user.clone(),
            protocol: event.protocol,
            client: event.peer,
            path: event.path.clone(),
            target: event.target.clone(),
            file: None,
            size: (event.action == Action::Download).then_some(event.bytes),
            sha256: None,
            time: SystemTime::now(),
            reason: event.outcome.cause().map(|cause| cause.reason),
        });
    }
}

/// The hook event an audit event is, if any. Uploads are not taken from here: the VFS tells
/// `SessionHooks` once the file is published, with its digest.
fn hook_event(event: &Event) -> Option<HookEvent> {
    let ok = event.outcome == Outcome::Ok;
    match event.action {
        Action::Login if ok => Some(HookEvent::Login),
        Action::Login if matches!(event.outcome, Outcome::Failed(_)) => {
            Some(HookEvent::LoginFailed)
        }
        Action::Download if ok => Some(HookEvent::Download),
        Action::Delete if ok => Some(HookEvent::Delete),
        Action::Rename if ok => Some(HookEvent::Rename),
        Action::Mkdir if ok => Some(HookEvent::Mkdir),
        Action::Rmdir if ok => Some(HookEvent::Rmdir),
        _ => None,
    }
}

fn build_table(
    global: &[HookSpec],
    per_user: &[(String, Vec<HookSpec>)],
) -> Result<Table, HooksError> {
    let mut table = Table::default();
    for (index, spec) in global.iter().enumerate() {
        table
            .global
            .push(Arc::new(hook(spec, format!("hook[{}]", index + 1))?));
    }
    for (user, specs) in per_user {
        let mut own = Vec::new();
        for (index, spec) in specs.iter().enumerate() {
            own.push(Arc::new(hook(
                spec,
                format!("user {user} hook[{}]", index + 1),
            )?));
        }
        if !own.is_empty() {
            table.per_user.insert(user.clone(), own);
        }
    }
    Ok(table)
}

fn hook(spec: &HookSpec, origin: String) -> Result<Hook, HooksError> {
    let secret = match &spec.action {
        HookAction::Webhook {
            secret_file: Some(path),
            ..
        } => Some(Zeroizing::new(
            read_secret("hook.secret_file", path).map_err(|error| HooksError::Secret {
                origin: origin.clone(),
                path: path.clone(),
                reason: error.to_string(),
            })?,
        )),
        _ => None,
    };
    Ok(Hook {
        spec: spec.clone(),
        secret,
        origin,
    })
}
