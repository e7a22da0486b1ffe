//! `SessionHooks`: a session's view of the hooks, handed to its `UserFs` so that uploads
//! are gated and announced with who, from where and over which protocol.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use super::payload::Payload;
use super::registry::Hooks;
use crate::config::{HookEvent, Protocol};
use crate::vfs::{FinishedUpload, GateFuture, UploadHooks, UploadPlan, VirtualPath};

/// The hooks as one logged-in session sees them.
#[derive(Debug)]
pub struct SessionHooks {
    hooks: Hooks,
    user: String,
    protocol: Protocol,
    client: IpAddr,
}

impl SessionHooks {
    /// For `user`'s session from `client`.
    pub fn new(hooks: Hooks, user: &str, protocol: Protocol, client: IpAddr) -> Arc<SessionHooks> {
        Arc::new(SessionHooks {
            hooks,
            user: user.to_owned(),
            protocol,
            client,
        })
    }

    fn payload(&self, upload: &FinishedUpload) -> Payload {
        Payload {
            event: HookEvent::Upload,
            user: self.user.clone(),
            protocol: self.protocol,
            client: self.client,
            path: upload.path.as_str().to_owned(),
            target: None,
            file: upload.file.clone(),
            size: Some(upload.size),
            sha256: upload.sha256,
            time: SystemTime::now(),
            reason: None,
        }
    }
}

impl UploadHooks for SessionHooks {
    fn plan(&self, path: &VirtualPath) -> UploadPlan {
        let (gate, notify) = self.hooks.upload_plan(&self.user, path.as_str());
        UploadPlan { gate, notify }
    }

    fn gate<'a>(&'a self, upload: &'a FinishedUpload) -> GateFuture<'a> {
        Box::pin(async move { self.hooks.gate(&self.payload(upload)).await })
    }

    fn published(&self, upload: FinishedUpload) {
        self.hooks.dispatch(self.payload(&upload));
    }
}
