//! ossutil's config file (`~/.ossutilconfig`, INI), read as the last source of endpoint and
//! keys: what osspart's own flags, environment and config file leave open.
//!
//! ossutil 1 keeps its keys in `[Credentials]` (`endpoint`, `accessKeyID`, `accessKeySecret`,
//! `stsToken`) and other profiles in sections of their own name; ossutil 2 uses `[default]`
//! and `[profile NAME]` and adds `region`. Both are understood; nothing is ever written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::settings::ConfigFile;

/// Where ossutil's config file is: `$OSSUTIL_CONFIG_FILE`, else `~/.ossutilconfig`.
pub fn path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    env("OSSUTIL_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".ossutilconfig")))
}

/// Sections of an INI file: name -> (lower-cased key -> value). Later duplicates win.
pub type Sections = BTreeMap<String, BTreeMap<String, String>>;

/// Parses INI text: `[section]` headers, `key = value` (or `key: value`) lines, `#` and `;`
/// comment lines. Lines before the first header and lines without `=` are ignored.
pub fn parse_ini(text: &str) -> Sections {
    let mut sections = Sections::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim().to_owned();
            sections.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        let Some(section) = &current else { continue };
        let Some((key, value)) = line.split_once(['=', ':']) else {
            continue;
        };
        sections
            .entry(section.clone())
            .or_default()
            .insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    sections
}

/// The values of one ossutil section, as a layer of osspart's configuration.
fn layer(section: &BTreeMap<String, String>) -> ConfigFile {
    let get = |k: &str| section.get(k).filter(|v| !v.is_empty()).cloned();
    ConfigFile {
        endpoint: get("endpoint"),
        region: get("region"),
        access_key_id: get("accesskeyid"),
        access_key_secret: get("accesskeysecret"),
        session_token: get("ststoken"),
        ..ConfigFile::default()
    }
}

/// ossutil's layers, highest precedence first: the selected profile's section (`[NAME]` or
/// `[profile NAME]`), then the default one (`[Credentials]` or `[default]`). The flag says
/// whether the selected profile was found.
pub fn layers(sections: &Sections, profile: Option<&str>) -> (Vec<ConfigFile>, bool) {
    let mut out = Vec::new();
    let mut found = false;
    if let Some(name) = profile {
        for section in [name.to_owned(), format!("profile {name}")] {
            if let Some(values) = sections.get(&section) {
                out.push(layer(values));
                found = true;
            }
        }
    }
    for default in ["Credentials", "default"] {
        if let Some(values) = sections.get(default) {
            out.push(layer(values));
        }
    }
    (out, found)
}

/// Reads and parses the file at `path`; a missing file has no sections.
pub fn read(path: &Path) -> anyhow::Result<Sections> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(parse_ini(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Sections::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read ossutil config {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ossutil_1_and_2_files() {
        let text = "\
# written by ossutil config
[Credentials]
language=EN
endpoint = oss-cn-beijing.aliyuncs.com
accessKeyID=LTAI-default
accessKeySecret = s=with=equals
stsToken=
[dev]
accessKeyID: LTAI-dev
accessKeySecret: dev-secret
stsToken: dev-token
[profile prod]
region = cn-shanghai
[Bucket-Endpoint]
; ignored by osspart
";
        let sections = parse_ini(text);
        let (l, found) = layers(&sections, None);
        assert!(!found);
        assert_eq!(l.len(), 1);
        assert_eq!(
            l[0].endpoint.as_deref(),
            Some("oss-cn-beijing.aliyuncs.com")
        );
        assert_eq!(l[0].access_key_id.as_deref(), Some("LTAI-default"));
        assert_eq!(l[0].access_key_secret.as_deref(), Some("s=with=equals"));
        assert_eq!(l[0].session_token, None, "an empty stsToken is no token");

        let (l, found) = layers(&sections, Some("dev"));
        assert!(found);
        assert_eq!(l[0].access_key_id.as_deref(), Some("LTAI-dev"));
        assert_eq!(l[0].session_token.as_deref(), Some("dev-token"));
        assert_eq!(l[1].access_key_id.as_deref(), Some("LTAI-default"));

        let (l, found) = layers(&sections, Some("prod"));
        assert!(found);
        assert_eq!(l[0].region.as_deref(), Some("cn-shanghai"));
        assert!(!layers(&sections, Some("nope")).1);
    }
}
