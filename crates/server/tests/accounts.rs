//! Accounts and ACLs: buckets belong to the account whose key created them; other accounts
//! and unsigned requests get only what the bucket and object ACLs open; STS keys expire.

use osspart_protocol::sign::Credentials;
use osspart_server::config::Account;
use time::OffsetDateTime;

use crate::support::{between_all, snapshot, Req, Sign, TestServer};

/// The second account's key.
const B_ID: &str = "account-b-key";
const B_SECRET: &str = "account-b-secret";
/// A second key of the second account.
const B2_ID: &str = "account-b-key-2";
/// STS keys of the second account: one still valid, one expired.
const STS_OK: &str = "STS.valid";
const STS_OLD: &str = "STS.expired";

fn two_accounts() -> TestServer {
    TestServer::start_with(|c| {
        let key = |id: &str, token: Option<&str>| Credentials {
            access_key_id: id.into(),
            access_key_secret: B_SECRET.into(),
            security_token: token.map(Into::into),
        };
        c.accounts.push(Account {
            id: "2222222222222222".into(),
            credentials: vec![
                key(B_ID, None),
                key(B2_ID, None),
                key(STS_OK, Some("tok-ok")),
                key(STS_OLD, Some("tok-old")),
            ],
        });
        let now = OffsetDateTime::now_utc();
        c.key_expiry
            .insert(STS_OK.into(), now + time::Duration::hours(1));
        c.key_expiry
            .insert(STS_OLD.into(), now - time::Duration::seconds(1));
    })
}

fn as_b(r: Req) -> Req {
    r.key_id(B_ID).secret(B_SECRET)
}

fn anon(r: Req) -> Req {
    r.sign(Sign::None)
}

#[test]
fn buckets_belong_to_their_creator() {
    let s = two_accounts();
    s.create_bucket("alpha");
    let r = s.req("PUT", Some("alpha"), Some("k")).body("a").send();
    assert_eq!(r.status, 200);
    let before = snapshot(&s, "alpha");

    // Re-creating your own bucket is fine; another account's name is taken.
    assert_eq!(s.req("PUT", Some("alpha"), None).send().status, 200);
    as_b(s.req("PUT", Some("alpha"), None))
        .send()
        .assert_error(409, "BucketAlreadyExists");

    // The other account can neither read nor change anything of it.
    for (method, key, query) in [
        ("GET", Some("k"), None),
        ("HEAD", Some("k"), None),
        ("PUT", Some("k"), None),
        ("DELETE", Some("k"), None),
        ("GET", None, None),
        ("DELETE", None, None),
        ("GET", None, Some("acl")),
        ("GET", None, Some("bucketInfo")),
        ("GET", Some("k"), Some("acl")),
        ("GET", Some("k"), Some("tagging")),
        ("POST", Some("k"), Some("uploads")),
    ] {
        let mut r = as_b(s.req(method, Some("alpha"), key));
        if let Some(q) = query {
            r = r.query(q, "");
        }
        r.send().assert_error(403, "AccessDenied");
    }
    // Neither can anyone unsigned.
    anon(s.req("GET", Some("alpha"), Some("k")))
        .send()
        .assert_error(403, "AccessDenied");
    anon(s.req("PUT", Some("beta"), None))
        .send()
        .assert_error(403, "AccessDenied");
    anon(s.req("GET", None, None))
        .send()
        .assert_error(403, "AccessDenied");
    assert_eq!(snapshot(&s, "alpha"), before);

    // Each account lists only its own buckets; any of its keys acts for it.
    s.req("GET", None, None).send();
    assert_eq!(as_b(s.req("PUT", Some("beta"), None)).send().status, 200);
    let mine = between_all(&s.req("GET", None, None).send().text(), "<Name>", "</Name>");
    assert_eq!(mine, ["alpha"]);
    let theirs = s
        .req("GET", None, None)
        .key_id(B2_ID)
        .secret(B_SECRET)
        .send()
        .text();
    assert_eq!(between_all(&theirs, "<Name>", "</Name>"), ["beta"]);
    assert!(theirs.contains("<ID>2222222222222222</ID>"), "{theirs}");
    s.req("GET", Some("beta"), None)
        .send()
        .assert_error(403, "AccessDenied");
    let r = s
        .req("PUT", Some("beta"), Some("x"))
        .key_id(B2_ID)
        .secret(B_SECRET)
        .body("b")
        .send();
    assert_eq!(r.status, 200);
}

#[test]
fn acls_open_what_they_say_and_nothing_else() {
    let s = two_accounts();
    let r = s
        .req("PUT", Some("pub"), None)
        .header("x-oss-acl", "public-read")
        .send();
    assert_eq!(r.status, 200);
    let acl = s.req("GET", Some("pub"), None).query("acl", "").send();
    assert!(
        acl.text().contains("<Grant>public-read</Grant>"),
        "{}",
        acl.text()
    );
    for key in ["open", "closed"] {
        let r = s.req("PUT", Some("pub"), Some(key)).body(key).send();
        assert_eq!(r.status, 200);
    }
    let r = s
        .req("PUT", Some("pub"), Some("closed"))
        .query("acl", "")
        .header("x-oss-object-acl", "private")
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    let before = snapshot(&s, "pub");

    // Public reads, with or without a signature; the private object stays closed.
    let r = anon(s.req("GET", Some("pub"), Some("open"))).send();
    assert_eq!((r.status, r.text().as_str()), (200, "open"));
    assert_eq!(
        anon(s.req("HEAD", Some("pub"), Some("open"))).send().status,
        200
    );
    assert_eq!(anon(s.req("GET", Some("pub"), None)).send().status, 200);
    assert_eq!(
        as_b(s.req("GET", Some("pub"), Some("open"))).send().status,
        200
    );
    anon(s.req("GET", Some("pub"), Some("closed")))
        .send()
        .assert_error(403, "AccessDenied");
    as_b(s.req("GET", Some("pub"), Some("closed")))
        .send()
        .assert_error(403, "AccessDenied");
    // Reading is all public-read gives.
    anon(s.req("PUT", Some("pub"), Some("new")).body("x"))
        .send()
        .assert_error(403, "AccessDenied");
    anon(s.req("DELETE", Some("pub"), Some("open")))
        .send()
        .assert_error(403, "AccessDenied");
    as_b(
        s.req("PUT", Some("pub"), None)
            .query("acl", "")
            .header("x-oss-acl", "public-read-write"),
    )
    .send()
    .assert_error(403, "AccessDenied");
    as_b(
        s.req("PUT", Some("pub"), Some("open"))
            .query("acl", "")
            .header("x-oss-object-acl", "public-read-write"),
    )
    .send()
    .assert_error(403, "AccessDenied");
    assert_eq!(snapshot(&s, "pub"), before);

    // An object's own public-read opens it inside a private bucket.
    let r = s
        .req("PUT", Some("pub"), None)
        .query("acl", "")
        .header("x-oss-acl", "private")
        .send();
    assert_eq!(r.status, 200);
    anon(s.req("GET", Some("pub"), Some("open")))
        .send()
        .assert_error(403, "AccessDenied");
    let r = s
        .req("PUT", Some("pub"), Some("shared"))
        .header("x-oss-object-acl", "public-read")
        .body("shared")
        .send();
    assert_eq!(r.status, 200);
    assert_eq!(
        anon(s.req("GET", Some("pub"), Some("shared")))
            .send()
            .status,
        200
    );
    let acl = s
        .req("GET", Some("pub"), Some("shared"))
        .query("acl", "")
        .send();
    assert!(
        acl.text().contains("<Grant>public-read</Grant>"),
        "{}",
        acl.text()
    );
    let r = s
        .req("PUT", Some("pub"), Some("shared"))
        .query("acl", "")
        .header("x-oss-object-acl", "default")
        .send();
    assert_eq!(r.status, 200);
    anon(s.req("GET", Some("pub"), Some("shared")))
        .send()
        .assert_error(403, "AccessDenied");

    // public-read-write lets anyone write, but still not change the bucket.
    let r = s
        .req("PUT", Some("pub"), None)
        .query("acl", "")
        .header("x-oss-acl", "public-read-write")
        .send();
    assert_eq!(r.status, 200);
    let r = anon(s.req("PUT", Some("pub"), Some("drop")).body("anyone")).send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        anon(s.req("DELETE", Some("pub"), Some("drop")))
            .send()
            .status,
        204
    );
    anon(s.req("DELETE", Some("pub"), None))
        .send()
        .assert_error(403, "AccessDenied");
    let info = s
        .req("GET", Some("pub"), None)
        .query("bucketInfo", "")
        .send();
    assert!(info.text().contains("<Grant>public-read-write</Grant>"));
}

#[test]
fn sts_keys_expire() {
    let s = two_accounts();
    let r = as_b(s.req("PUT", Some("sts"), None)).send();
    assert_eq!(r.status, 200);
    for sign in [Sign::V1, Sign::V4] {
        let r = s
            .req("GET", Some("sts"), None)
            .key_id(STS_OK)
            .secret(B_SECRET)
            .token("tok-ok")
            .sign(sign)
            .send();
        assert_eq!(r.status, 200, "{}", r.text());
        let r = s
            .req("GET", Some("sts"), None)
            .key_id(STS_OLD)
            .secret(B_SECRET)
            .token("tok-old")
            .sign(sign)
            .send();
        r.assert_error(403, "SecurityTokenExpired");
        assert!(r.text().contains("<SecurityToken>tok-old</SecurityToken>"));
    }
    // A forged signature with the expired key learns nothing about the expiry.
    s.req("GET", Some("sts"), None)
        .key_id(STS_OLD)
        .secret("wrong")
        .token("tok-old")
        .send()
        .assert_error(403, "SignatureDoesNotMatch");
}

#[test]
fn anonymous_mode_refuses_keys() {
    let mut c = osspart_server::ServerConfig::new("/nonexistent", "127.0.0.1:0".parse().unwrap());
    c.anonymous = true;
    assert!(c.validate().is_ok());
    c.credentials.push(Credentials {
        access_key_id: "k".into(),
        access_key_secret: "s".into(),
        security_token: None,
    });
    assert!(c.validate().is_err());
    c.anonymous = false;
    assert!(c.validate().is_ok());
    c.accounts.push(Account {
        id: "2".into(),
        credentials: c.credentials.clone(),
    });
    assert!(c.validate().is_err(), "a key listed twice");
}
