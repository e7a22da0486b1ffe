//! `ferryd reload` and `ferryd status`: talk to a running daemon.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, Context};

use crate::config::Config;
use crate::server::pid_file;

use super::Failure;

pub(super) fn reload(config_path: &Path) -> Result<(), Failure> {
    let config = Config::load(config_path).map_err(Failure::config)?;
    let pid = pid_file::send_reload(&config.server.state_dir)
        .map_err(|error| Failure::new(Failure::UNAVAILABLE, error))?;
    println!("sent SIGHUP to ferryd (pid {pid}); its log says whether the reload was accepted");
    Ok(())
}

pub(super) fn status(config_path: &Path) -> Result<(), Failure> {
    let config = Config::load(config_path).map_err(Failure::config)?;
    let pid = pid_file::running_pid(&config.server.state_dir)
        .map_err(|error| Failure::new(Failure::UNAVAILABLE, error))?;
    println!("ferryd is running (pid {pid})");
    let Some(address) = config.metrics.listen else {
        println!("set [metrics] listen to see live sessions here");
        return Ok(());
    };
    let body = fetch_metrics(address)
        .with_context(|| format!("reading metrics from {address}"))
        .map_err(|error| Failure::new(Failure::UNAVAILABLE, error))?;
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("ferryd_sessions{protocol=\"") {
            if let Some((protocol, count)) = rest.split_once("\"} ") {
                println!("sessions {protocol}: {count}");
            }
        }
    }
    Ok(())
}

fn fetch_metrics(address: std::net::SocketAddr) -> anyhow::Result<String> {
    let timeout = Duration::from_secs(5);
    let mut stream = TcpStream::connect_timeout(&address, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: ferryd\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream
        .take(16 * 1024 * 1024)
        .read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("malformed HTTP response"))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(anyhow!(
            "unexpected response: {}",
            head.lines().next().unwrap_or("")
        ));
    }
    Ok(body.to_owned())
}
