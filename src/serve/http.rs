//! The one HTTP/1.0 parser and writer of the serve layer, and the line
//! reader the agent-check protocol shares with it. The gate's answer and
//! the API's routes both read a request head with [`plausible`],
//! [`complete`] and [`parse`], and both write with [`Reply::to_http`], so
//! a status line, its reason phrase and the headers are made in one place.
//! Pure: bytes in, values or bytes out.

use crate::plumbing::json::Json;

/// The request line of an HTTP request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLine {
    /// The method token, as sent (`GET`, `HEAD` …).
    pub method: String,
    /// The request target (`/replica?lag=1MB`).
    pub target: String,
}

impl RequestLine {
    /// Whether the answer carries headers only (HEAD and OPTIONS).
    pub fn headers_only(&self) -> bool {
        matches!(self.method.as_str(), "HEAD" | "OPTIONS")
    }
}

/// The request line of `head`: method, target and an `HTTP/` version
/// (anything after them is ignored); `None` when it is not HTTP.
pub fn parse(head: &[u8]) -> Option<RequestLine> {
    let line = line_until(head, |b| b == b'\n');
    let mut parts = line.split_whitespace();
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if !version.starts_with("HTTP/") {
        return None;
    }
    Some(RequestLine {
        method: method.to_string(),
        target: target.to_string(),
    })
}

/// Whether the bytes so far can be the start of an HTTP method token.
pub fn plausible(head: &[u8]) -> bool {
    let token_len = head.iter().take_while(|b| b.is_ascii_uppercase()).count();
    token_len > 0 && (token_len == head.len() || head[token_len] == b' ')
}

/// Whether `head` holds a whole HTTP request head.
pub fn complete(head: &[u8]) -> bool {
    head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n")
}

/// The text of `head` before the first byte `end` accepts (all of it when
/// none does), invalid UTF-8 replaced.
pub fn line_until(head: &[u8], end: impl Fn(u8) -> bool) -> String {
    let stop = head.iter().position(|&b| end(b)).unwrap_or(head.len());
    String::from_utf8_lossy(&head[..stop]).into_owned()
}

/// An answer: status code, content type, body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Reply {
    /// `body` rendered on one line, as `application/json`.
    pub fn json(status: u16, body: Json) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body: format!("{}\n", body.render()),
        }
    }

    /// The HTTP/1.0 response; `with_body` false for HEAD and OPTIONS.
    pub fn to_http(&self, with_body: bool) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.0 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
            self.status,
            reason_phrase(self.status),
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        if with_body {
            out.extend_from_slice(self.body.as_bytes());
        }
        out
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_are_http_or_not() {
        let get = parse(b"GET / HTTP/1.1\r\n\r\n").expect("GET");
        assert_eq!((get.method.as_str(), get.target.as_str()), ("GET", "/"));
        assert!(!get.headers_only());
        assert!(parse(b"HEAD /health HTTP/1.0\r\n\r\n")
            .expect("HEAD")
            .headers_only());
        assert!(parse(b"OPTIONS / HTTP/1.0\r\n\r\n")
            .expect("OPTIONS")
            .headers_only());
        assert_eq!(parse(b"GET /\r\n"), None);
        assert_eq!(parse(b"GET / SIP/2.0\r\n\r\n"), None);
        assert_eq!(parse(b"\x16\x03\x01"), None);
        assert!(plausible(b"GET"));
        assert!(plausible(b"OPTIONS / HTTP"));
        assert!(!plausible(b"\x00\x00\x00\x08"));
        assert!(!plausible(b"get /"));
        assert!(complete(b"GET / HTTP/1.0\r\n\r\n"));
        assert!(complete(b"GET / HTTP/1.0\n\n"));
        assert!(!complete(b"GET / HTTP/1.0\r\n"));
    }

    #[test]
    fn the_writer_makes_status_line_headers_and_body() {
        let r = Reply::json(503, Json::object().with("a", 1u64));
        let full = String::from_utf8(r.to_http(true)).expect("utf-8");
        assert_eq!(
            full,
            "HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n\
             Content-Length: 8\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n{\"a\":1}\n"
        );
        let head = String::from_utf8(r.to_http(false)).expect("utf-8");
        assert!(head.ends_with("\r\n\r\n"), "{head:?}");
    }
}
