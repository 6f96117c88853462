//! A file part gives up its place among the `parallel` parts being sent once its bytes are out:
//! while the service is still storing it, the next part is already on its way, and no more than
//! three times `parallel` requests are ever open. A stand-in service on loopback holds every
//! UploadPart answer until `3 * parallel` bodies have arrived unanswered (or a few seconds have
//! passed, which is what a client that waits for each answer before sending the next part
//! would see), and counts what was open at once.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use osspart::{Client, Config, UploadOptions};
use osspart_protocol::crc64;

use crate::support::{credentials, pattern, PART};

const PARALLEL: usize = 2;

/// Unanswered parts the stand-in waits for before it answers them all.
const HOLD: usize = 3 * PARALLEL;

/// Longest the stand-in holds an answer when fewer than [`HOLD`] parts arrive.
const GIVE_UP: Duration = Duration::from_secs(3);

#[derive(Default)]
struct Counts {
    /// UploadPart requests whose head arrived and whose answer is not yet sent.
    open: usize,
    most_open: usize,
    /// Of those, the ones whose whole body arrived.
    waiting: usize,
    most_waiting: usize,
    /// Bodies that arrived, and how many of them may be answered.
    arrived: usize,
    released: usize,
    /// CRC-64 and length of each part received.
    parts: BTreeMap<u32, (u64, u64)>,
}

struct Shared {
    counts: Mutex<Counts>,
    changed: Condvar,
}

fn start_stand_in() -> (std::net::SocketAddr, Arc<Shared>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let shared = Arc::new(Shared {
        counts: Mutex::default(),
        changed: Condvar::new(),
    });
    let state = shared.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let state = state.clone();
            std::thread::spawn(move || serve(conn, &state));
        }
    });
    (addr, shared)
}

/// Answers requests on one connection until the client closes it.
fn serve(conn: TcpStream, shared: &Shared) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    loop {
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => head.push(line.trim_end().to_owned()),
            }
        }
        let Some(request_line) = head.first() else {
            return;
        };
        let mut words = request_line.split(' ');
        let method = words.next().unwrap_or_default().to_owned();
        let target = words.next().unwrap_or_default().to_owned();
        let length: u64 = head
            .iter()
            .find_map(|h| {
                let (name, value) = h.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        let part = target
            .split(['?', '&'])
            .find_map(|q| q.strip_prefix("partNumber="))
            .and_then(|n| n.parse::<u32>().ok());
        if let Some(number) = part {
            {
                let mut c = shared.counts.lock().unwrap();
                c.open += 1;
                c.most_open = c.most_open.max(c.open);
            }
            let mut body = vec![0u8; length as usize];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            let crc = crc64::checksum(&body);
            hold_answer(shared, number, crc, length);
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nETag: \"E{number}\"\r\n\
                 x-oss-hash-crc64ecma: {crc}\r\n\r\n"
            );
            if conn.write_all(answer.as_bytes()).is_err() {
                return;
            }
            continue;
        }
        let mut body = vec![0u8; length as usize];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (xml, crc) = if method == "POST" && target.contains("uploads") {
            (
                "<InitiateMultipartUploadResult><Bucket>bkt1</Bucket><Key>k</Key>\
                 <UploadId>U1</UploadId></InitiateMultipartUploadResult>"
                    .to_owned(),
                None,
            )
        } else {
            let c = shared.counts.lock().unwrap();
            let crc = crc64::combine_all(c.parts.values().copied());
            (
                "<CompleteMultipartUploadResult><Location>l</Location><Bucket>bkt1</Bucket>\
                 <Key>k</Key><ETag>\"C\"</ETag></CompleteMultipartUploadResult>"
                    .to_owned(),
                Some(crc),
            )
        };
        let crc_header = crc
            .map(|c| format!("x-oss-hash-crc64ecma: {c}\r\n"))
            .unwrap_or_default();
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n{crc_header}\r\n{xml}",
            xml.len()
        );
        if conn.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// Records an arrived part and waits until it may be answered: once [`HOLD`] parts wait, all
/// of them are released; a part that waits [`GIVE_UP`] releases itself.
fn hold_answer(shared: &Shared, number: u32, crc: u64, len: u64) {
    let mut c = shared.counts.lock().unwrap();
    c.parts.insert(number, (crc, len));
    let ticket = c.arrived;
    c.arrived += 1;
    c.waiting += 1;
    c.most_waiting = c.most_waiting.max(c.waiting);
    if c.waiting >= HOLD {
        c.released = c.arrived;
        shared.changed.notify_all();
    }
    let deadline = Instant::now() + GIVE_UP;
    while c.released <= ticket {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        c = shared.changed.wait_timeout(c, left).unwrap().0;
    }
    c.waiting -= 1;
    // Counted as answered before the answer goes out, so the client cannot be ahead of it.
    c.open -= 1;
}

#[tokio::test]
async fn a_file_part_frees_its_place_once_sent_and_open_requests_stay_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("src.bin");
    let parts = 4 * HOLD;
    let data = pattern(parts * PART, 31);
    std::fs::write(&path, &data).unwrap();
    for sendfile in [true, false] {
        let (addr, shared) = start_stand_in();
        let config = Config::new(
            format!("http://{addr}"),
            "cn-hangzhou",
            "bkt1",
            credentials(),
        )
        .with_sendfile(sendfile);
        let client = Client::new(config).unwrap();
        let options = UploadOptions::default()
            .with_part_size(PART as u64)
            .with_parallel(PARALLEL);
        let started = Instant::now();
        let out = client
            .multipart_upload("k", path.as_path(), options)
            .await
            .unwrap();
        assert_eq!(out.crc64, crc64::checksum(&data), "sendfile {sendfile}");
        let c = shared.counts.lock().unwrap();
        assert_eq!(c.parts.len(), parts, "sendfile {sendfile}");
        assert_eq!(
            c.most_waiting, HOLD,
            "sendfile {sendfile}: parts went out while earlier ones waited for answers"
        );
        assert!(
            c.most_open <= HOLD,
            "sendfile {sendfile}: {} requests were open at once",
            c.most_open
        );
        // Every wave was released by arrivals, none by the stand-in giving up.
        assert!(started.elapsed() < GIVE_UP, "sendfile {sendfile}");
    }
}
