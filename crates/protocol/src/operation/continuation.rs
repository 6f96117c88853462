//! ListObjectsV2 continuation tokens: the next start key, opaque to clients.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The token that resumes a listing after `key`.
pub fn encode(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

/// The key a token resumes after; `None` when the token was not made by [`encode`].
pub fn decode(token: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(token.as_bytes()).ok()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips() {
        for k in ["", "a/b c", "ü/..//x"] {
            assert_eq!(super::decode(&super::encode(k)).as_deref(), Some(k));
        }
        assert_eq!(super::decode("***"), None);
    }
}
