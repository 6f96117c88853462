//! Graceful shutdown of `osspart serve`: on SIGTERM it stops accepting connections, finishes
//! the request in flight, closes idle connections and exits 0; what it acknowledged is there
//! after a restart.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use osspart::{Client, Config, Credentials, Method};

use crate::support::{ServerOptions, ServerProcess, ACCESS_KEY_ID, ACCESS_KEY_SECRET, REGION};

fn client(endpoint: &str) -> Client {
    Client::new(Config::new(
        endpoint,
        REGION,
        "shutdown",
        Credentials {
            access_key_id: ACCESS_KEY_ID.into(),
            access_key_secret: ACCESS_KEY_SECRET.into(),
            security_token: None,
        },
    ))
    .expect("client")
}

/// `(host, path and query)` of an `http://` URL.
fn split_url(url: &str) -> (String, String) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let slash = rest.find('/').expect("a path");
    (rest[..slash].to_owned(), rest[slash..].to_owned())
}

/// Reads an answer until the server closes the connection; its status line.
fn read_answer(s: &mut TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits_cleanly() {
    let data = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start_with(
        ServerOptions::new()
            .data_dir(data.path())
            .arg("--shutdown-grace")
            .arg("20s"),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let c = client(&server.endpoint);
    rt.block_on(c.create_bucket()).unwrap();

    // A PUT whose body is half sent when the signal arrives, and an idle connection.
    let body: Vec<u8> = (0..1u32 << 20).map(|i| (i * 7 % 251) as u8).collect();
    let (host, path) = split_url(&c.presign(Method::PUT, "in-flight", Duration::from_secs(600)));
    let mut put = TcpStream::connect(server.addr).unwrap();
    write!(
        put,
        "PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    let half = body.len() / 2;
    put.write_all(&body[..half]).unwrap();
    let mut idle = TcpStream::connect(server.addr).unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let pid = server.pid().expect("server running");
    let term = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(term.success());

    // New connections are refused from now on, while the upload is still being received.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect(server.addr) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
            Err(e) => panic!("unexpected connect error: {e}"),
            Ok(_) => {
                assert!(
                    Instant::now() < deadline,
                    "still accepting 10 s after SIGTERM"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    assert!(server.is_running(), "exited with a request in flight");
    // The idle connection is closed without an answer.
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut byte = [0u8; 1];
    assert!(matches!(idle.read(&mut byte), Ok(0) | Err(_)));

    put.write_all(&body[half..]).unwrap();
    let status = read_answer(&mut put);
    assert!(status.starts_with("HTTP/1.1 200"), "answer: {status:?}");
    let exit = server
        .wait_exit(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no exit after the request: {}", server.logs()));
    assert_eq!(exit.code(), Some(0), "{}", server.logs());

    // The acknowledged object survives a restart.
    let again = ServerProcess::start_with(ServerOptions::new().data_dir(data.path()));
    let (_, got) = rt
        .block_on(client(&again.endpoint).get_object("in-flight", None))
        .unwrap();
    assert_eq!(got.as_ref(), &body[..]);
}
