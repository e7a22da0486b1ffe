//! Tests of the FTP front end that span its files: the import graph, and command handlers
//! driven in-process against a temporary directory (no sockets).

mod import_graph;
