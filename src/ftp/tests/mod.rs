//! Tests of the FTP front end that span its files: the import graph, and command handlers
//! driven in-process through the session's policy and dispatch against a temporary home (no
//! control socket; the data connections themselves are tested end to end in `tests/it`).

mod files;
mod fixture;
mod import_graph;
mod info;
mod login;
mod transfer;
