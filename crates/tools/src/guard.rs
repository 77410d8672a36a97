//! Where a user's own MCP server may point: the server makes the requests,
//! so a URL a user typed must not reach what only the server can (its own
//! ports, the cloud metadata address, the office network), unless the
//! configuration allows that host (`mcpSettings.allowedDomains`).

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// An HTTP client for a user's server: names resolve to public addresses
/// only (allowed hosts resolve normally), so a name that answers differently
/// between [`check_url`] and the connection still cannot reach inside.
pub fn client(allowed: &[String]) -> reqwest::Client {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(PublicOnly {
            allowed: allowed.to_vec(),
        }))
        .build()
        .unwrap_or_default()
}

struct PublicOnly {
    allowed: Vec<String>,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let allowed = self.allowed.iter().any(|p| matches(&host, p));
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allowed || is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{host} resolves only to local or private addresses").into());
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

/// Refuses a URL whose host is not allowed and resolves to any address that
/// is not public.
pub async fn check_url(url: &str, allowed: &[String]) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("the url {url:?} is not valid: {e}"))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| format!("the url {url:?} names no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    if allowed.iter().any(|pattern| matches(&host, pattern)) {
        return Ok(());
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addrs = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| format!("the host {host:?} could not be resolved: {e}"))?;
    for addr in addrs {
        if !is_public(addr.ip()) {
            return Err(format!(
                "{host} is a local or private address ({}), which your own servers may not reach; an administrator can allow it in mcpSettings.allowedDomains",
                addr.ip()
            ));
        }
    }
    Ok(())
}

/// `example.com` matches itself; `*.example.com` its subdomains.
fn matches(host: &str, pattern: &str) -> bool {
    let pattern = pattern.trim().to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(domain) => host.ends_with(&format!(".{domain}")),
        None => host == pattern,
    }
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                // Shared address space (carrier-grade NAT) and "this network".
                || (a == 100 && (64..128).contains(&b))
                || a == 0)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // Unique local fc00::/7 and link-local fe80::/10.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["1.1.1.1", "93.184.216.34", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn allowed_domains_match_exactly_or_by_wildcard() {
        assert!(matches("mcp.corp.example", "*.corp.example"));
        assert!(!matches("corp.example", "*.corp.example"));
        assert!(matches("127.0.0.1", "127.0.0.1"));
        assert!(!matches("evil-corp.example", "*.corp.example"));
    }

    #[tokio::test]
    async fn the_guarded_client_does_not_resolve_names_to_this_machine() {
        let err = client(&[])
            .get("http://localhost:9/")
            .send()
            .await
            .unwrap_err();
        let chain = format!("{err:?}");
        assert!(
            chain.contains("resolves only to local or private addresses"),
            "{chain}"
        );
    }

    #[tokio::test]
    async fn a_url_to_this_machine_is_refused_unless_allowed() {
        let err = check_url("http://127.0.0.1:9/mcp", &[]).await.unwrap_err();
        assert!(
            err.contains("local or private address (127.0.0.1)"),
            "{err}"
        );
        let err = check_url("http://localhost:9/mcp", &[]).await.unwrap_err();
        assert!(err.contains("local or private address"), "{err}");
        check_url("http://127.0.0.1:9/mcp", &["127.0.0.1".into()])
            .await
            .unwrap();
    }
}
