//! Bucket CORS: the stored rules, OPTIONS preflight, and the headers added to actual
//! cross-origin requests (errors included), so browser uploads can read ETag and request ids.

use http::{Response, StatusCode};
use hyper::body::Incoming;
use osspart_protocol::xml::cors::{CorsConfiguration, CorsRule};
use osspart_protocol::{limits, xml, ErrorCode};

use crate::http::body::{self, BodyChecks};
use crate::http::operation::{Payload, PreflightRequest};
use crate::http::response::{self, set_header, Body};
use crate::http::service::{RequestContext, State};
use crate::http::ApiError;

/// Whether `value` matches `pattern`, which may hold one `*` wildcard (case-insensitive).
fn wildcard_match(pattern: &str, value: &str) -> bool {
    let (p, v) = (pattern.to_ascii_lowercase(), value.to_ascii_lowercase());
    match p.split_once('*') {
        None => p == v,
        Some((head, tail)) => {
            v.len() >= head.len() + tail.len() && v.starts_with(head) && v.ends_with(tail)
        }
    }
}

/// The first rule allowing this origin, method and every requested header.
fn matching_rule<'a>(
    config: &'a CorsConfiguration,
    origin: &str,
    method: &str,
    headers: &[String],
) -> Option<&'a CorsRule> {
    config.rules.iter().find(|r| {
        r.allowed_origins.iter().any(|o| wildcard_match(o, origin))
            && r.allowed_methods
                .iter()
                .any(|m| m.eq_ignore_ascii_case(method))
            && headers
                .iter()
                .all(|h| r.allowed_headers.iter().any(|a| wildcard_match(a, h)))
    })
}

async fn load(state: &State, bucket: &str) -> Option<CorsConfiguration> {
    let store = state.store.clone();
    let b = bucket.to_owned();
    let text = tokio::task::spawn_blocking(move || store.cors(&b))
        .await
        .ok()?
        .ok()??;
    xml::from_xml(text.as_bytes()).ok()
}

fn allow_origin(rule: &CorsRule, origin: &str) -> String {
    if rule.allowed_origins.iter().any(|o| o == "*") {
        "*".to_owned()
    } else {
        origin.to_owned()
    }
}

/// PutBucketCors: validates and stores the rules.
pub async fn put_bucket_cors(
    ctx: &RequestContext<'_>,
    bucket: String,
    payload: Payload,
    body: &mut Incoming,
) -> Result<Response<Body>, ApiError> {
    ctx.require_bucket(&bucket).await?;
    let checks = BodyChecks::from_payload(&payload)?;
    let bytes = body::collect(body, &checks, limits::MAX_XML_BODY).await?;
    let config: CorsConfiguration = xml::from_xml(&bytes)
        .map_err(|e| ApiError::new(ErrorCode::MalformedXML).with_message(e.to_string()))?;
    if config.rules.is_empty() || config.rules.len() > limits::MAX_CORS_RULES {
        return Err(
            ApiError::new(ErrorCode::InvalidArgument).with_message(format!(
                "A CORS configuration holds 1 to {} rules.",
                limits::MAX_CORS_RULES
            )),
        );
    }
    for rule in &config.rules {
        let bad_origin = rule
            .allowed_origins
            .iter()
            .any(|o| o.matches('*').count() > 1);
        // OSS accepts only these five verbs in a rule.
        let bad_method = rule
            .allowed_methods
            .iter()
            .any(|m| !["GET", "PUT", "DELETE", "POST", "HEAD"].contains(&m.as_str()));
        if rule.allowed_origins.is_empty()
            || rule.allowed_methods.is_empty()
            || bad_origin
            || bad_method
        {
            return Err(ApiError::new(ErrorCode::InvalidArgument).with_message(
                "Each CORS rule needs AllowedOrigin (at most one '*') and AllowedMethod \
                 (GET, PUT, DELETE, POST or HEAD).",
            ));
        }
    }
    let text = xml::to_xml(&config);
    ctx.store(move |s| s.put_cors(&bucket, &text)).await?;
    Ok(response::empty(StatusCode::OK))
}

/// GetBucketCors.
pub async fn get_bucket_cors(
    ctx: &RequestContext<'_>,
    bucket: String,
) -> Result<Response<Body>, ApiError> {
    ctx.require_bucket(&bucket).await?;
    match load(ctx.state, &bucket).await {
        Some(config) => Ok(response::xml_ok(&config)),
        None => Err(ApiError::new(ErrorCode::NoSuchCORSConfiguration).with("BucketName", bucket)),
    }
}

/// DeleteBucketCors: `204`.
pub async fn delete_bucket_cors(
    ctx: &RequestContext<'_>,
    bucket: String,
) -> Result<Response<Body>, ApiError> {
    ctx.store(move |s| s.delete_cors(&bucket)).await?;
    Ok(response::empty(StatusCode::NO_CONTENT))
}

/// OPTIONS preflight (not authenticated).
pub async fn preflight(
    ctx: &RequestContext<'_>,
    req: PreflightRequest,
) -> Result<Response<Body>, ApiError> {
    let PreflightRequest {
        bucket,
        origin,
        method,
        headers,
    } = req;
    let forbidden = || ApiError::new(ErrorCode::AccessForbidden);
    if origin.is_empty() || method.is_empty() {
        return Err(
            forbidden().with_message("Preflight needs Origin and Access-Control-Request-Method.")
        );
    }
    let config = load(ctx.state, &bucket).await.ok_or_else(forbidden)?;
    let rule = matching_rule(&config, &origin, &method, &headers).ok_or_else(forbidden)?;
    let mut r = response::empty(StatusCode::OK);
    set_header(
        &mut r,
        "access-control-allow-origin",
        &allow_origin(rule, &origin),
    );
    set_header(
        &mut r,
        "access-control-allow-methods",
        &rule.allowed_methods.join(", "),
    );
    if !headers.is_empty() {
        set_header(&mut r, "access-control-allow-headers", &headers.join(", "));
    }
    if !rule.expose_headers.is_empty() {
        set_header(
            &mut r,
            "access-control-expose-headers",
            &rule.expose_headers.join(", "),
        );
    }
    if let Some(age) = rule.max_age_seconds {
        set_header(&mut r, "access-control-max-age", &age.to_string());
    }
    set_header(
        &mut r,
        "vary",
        "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    );
    Ok(r)
}

/// Adds CORS headers to the response of an actual cross-origin request when a rule allows it.
pub async fn decorate_actual(
    state: &State,
    bucket: &str,
    origin: &str,
    method: &str,
    resp: &mut Response<Body>,
) {
    // A preflight answer already carries its CORS headers.
    if resp.headers().contains_key("access-control-allow-origin") {
        return;
    }
    let Some(config) = load(state, bucket).await else {
        return;
    };
    let method = if method == "OPTIONS" { "GET" } else { method };
    let Some(rule) = matching_rule(&config, origin, method, &[]) else {
        return;
    };
    set_header(
        resp,
        "access-control-allow-origin",
        &allow_origin(rule, origin),
    );
    if !rule.expose_headers.is_empty() {
        set_header(
            resp,
            "access-control-expose-headers",
            &rule.expose_headers.join(", "),
        );
    }
    set_header(resp, "vary", "Origin");
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn one_wildcard() {
        assert!(wildcard_match("*", "http://a.b"));
        assert!(wildcard_match(
            "http://*.example.com",
            "http://www.example.com"
        ));
        assert!(!wildcard_match(
            "http://*.example.com",
            "http://example.org"
        ));
        assert!(wildcard_match("x-oss-*", "x-oss-date"));
        assert!(!wildcard_match("a", "b"));
    }
}
