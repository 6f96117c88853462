//! The fault proxy itself: each fault kind reaches a real client as the failure it stands for,
//! and the counters and seeded choices behave as documented.

use std::time::{Duration, Instant};

use bytes::Bytes;
use osspart::{Client, Error, ObjectOptions, RetryPolicy};
use osspart_testkit::{
    object_bytes, Cut, Fault, FaultKind, FaultProxy, FaultRule, InjectedError, LocalServer, Phase,
    SeenRequest,
};

/// A server, a proxy in front of it, a client through the proxy that never retries, and a
/// direct client; the bucket exists.
async fn setup(seed: u64) -> (LocalServer, FaultProxy, Client, Client) {
    let server = LocalServer::start().await.unwrap();
    let direct = server.client("proxied").await.unwrap();
    let proxy = FaultProxy::start_seeded(server.addr(), seed).await.unwrap();
    let mut config = server.config_at(&proxy.endpoint(), "proxied");
    config.retry = RetryPolicy::none();
    config.request_timeout = Duration::from_millis(500);
    let client = Client::new(config).unwrap();
    (server, proxy, client, direct)
}

fn is_put(r: &SeenRequest) -> bool {
    r.method == "PUT"
}

#[tokio::test]
async fn forwards_keep_alive_requests_and_counts_body_bytes() {
    let (server, proxy, client, _) = setup(1).await;
    let data = Bytes::from(object_bytes(1, 300_000));
    for i in 0..5 {
        client
            .put_object(&format!("k{i}"), data.clone(), &ObjectOptions::default())
            .await
            .unwrap();
    }
    let (_, got) = client.get_object("k4", None).await.unwrap();
    assert_eq!(got, data);
    let stats = proxy.stats();
    assert_eq!(stats.requests, 6);
    assert_eq!(stats.forwarded, 6);
    assert_eq!(stats.total_injected(), 0);
    assert_eq!(stats.put_body_bytes_forwarded, 5 * 300_000);
    assert_eq!(stats.response_body_bytes, 300_000);
    assert_eq!(server.ingested(), 5 * 300_000);
    assert_eq!(proxy.seen().iter().filter(|r| is_put(r)).count(), 5);
}

#[tokio::test]
async fn answers_oss_errors_without_forwarding() {
    let (server, proxy, client, _) = setup(2).await;
    proxy.add(FaultRule::new(Fault::Respond(InjectedError::slow_down())).times(1));
    proxy.add(FaultRule::new(Fault::Respond(InjectedError::internal_error())).times(1));
    let body = Bytes::from_static(b"hello");
    let err = client
        .put_object("k", body.clone(), &ObjectOptions::default())
        .await
        .unwrap_err();
    match &err {
        Error::Service {
            status,
            code,
            request_id,
            ..
        } => {
            assert_eq!((*status, code.as_str()), (503, "SlowDown"));
            assert_eq!(request_id.len(), 24);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.is_retryable());
    // A HEAD error has no body: the code travels in x-oss-err.
    let err = client.head_object("k").await.unwrap_err();
    assert_eq!(err.code(), Some("InternalError"));
    assert_eq!(server.count("PutObject"), 0);
    // The drained body kept the connection usable: the next request goes through.
    client
        .put_object("k", body, &ObjectOptions::default())
        .await
        .unwrap();
    let stats = proxy.stats();
    assert_eq!(stats.count(FaultKind::SlowDown), 1);
    assert_eq!(stats.count(FaultKind::InternalError), 1);
    assert_eq!(stats.forwarded, 1);
}

#[tokio::test]
async fn resets_and_truncations_break_the_exchange_where_told() {
    let (server, proxy, client, direct) = setup(3).await;
    let data = Bytes::from(object_bytes(3, 200_000));
    // Cut inside the request body: the server never completes the request.
    proxy.add(
        FaultRule::new(Fault::Reset {
            phase: Phase::Request,
            after: Cut::AfterBytes(50_000),
        })
        .times(1),
    );
    let err = client
        .put_object("a", data.clone(), &ObjectOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert_eq!(server.count("PutObject"), 0);
    let forwarded = proxy.stats().put_body_bytes_forwarded;
    assert!(forwarded > 0 && forwarded < 50_000, "{forwarded}");

    // Cut in the answer: the server did the work, the client cannot know.
    proxy.add(
        FaultRule::new(Fault::Reset {
            phase: Phase::Response,
            after: Cut::AfterBytes(20),
        })
        .times(1),
    );
    let err = client
        .put_object("b", data.clone(), &ObjectOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert_eq!(server.count("PutObject"), 1);

    // A body closed early is an incomplete message, never short data.
    proxy.add(FaultRule::new(Fault::Truncate { after: Cut::Random }).when(|r| r.method == "GET"));
    for _ in 0..3 {
        let err = client.get_object("b", None).await.unwrap_err();
        assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    }
    let (_, got) = direct.get_object("b", None).await.unwrap();
    assert_eq!(got, data);
    let stats = proxy.stats();
    assert_eq!(stats.count(FaultKind::ResetRequest), 1);
    assert_eq!(stats.count(FaultKind::ResetResponse), 1);
    assert_eq!(stats.count(FaultKind::TruncateResponse), 3);
    assert!(stats.response_body_bytes < 3 * 200_000);
}

#[tokio::test]
async fn stalls_become_timeouts_and_delays_add_latency() {
    let (_server, proxy, client, _) = setup(4).await;
    client
        .put_object("k", Bytes::from_static(b"x"), &ObjectOptions::default())
        .await
        .unwrap();
    proxy.add(
        FaultRule::new(Fault::Stall {
            phase: Phase::Response,
            duration: Duration::from_secs(2),
        })
        .times(1),
    );
    let err = client.head_object("k").await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    proxy.add(FaultRule::new(Fault::Delay {
        phase: Phase::Request,
        duration: Duration::from_millis(150),
    }));
    let t = Instant::now();
    client.head_object("k").await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(150));
    let stats = proxy.stats();
    assert_eq!(stats.count(FaultKind::StallResponse), 1);
    assert_eq!(stats.count(FaultKind::Delay), 1);
}

#[tokio::test]
async fn the_seed_fixes_which_requests_are_hit() {
    let mut runs = Vec::new();
    for _ in 0..2 {
        let (_server, proxy, client, _) = setup(42).await;
        proxy.add(
            FaultRule::new(Fault::Respond(InjectedError::service_unavailable())).fraction(0.5),
        );
        let mut hit = Vec::new();
        for _ in 0..40 {
            hit.push(
                client.head_object("missing").await.unwrap_err().code()
                    == Some("ServiceUnavailable"),
            );
        }
        runs.push(hit);
    }
    assert_eq!(runs[0], runs[1]);
    let n = runs[0].iter().filter(|h| **h).count();
    assert!((5..=35).contains(&n), "{n} of 40 hit at fraction 0.5");
}

/// Positions where `a` and `b` differ (same length asserted).
fn differing_bytes(a: &[u8], b: &[u8]) -> Vec<usize> {
    assert_eq!(a.len(), b.len(), "the corrupted body keeps its length");
    (0..a.len()).filter(|&i| a[i] != b[i]).collect()
}

#[tokio::test]
async fn corruption_flips_exactly_one_body_byte() {
    let (_server, proxy, client, direct) = setup(5).await;
    let data = Bytes::from(object_bytes(5, 300_000));
    direct
        .put_object("k", data.clone(), &ObjectOptions::default())
        .await
        .unwrap();
    let (clean, _) = direct.get_object("k", None).await.unwrap();

    // A given position (beyond the proxy's first 64 KiB slice): that byte and no other.
    proxy.add(
        FaultRule::new(Fault::Corrupt {
            at: Cut::AfterBytes(123_456),
        })
        .when(|r| r.method == "GET")
        .times(1),
    );
    let (info, got) = client.get_object("k", None).await.unwrap();
    assert_eq!(differing_bytes(&got, &data), vec![123_456]);
    assert_eq!(got[123_456], !data[123_456]);
    // The head went through untouched: same ETag, same CRC-64 (of the clean object).
    assert_eq!(info.etag, clean.etag);
    assert_eq!(info.crc64, clean.crc64);
    assert_eq!(info.size, data.len() as u64);

    // A seeded position inside a ranged answer; the connection stays usable afterwards.
    proxy.add(
        FaultRule::new(Fault::Corrupt { at: Cut::Random })
            .when(|r| r.header("range").is_some())
            .times(1),
    );
    let range = osspart_protocol::range::ByteRange::FromTo(1000, 50_999);
    let (_, got) = client.get_object("k", Some(range)).await.unwrap();
    assert_eq!(differing_bytes(&got, &data[1000..51_000]).len(), 1);
    let (_, again) = client.get_object("k", Some(range)).await.unwrap();
    assert_eq!(again, data.slice(1000..51_000));

    let stats = proxy.stats();
    assert_eq!(stats.count(FaultKind::CorruptResponse), 2);
    assert_eq!(stats.response_body_bytes, 300_000 + 2 * 50_000);
}
