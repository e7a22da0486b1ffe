//! The russh `Handler` of one connection: authentication, and what a channel may be used for.
//!
//! Authentication goes through the shared `auth::Authenticator` for every method: password,
//! public key, and keyboard-interactive (one password prompt, for clients that try nothing
//! else). Key-and-password users get SSH partial success after their first method. russh
//! counts rejected attempts against `sftp.max_auth_attempts` and paces rejections.
//!
//! Every rejection lists the methods explicitly: russh's default (`Auth::reject()`) drops the
//! method that just failed, and a client told that `password` cannot continue gives up on the
//! right password it would have sent next. Like OpenSSH, a method stays on offer until the
//! attempts run out.
//!
//! After login a session channel may run the `sftp` subsystem (our request loop, `session`),
//! one of the allow-listed hash commands (`exec`), or legacy SCP (`scp -t`/`-f`, `scp`).
//! Shells, PTYs, X11, agent forwarding, every kind of TCP and Unix socket forwarding, and any
//! other command are refused with a message on stderr where the protocol has room for one: a
//! file server is not a shell or a tunnel.

use std::borrow::Cow;
use std::collections::HashMap;

use russh::server::{Auth, ChannelOpenHandle, Msg, Response, Session, VerifiedPublicKey};
use russh::server::{Handler, PublicKeyOffer};
use russh::{Channel, ChannelId, ChannelOpenFailure, Disconnect, MethodKind, MethodSet};
use tokio::sync::oneshot;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;
use zeroize::Zeroizing;

use super::algorithms::auth_methods;
use super::context::SessionContext;
use super::exec;
use super::scp;
use crate::auth::{AuthError, AuthMethod, Credential, Identity, LoginAttempt};
use crate::config::Protocol;
use crate::services::Services;
use crate::session_core::{Connection, LoginRefused, UserSession};
use tokio_util::sync::CancellationToken;

/// Session channels one connection may open over its lifetime (OpenSSH multiplexing opens a
/// few; a loop opening thousands is not a file transfer).
const MAX_CHANNELS_PER_CONNECTION: usize = 64;

/// Shown for `shell` and `pty-req`.
const NO_SHELL: &str = "ferryd is an SFTP server: shell access is not available\r\n";

/// Errors that end a connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SshError {
    /// The SSH layer failed (I/O, protocol violation, disconnect).
    #[error(transparent)]
    Ssh(#[from] russh::Error),
}

/// The per-connection handler.
pub(crate) struct SshHandler {
    services: Services,
    /// Who is connected, and where logins are reported (`session_core`).
    connection: Connection,
    span: tracing::Span,
    /// Key-and-password: the first factor that already returned partial success.
    partial: Option<Partial>,
    /// Set by a successful auth callback, consumed by `auth_succeeded`.
    pending: Option<Identity>,
    /// Fired once the user is logged in, which stops the login timer; carries the token an
    /// administrator's kick cancels, which the connection's loop watches.
    login_signal: Option<oneshot::Sender<CancellationToken>>,
    logged_in: Option<LoggedIn>,
    /// Session channels opened but not yet given a subsystem or command.
    channels: HashMap<ChannelId, Channel<Msg>>,
    n_channels: usize,
    /// This connection's SFTP and exec tasks, so shutdown can wait for them.
    sessions: TaskTracker,
}

/// A first factor accepted for `user`; `next` is what the login still needs.
struct Partial {
    user: String,
    passed: AuthMethod,
    next: AuthMethod,
}

struct LoggedIn {
    context: SessionContext,
    /// Dropped with the handler, when the connection ends: that logs the user out.
    _session: UserSession,
}

impl SshHandler {
    /// A handler for the admitted `connection`; `login_signal` fires at login.
    pub(crate) fn new(
        services: Services,
        connection: Connection,
        login_signal: oneshot::Sender<CancellationToken>,
        sessions: TaskTracker,
    ) -> SshHandler {
        let span = connection.span().clone();
        SshHandler {
            services,
            connection,
            span,
            partial: None,
            pending: None,
            login_signal: Some(login_signal),
            logged_in: None,
            channels: HashMap::new(),
            n_channels: 0,
            sessions,
        }
    }

    async fn check(&mut self, user: &str, credential: Credential<'_>) -> Auth {
        let method_already_passed = self.partial_for(user).map(|partial| partial.passed);
        let attempt = LoginAttempt {
            user,
            protocol: Protocol::Sftp,
            peer: self.peer(),
            method_already_passed,
        };
        match self.services.auth.authenticate(&attempt, credential).await {
            Ok(identity) => {
                self.pending = Some(identity);
                Auth::Accept
            }
            Err(AuthError::PartialSuccess { next }) => {
                self.partial = Some(Partial {
                    user: user.to_owned(),
                    passed: credential.method(),
                    next,
                });
                tracing::info!(parent: &self.span, user, next = next.as_str(), "first factor accepted");
                Auth::Reject {
                    proceed_with_methods: Some(methods_for(next)),
                    partial_success: true,
                }
            }
            Err(error) => {
                if let AuthError::Internal(_) = &error {
                    tracing::error!(parent: &self.span, user, %error, "authentication failed");
                } else {
                    tracing::info!(parent: &self.span, user, %error, "login refused");
                }
                self.connection.login_failed(user, &error);
                self.reject(user)
            }
        }
    }

    /// The client's (canonical) address.
    fn peer(&self) -> std::net::IpAddr {
        self.connection.info().peer.ip()
    }

    fn partial_for(&self, user: &str) -> Option<&Partial> {
        self.partial.as_ref().filter(|partial| partial.user == user)
    }

    /// A rejection that keeps every method `user` may still use on offer: all configured ones,
    /// or after a first factor the ones that complete the login.
    fn reject(&self, user: &str) -> Auth {
        let methods = match self.partial_for(user) {
            Some(partial) => methods_for(partial.next),
            None => auth_methods(),
        };
        Auth::Reject {
            proceed_with_methods: Some(methods),
            partial_success: false,
        }
    }

    /// Refuses a channel request with `message` on stderr, then closes the channel.
    fn refuse(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
        what: &str,
        message: &str,
    ) -> Result<(), SshError> {
        tracing::info!(parent: &self.span, request = what, "channel request refused");
        self.channels.remove(&channel);
        session.extended_data(channel, 1, message.as_bytes().to_vec())?;
        session.channel_failure(channel)?;
        session.exit_status_request(channel, 1)?;
        session.eof(channel)?;
        session.close(channel)?;
        Ok(())
    }

    fn spawn_session_task(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let task = task.instrument(self.span.clone());
        self.services.tasks.spawn(self.sessions.track_future(task));
    }
}

/// The SSH methods that prove `method`.
fn methods_for(method: AuthMethod) -> MethodSet {
    let mut methods = MethodSet::empty();
    match method {
        AuthMethod::PublicKey => methods.push(MethodKind::PublicKey),
        AuthMethod::Password => {
            methods.push(MethodKind::Password);
            methods.push(MethodKind::KeyboardInteractive);
        }
        // FTPS only: the authenticator never asks an SSH login for it.
        AuthMethod::ClientCertificate => {}
    }
    methods
}

impl Handler for SshHandler {
    type Error = SshError;

    async fn auth_none(&mut self, user: &str) -> Result<Auth, SshError> {
        Ok(self.reject(user))
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, SshError> {
        Ok(self.check(user, Credential::Password(password)).await)
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, SshError> {
        let peer = self.peer();
        let accepted =
            self.services
                .auth
                .accepts_public_key(user, offer.public_key, Protocol::Sftp, peer);
        Ok(if accepted {
            Auth::Accept
        } else {
            self.reject(user)
        })
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, SshError> {
        Ok(self
            .check(user, Credential::PublicKey(key.public_key))
            .await)
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<Response<'a>>,
    ) -> Result<Auth, SshError> {
        let Some(mut response) = response else {
            return Ok(Auth::Partial {
                name: Cow::Borrowed(""),
                instructions: Cow::Borrowed(""),
                prompts: Cow::Owned(vec![(Cow::Borrowed("Password: "), false)]),
            });
        };
        let answer = response.next().unwrap_or_default();
        let Ok(password) = std::str::from_utf8(&answer) else {
            return Ok(self.reject(user));
        };
        let password = Zeroizing::new(password.to_owned());
        Ok(self.check(user, Credential::Password(&password)).await)
    }

    async fn auth_succeeded(&mut self, session: &mut Session) -> Result<(), SshError> {
        let Some(identity) = self.pending.take() else {
            return Ok(());
        };
        // The session core takes the slot, opens the files, audits and registers; what is
        // left here is saying no in SSH.
        let logged_in = match self.connection.log_in(&identity).await {
            Ok(logged_in) => logged_in,
            Err(LoginRefused::Limit(error)) => {
                tracing::warn!(parent: &self.span, %error, "login refused");
                session.disconnect(Disconnect::TooManyConnections, &error.to_string(), "en")?;
                return Ok(());
            }
            Err(LoginRefused::HomeUnavailable(error)) => {
                tracing::error!(parent: &self.span, %error, source = ?error.source, "cannot open the user's files");
                let reason = "your files are not available right now";
                session.disconnect(Disconnect::ByApplication, reason, "en")?;
                return Ok(());
            }
        };
        let kick = logged_in.session.kicked().clone();
        self.logged_in = Some(LoggedIn {
            context: SessionContext {
                fs: logged_in.fs,
                user: identity.user,
                peer: self.peer(),
                audit: self.services.audit.clone(),
                strict_attributes: self.services.config().sftp.strict_attributes,
                registration: logged_in.session.registration().clone(),
            },
            _session: logged_in.session,
        });
        if let Some(signal) = self.login_signal.take() {
            let _ = signal.send(kick);
        }
        Ok(())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), SshError> {
        if self.logged_in.is_none() || self.n_channels >= MAX_CHANNELS_PER_CONNECTION {
            tracing::info!(parent: &self.span, "session channel refused");
            reply.reject(ChannelOpenFailure::ResourceShortage).await;
            return Ok(());
        }
        self.n_channels += 1;
        self.channels.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), SshError> {
        self.channels.remove(&channel);
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel_id: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), SshError> {
        let context = self.logged_in.as_ref().map(|user| user.context.clone());
        let channel = self.channels.remove(&channel_id);
        let (Some(context), Some(channel), "sftp") = (context, channel, name) else {
            tracing::info!(parent: &self.span, subsystem = name, "subsystem refused");
            session.channel_failure(channel_id)?;
            return Ok(());
        };
        session.channel_success(channel_id)?;
        let services = &self.services;
        let task = super::session::run(
            channel,
            context,
            services.tasks.clone(),
            services.shutdown.clone(),
            services.abort.clone(),
            services.limits.defender().clone(),
        );
        self.spawn_session_task(task);
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel_id: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), SshError> {
        let context = self.logged_in.as_ref().map(|user| user.context.clone());
        let allowed = exec::parse(data);
        let channel = match (&context, &allowed) {
            (Some(_), Some(_)) => self.channels.remove(&channel_id),
            _ => None,
        };
        let (Some(context), Some(command), Some(channel)) = (context, allowed, channel) else {
            return self.refuse(channel_id, session, "exec", exec::REFUSAL);
        };
        session.channel_success(channel_id)?;
        match command {
            exec::Command::Hash(command) => {
                self.spawn_session_task(exec::run(channel, command, context.fs));
            }
            exec::Command::Scp(invocation) => {
                let stopping = scp::Stopping {
                    shutdown: self.services.shutdown.clone(),
                    abort: self.services.abort.clone(),
                };
                self.spawn_session_task(scp::run(channel, invocation, context, stopping));
            }
        }
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), SshError> {
        self.refuse(channel, session, "shell", NO_SHELL)
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), SshError> {
        tracing::info!(parent: &self.span, request = "pty-req", "channel request refused");
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single_connection: bool,
        _x11_auth_protocol: &str,
        _x11_auth_cookie: &str,
        _x11_screen_number: u32,
        session: &mut Session,
    ) -> Result<(), SshError> {
        tracing::info!(parent: &self.span, request = "x11-req", "channel request refused");
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        variable_name: &str,
        _variable_value: &str,
        session: &mut Session,
    ) -> Result<(), SshError> {
        // OpenSSH sends LANG and friends unasked; there is no environment to set.
        tracing::debug!(parent: &self.span, variable_name, "env request ignored");
        session.channel_failure(channel)?;
        Ok(())
    }

    async fn agent_request(
        &mut self,
        _channel: ChannelId,
        _session: &mut Session,
    ) -> Result<bool, SshError> {
        tracing::info!(parent: &self.span, request = "agent forwarding", "refused");
        Ok(false)
    }

    async fn tcpip_forward(
        &mut self,
        address: &str,
        port: &mut u32,
        _session: &mut Session,
    ) -> Result<bool, SshError> {
        tracing::info!(parent: &self.span, address, port = *port, "remote port forwarding refused");
        Ok(false)
    }

    async fn streamlocal_forward(
        &mut self,
        socket_path: &str,
        _session: &mut Session,
    ) -> Result<bool, SshError> {
        tracing::info!(parent: &self.span, socket_path, "remote socket forwarding refused");
        Ok(false)
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        _channel: Channel<Msg>,
        host_to_connect: &str,
        port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), SshError> {
        tracing::info!(parent: &self.span, host_to_connect, port_to_connect, "port forwarding refused");
        reply
            .reject(ChannelOpenFailure::AdministrativelyProhibited)
            .await;
        Ok(())
    }

    async fn channel_open_direct_streamlocal(
        &mut self,
        _channel: Channel<Msg>,
        socket_path: &str,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), SshError> {
        tracing::info!(parent: &self.span, socket_path, "socket forwarding refused");
        reply
            .reject(ChannelOpenFailure::AdministrativelyProhibited)
            .await;
        Ok(())
    }

    async fn channel_open_x11(
        &mut self,
        _channel: Channel<Msg>,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), SshError> {
        tracing::info!(parent: &self.span, "x11 channel refused");
        reply
            .reject(ChannelOpenFailure::AdministrativelyProhibited)
            .await;
        Ok(())
    }
}
