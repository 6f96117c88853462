//! Public OSS endpoints and the regions they name: `oss-<region>.aliyuncs.com` (and its
//! `-internal` twin for traffic from inside the region's network).

/// The public HTTPS endpoint of `region` (`cn-hangzhou` or `oss-cn-hangzhou`).
pub fn public_endpoint(region: &str) -> String {
    format!(
        "https://oss-{}.aliyuncs.com",
        crate::sign::v4::scope_region(region)
    )
}

/// The region an OSS endpoint names, from a host of the form `oss-<region>.aliyuncs.com`,
/// `oss-<region>-internal.aliyuncs.com` or `<bucket>.oss-<region>.aliyuncs.com`, with or
/// without scheme, port and path; `None` for any other host.
pub fn region_of_endpoint(endpoint: &str) -> Option<String> {
    let rest = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest);
    let host = rest.split(['/', ':']).next()?.to_ascii_lowercase();
    let name = host.strip_suffix(".aliyuncs.com")?;
    let label = name.rsplit('.').next()?;
    let region = label.strip_prefix("oss-")?;
    let region = region.strip_suffix("-internal").unwrap_or(region);
    // The global acceleration endpoints name no region.
    let valid = !region.is_empty()
        && !region.starts_with("accelerate")
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    valid.then(|| region.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_regions() {
        assert_eq!(
            public_endpoint("oss-cn-beijing"),
            "https://oss-cn-beijing.aliyuncs.com"
        );
        for (endpoint, region) in [
            ("https://oss-cn-hangzhou.aliyuncs.com", Some("cn-hangzhou")),
            ("oss-cn-shanghai-internal.aliyuncs.com", Some("cn-shanghai")),
            (
                "http://mybucket.oss-us-west-1.aliyuncs.com:80/x",
                Some("us-west-1"),
            ),
            ("OSS-AP-SOUTHEAST-1.ALIYUNCS.COM", Some("ap-southeast-1")),
            ("http://127.0.0.1:9000", None),
            ("https://s3.amazonaws.com", None),
            ("https://oss-.aliyuncs.com", None),
            ("https://oss-accelerate.example.com", None),
            ("https://oss-accelerate.aliyuncs.com", None),
        ] {
            assert_eq!(
                region_of_endpoint(endpoint).as_deref(),
                region,
                "{endpoint}"
            );
        }
    }
}
