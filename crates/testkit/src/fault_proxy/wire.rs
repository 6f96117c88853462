//! Just enough HTTP/1.1 framing for the proxy to find where each request and response ends:
//! heads up to the blank line, bodies by `Content-Length` or chunked encoding (or, for
//! responses, by the end of the connection). Bytes are relayed verbatim; the one rewrite is a
//! single body byte flipped on request (a corruption fault), which keeps every length.

use std::io;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Longest head the proxy accepts (request line or status line plus headers).
const MAX_HEAD: usize = 64 * 1024;

/// Size of the slices bodies are relayed in.
const SLICE: usize = 64 * 1024;

/// A request or response head as it arrived.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    /// The bytes of the head, blank line included.
    pub raw: Vec<u8>,
    /// Request line or status line, without CRLF.
    pub start: String,
    /// Headers, names lower-cased, values trimmed.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first header called `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether a `Connection` header asks to close after this message.
    pub fn wants_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    }

    /// Status code of a response head (0 when unreadable).
    pub fn status(&self) -> u16 {
        self.start
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    fn chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }

    fn content_length(&self) -> io::Result<Option<u64>> {
        match self.header("content-length") {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad Content-Length")),
        }
    }

    /// How the body of this request is delimited.
    pub fn request_body(&self) -> io::Result<Body> {
        if self.chunked() {
            Ok(Body::Chunked)
        } else {
            Ok(Body::Length(self.content_length()?.unwrap_or(0)))
        }
    }

    /// How the body of this response to a `method` request is delimited.
    pub fn response_body(&self, method: &str) -> io::Result<Body> {
        let status = self.status();
        if method == "HEAD" || status == 204 || status == 304 || (100..200).contains(&status) {
            Ok(Body::Length(0))
        } else if self.chunked() {
            Ok(Body::Chunked)
        } else {
            Ok(match self.content_length()? {
                Some(n) => Body::Length(n),
                None => Body::UntilClose,
            })
        }
    }
}

/// How a body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Body {
    /// After this many bytes.
    Length(u64),
    /// At the zero-size chunk and its trailers.
    Chunked,
    /// When the sender closes the connection (responses only).
    UntilClose,
}

impl Body {
    /// The body's size when the framing states it.
    pub fn known_len(self) -> Option<u64> {
        match self {
            Body::Length(n) => Some(n),
            _ => None,
        }
    }
}

/// Reads one head. `Ok(None)` when the stream ends cleanly before its first byte.
pub(crate) async fn read_head<R: AsyncBufRead + Unpin>(r: &mut R) -> io::Result<Option<Head>> {
    let mut raw = Vec::new();
    loop {
        let n = r.read_until(b'\n', &mut raw).await?;
        if n == 0 {
            return if raw.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        // Tolerate blank lines before a request line (RFC 9112 section 2.2).
        if raw == b"\r\n" || raw == b"\n" {
            raw.clear();
            continue;
        }
        if raw.ends_with(b"\r\n\r\n") || raw.ends_with(b"\n\n") {
            break;
        }
        if raw.len() > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "head too long"));
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let mut lines = text.lines();
    let start = lines.next().unwrap_or_default().trim_end().to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(Some(Head {
        raw,
        start,
        headers,
    }))
}

/// Where relaying stops early: at most this many more bytes are written (`None`: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cutoff(pub Option<u64>);

impl Cutoff {
    /// Never stop early.
    pub const NONE: Cutoff = Cutoff(None);

    /// How many of `len` bytes may still be written; the allowance shrinks by that much.
    fn take(&mut self, len: usize) -> usize {
        match &mut self.0 {
            None => len,
            Some(left) => {
                let n = (*left).min(len as u64) as usize;
                *left -= n as u64;
                n
            }
        }
    }
}

/// What relaying a message achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Relayed {
    /// All of it went through; `body` bytes of body.
    Whole { body: u64 },
    /// The cutoff stopped it after `body` bytes of body (head bytes not counted).
    Cut { body: u64 },
}

impl Relayed {
    /// Body bytes written.
    pub fn body_bytes(self) -> u64 {
        match self {
            Relayed::Whole { body } | Relayed::Cut { body } => body,
        }
    }
}

/// Writes as much of `data` as the cutoff allows; true when it stopped part-way.
async fn write_within<W: AsyncWrite + Unpin>(
    w: &mut W,
    data: &[u8],
    cut: &mut Cutoff,
) -> io::Result<bool> {
    let n = cut.take(data.len());
    w.write_all(&data[..n]).await?;
    Ok(n < data.len())
}

/// Relays a head and then a body delimited by `body`, stopping when `cut` runs out. When `sink`
/// is `None` the message is read and dropped (a drained request). Body bytes are counted as
/// they are written, so a cut message reports how much of it got through. `flip` names a body
/// byte (0-based, framing not counted) that is inverted on the way; nothing else changes.
pub(crate) async fn relay_message<R, W>(
    from: &mut R,
    head: &[u8],
    body: Body,
    mut sink: Option<&mut W>,
    mut cut: Cutoff,
    flip: Option<u64>,
) -> io::Result<Relayed>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    if let Some(w) = sink.as_deref_mut() {
        if write_within(w, head, &mut cut).await? {
            w.flush().await?;
            return Ok(Relayed::Cut { body: 0 });
        }
    }
    let mut written = 0u64;
    let mut buf = vec![0u8; SLICE];
    // Relays `data`; Some(result) when the cutoff ended the message.
    macro_rules! pass {
        ($data:expr, $is_body:expr) => {{
            let mut data: &[u8] = $data;
            let flipped;
            if let Some(at) =
                flip.filter(|&at| $is_body && at >= written && at - written < data.len() as u64)
            {
                let mut copy = data.to_vec();
                copy[(at - written) as usize] ^= 0xFF;
                flipped = copy;
                data = &flipped;
            }
            if let Some(w) = sink.as_deref_mut() {
                let allowed_before = cut.0;
                let stopped = write_within(w, data, &mut cut).await?;
                if $is_body {
                    written += match (allowed_before, cut.0) {
                        (Some(a), Some(b)) => a - b,
                        _ => data.len() as u64,
                    };
                }
                if stopped {
                    w.flush().await?;
                    return Ok(Relayed::Cut { body: written });
                }
            } else if $is_body {
                written += data.len() as u64;
            }
        }};
    }
    match body {
        Body::Length(mut left) => {
            while left > 0 {
                let want = (left as usize).min(SLICE);
                let n = from.read(&mut buf[..want]).await?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                left -= n as u64;
                pass!(&buf[..n], true);
            }
        }
        Body::UntilClose => loop {
            let n = from.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            pass!(&buf[..n], true);
        },
        Body::Chunked => loop {
            let mut line = Vec::new();
            if from.read_until(b'\n', &mut line).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let size_text = String::from_utf8_lossy(&line);
            let size = u64::from_str_radix(size_text.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            pass!(&line, false);
            if size == 0 {
                loop {
                    let mut trailer = Vec::new();
                    if from.read_until(b'\n', &mut trailer).await? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    pass!(&trailer, false);
                    if trailer == b"\r\n" || trailer == b"\n" {
                        break;
                    }
                }
                break;
            }
            let mut left = size + 2;
            while left > 0 {
                let want = (left as usize).min(SLICE);
                let n = from.read(&mut buf[..want]).await?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                // The chunk's closing CRLF is framing, not body.
                let data_end = n.min(left.saturating_sub(2) as usize);
                left -= n as u64;
                pass!(&buf[..data_end], true);
                pass!(&buf[data_end..n], false);
            }
        },
    }
    if let Some(w) = sink {
        w.flush().await?;
    }
    Ok(Relayed::Whole { body: written })
}
