//! Request signing and verification (V1 HMAC-SHA1, V4 OSS4-HMAC-SHA256).
