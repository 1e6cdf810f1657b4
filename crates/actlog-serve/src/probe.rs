//! `actlog probe`: asks the pod's own sidecar on loopback whether it is alive
//! (`/healthz`) or ready (`/readyz`), for Kubernetes `exec` probes, which run inside the
//! container (an `httpGet` probe comes from the node, whose loopback is not the pod's),
//! without needing curl in the image.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// Why the sidecar is not healthy (or not ready).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Nothing accepts connections at the address.
    #[error("nothing is listening on {addr} ({source})")]
    NotListening {
        /// Where it connected.
        addr: SocketAddr,
        /// What the connection attempt got.
        source: std::io::Error,
    },
    /// Connected, but no whole answer came in time.
    #[error("{url}: no answer within {timeout:?}")]
    Timeout {
        /// What was asked.
        url: String,
        /// How long it waited.
        timeout: Duration,
    },
    /// An answer other than 200.
    #[error("{url} answered {status}{}", reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    Status {
        /// What was asked.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The answer's `error`, when it gave one.
        reason: Option<String>,
    },
    /// Something else went wrong on the way (a reset connection, not HTTP).
    #[error("{url}: {message}")]
    Failed {
        /// What was asked.
        url: String,
        /// What happened.
        message: String,
    },
}

/// Where to connect for a sidecar listening on `listen`: a wildcard address (`0.0.0.0`,
/// `::`) is reached on the loopback address of its family.
pub fn target(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// GETs `/readyz` (when `ready`) or `/healthz` from the sidecar listening on `listen`,
/// waiting at most `timeout` for the whole exchange; `Ok` only for a 200.
pub fn probe(listen: SocketAddr, ready: bool, timeout: Duration) -> Result<(), ProbeError> {
    let addr = target(listen);
    let path = if ready { "/readyz" } else { "/healthz" };
    let url = format!("http://{addr}{path}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .max_redirects(0)
        .build()
        .into();
    let mut resp = match agent.get(&url).call() {
        Ok(r) => r,
        Err(ureq::Error::Timeout(_)) => return Err(ProbeError::Timeout { url, timeout }),
        Err(ureq::Error::Io(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::AddrNotAvailable
            ) =>
        {
            return Err(ProbeError::NotListening { addr, source: e });
        }
        Err(e) => {
            return Err(ProbeError::Failed {
                url,
                message: e.to_string(),
            });
        }
    };
    let status = resp.status().as_u16();
    if status == 200 {
        return Ok(());
    }
    // The sidecar's error answers are JSON with an `error`; anything else is named by
    // its status alone.
    let reason = resp
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|v| v["error"].as_str().map(|s| s.replace(['\n', '\r'], " ")));
    Err(ProbeError::Status {
        url,
        status,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_listen_address_is_probed_on_loopback() {
        let t = |s: &str| target(s.parse().unwrap()).to_string();
        assert_eq!(t("0.0.0.0:8417"), "127.0.0.1:8417");
        assert_eq!(t("[::]:8417"), "[::1]:8417");
        assert_eq!(t("127.0.0.1:9000"), "127.0.0.1:9000");
        assert_eq!(t("10.0.0.5:8417"), "10.0.0.5:8417");
    }
}
