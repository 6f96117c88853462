//! Which bucket and key a request names: path-style, virtual-hosted or cname.
//!
//! Keys come out fully percent-decoded and are never normalised: `..`, `//` and `.` are key
//! bytes like any other.

use osspart_protocol::encoding::decode_path;
use osspart_protocol::ErrorCode;

use super::error::ApiError;
use crate::config::ServerConfig;

/// The resource a request addresses (the protocol's target, which the parser reads).
pub use osspart_protocol::operation::Target;

/// Resolves bucket and key from the Host header and the raw (still encoded) request path.
pub fn resolve(
    host: Option<&str>,
    raw_path: &str,
    config: &ServerConfig,
) -> Result<Target, ApiError> {
    let path = decode_path(raw_path).map_err(|_| {
        ApiError::new(ErrorCode::InvalidURI)
            .with_message("The request path is not valid percent-encoded UTF-8.")
    })?;
    let path = path.strip_prefix('/').unwrap_or(&path);
    let hostname = host
        .map(hostname_of)
        .unwrap_or_default()
        .to_ascii_lowercase();

    if let Some(bucket) = config.cnames.get(&hostname) {
        return Ok(Target {
            bucket: Some(bucket.clone()),
            key: non_empty(path),
        });
    }
    match virtual_bucket(&hostname, config) {
        Some(bucket) => Ok(Target {
            bucket: non_empty(&bucket),
            key: if bucket.is_empty() {
                None
            } else {
                non_empty(path)
            },
        }),
        None => {
            let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
            Ok(Target {
                bucket: non_empty(bucket),
                key: if bucket.is_empty() {
                    None
                } else {
                    non_empty(key)
                },
            })
        }
    }
}

/// Whether a request to this Host names its bucket in the path (path-style): neither a cname
/// nor a virtual-hosted domain of the configuration.
pub fn is_path_style(host: Option<&str>, config: &ServerConfig) -> bool {
    let hostname = host
        .map(hostname_of)
        .unwrap_or_default()
        .to_ascii_lowercase();
    !config.cnames.contains_key(&hostname) && virtual_bucket(&hostname, config).is_none()
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// The host name without its port; IPv6 literals keep their brackets.
fn hostname_of(host: &str) -> &str {
    let host = host.trim();
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// For a virtual-hosted request, the bucket label (possibly empty: a service call such as
/// ali-oss's `.oss-cn-hangzhou.aliyuncs.com`); `None` when the request is path-style.
fn virtual_bucket(hostname: &str, config: &ServerConfig) -> Option<String> {
    if hostname.is_empty()
        || hostname.starts_with('[')
        || hostname.parse::<std::net::IpAddr>().is_ok()
        || !hostname.contains('.')
    {
        return None;
    }
    for domain in &config.virtual_host_domains {
        let Some(front) = hostname
            .strip_suffix(domain.as_str())
            .and_then(|f| f.strip_suffix('.'))
        else {
            continue;
        };
        // `<bucket>.<endpoint>.<domain>` for cloud-style domains (the endpoint label names the
        // region), `<bucket>.<domain>` for local ones such as `localhost`.
        return match front.split_once('.') {
            Some((bucket, _endpoint)) => Some(bucket.to_owned()),
            None if domain == "localhost" => Some(front.to_owned()),
            None => None,
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ServerConfig {
        let mut c = ServerConfig::new("/nonexistent", "127.0.0.1:0".parse().unwrap());
        c.cnames.insert("files.example.com".into(), "cnamed".into());
        c
    }

    fn t(bucket: Option<&str>, key: Option<&str>) -> Target {
        Target {
            bucket: bucket.map(str::to_owned),
            key: key.map(str::to_owned),
        }
    }

    #[test]
    fn path_style_on_ip_localhost_and_dotless() {
        let c = config();
        assert_eq!(
            resolve(Some("127.0.0.1:9000"), "/b1/dir%2Fa%20b+c", &c).unwrap(),
            t(Some("b1"), Some("dir/a b+c"))
        );
        assert_eq!(
            resolve(Some("localhost:9000"), "/b1/", &c).unwrap(),
            t(Some("b1"), None)
        );
        assert_eq!(
            resolve(Some("localhost"), "/b1", &c).unwrap(),
            t(Some("b1"), None)
        );
        assert_eq!(resolve(Some("[::1]:9000"), "/", &c).unwrap(), t(None, None));
        assert_eq!(
            resolve(Some("myhost"), "/b1/a//b/../c", &c).unwrap(),
            t(Some("b1"), Some("a//b/../c"))
        );
        assert_eq!(
            resolve(None, "/b1/k", &c).unwrap(),
            t(Some("b1"), Some("k"))
        );
    }

    #[test]
    fn virtual_hosted_and_ali_oss_overwrite() {
        let c = config();
        assert_eq!(
            resolve(Some("b1.oss-cn-hangzhou.aliyuncs.com"), "/dir/k", &c).unwrap(),
            t(Some("b1"), Some("dir/k"))
        );
        assert_eq!(
            resolve(Some(".oss-cn-hangzhou.aliyuncs.com"), "/", &c).unwrap(),
            t(None, None)
        );
        assert_eq!(
            resolve(Some("oss-cn-hangzhou.aliyuncs.com"), "/b1/k", &c).unwrap(),
            t(Some("b1"), Some("k"))
        );
        assert_eq!(
            resolve(Some("b1.localhost:9000"), "/k", &c).unwrap(),
            t(Some("b1"), Some("k"))
        );
        assert_eq!(
            resolve(Some("B1.LOCALHOST"), "/", &c).unwrap(),
            t(Some("b1"), None)
        );
    }

    #[test]
    fn cname_binds_one_bucket() {
        let c = config();
        assert_eq!(
            resolve(Some("files.example.com:80"), "/a/b", &c).unwrap(),
            t(Some("cnamed"), Some("a/b"))
        );
    }

    #[test]
    fn bad_escapes_are_rejected() {
        let c = config();
        let err = resolve(Some("localhost"), "/b1/%zz", &c).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidURI);
    }
}
