//! `git ls-remote` for `http://` repositories, without git: the refs a
//! server advertises at `<repository>/info/refs?service=git-upload-pack`.
//! A smart server answers with pkt-lines (`application/x-git-upload-pack-
//! advertisement`, protocol v0: we send no `Git-Protocol` header); a dumb one
//! (a plain web server over a repository after `git update-server-info`)
//! ignores the query and sends the `info/refs` file, `<id>\t<ref>` lines.
//! Both list a tag's peeled commit as `<ref>^{}` (dumb: when
//! update-server-info wrote it, which it does for annotated tags).
//!
//! Plain HTTP/1.1 over a TCP stream (`Connection: close`), redirects
//! followed within `http://`, bodies capped, every read and write under a
//! timeout. `https://` would need TLS, which the helper does not carry.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Largest advertisement read (a repository with very many tags is a few MiB).
const MAX_RESPONSE: u64 = 64 << 20;
/// Connect, read and write timeout.
const TIMEOUT: Duration = Duration::from_secs(60);
/// Redirects followed.
const MAX_REDIRECTS: usize = 5;

/// One advertised ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRef {
    /// Object id (lower-case hex).
    pub id: String,
    /// `refs/tags/v1`, `refs/tags/v1^{}` (peeled), `HEAD`, …
    pub name: String,
}

/// The refs of the `http://` repository `repository`; `None` when the
/// server wants credentials (HTTP 401/403): the helper has none, BuildKit
/// alone gets the auth secrets.
pub fn ls_remote(repository: &str) -> Result<Option<Vec<RemoteRef>>, String> {
    let mut url = format!(
        "{}/info/refs?service=git-upload-pack",
        repository.trim_end_matches('/')
    );
    for _ in 0..=MAX_REDIRECTS {
        let response = get(&url).map_err(|e| format!("asking {url} for its refs: {e}"))?;
        match response.status {
            200 => {
                let smart = response
                    .content_type
                    .contains("application/x-git-upload-pack-advertisement");
                return parse_advertisement(&response.body, smart)
                    .map(Some)
                    .map_err(|e| format!("the refs {url} sent: {e}"));
            }
            301 | 302 | 303 | 307 | 308 => {
                let location = response
                    .location
                    .ok_or_else(|| format!("{url}: redirect without a Location"))?;
                url = absolute(&url, &location)?;
            }
            401 | 403 => return Ok(None),
            status => return Err(format!("asking {url} for its refs: HTTP {status}")),
        }
    }
    Err(format!("{repository}: more than {MAX_REDIRECTS} redirects"))
}

/// Refs from an advertisement body: pkt-lines when `smart` (or when it
/// starts like one), else dumb `info/refs` lines.
pub fn parse_advertisement(body: &[u8], smart: bool) -> Result<Vec<RemoteRef>, String> {
    let smart = smart || body.starts_with(b"001e# service=");
    let lines: Vec<Vec<u8>> = if smart {
        pkt_lines(body)?
    } else {
        body.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect()
    };
    let mut refs = Vec::new();
    for line in lines {
        let line = String::from_utf8_lossy(&line);
        // capabilities follow the first ref after a NUL
        let line = line.split('\0').next().unwrap_or_default().trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((id, name)) = line.split_once(['\t', ' ']) else {
            return Err(format!("not a ref line: {line:?}"));
        };
        if id.len() != 40 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("not an object id: {id:?}"));
        }
        refs.push(RemoteRef {
            id: id.to_ascii_lowercase(),
            name: name.trim().to_string(),
        });
    }
    Ok(refs)
}

/// The payloads of a pkt-line stream (flush packets dropped).
fn pkt_lines(mut body: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut lines = Vec::new();
    while !body.is_empty() {
        let head = body
            .get(..4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| usize::from_str_radix(h, 16).ok())
            .ok_or("a pkt-line length is not 4 hex digits")?;
        match head {
            0..=3 => body = &body[4..],
            len => {
                let payload = body
                    .get(4..len)
                    .ok_or("a pkt-line runs past the end of the body")?;
                lines.push(payload.to_vec());
                body = &body[len..];
            }
        }
    }
    Ok(lines)
}

struct Response {
    status: u16,
    content_type: String,
    location: Option<String>,
    body: Vec<u8>,
}

/// `(host:port, path?query)` of an `http://` URL.
fn split_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// is spoken here"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("{url}: no host, or credentials in the URL"));
    }
    let host_port = match authority.rsplit_once(':') {
        Some((_, port)) if !port.contains(']') => authority.to_string(),
        _ => format!("{authority}:80"),
    };
    Ok((host_port, path.to_string()))
}

/// A redirect target made absolute against `base`.
fn absolute(base: &str, location: &str) -> Result<String, String> {
    if location.starts_with("http://") {
        return Ok(location.to_string());
    }
    if location.starts_with('/') {
        let (authority, _) = split_url(base)?;
        return Ok(format!("http://{authority}{location}"));
    }
    Err(format!(
        "{base}: redirected to {location:?}, not an http:// URL or a path"
    ))
}

fn get(url: &str) -> Result<Response, String> {
    let (authority, path) = split_url(url)?;
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| format!("{authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority}: no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| e.to_string())?;
    let host = authority.strip_suffix(":80").unwrap_or(&authority);
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: git/2.0 (melange-frontend)\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    stream
        .take(MAX_RESPONSE + 1)
        .read_to_end(&mut raw)
        .map_err(|e| e.to_string())?;
    if raw.len() as u64 > MAX_RESPONSE {
        return Err(format!("the answer is larger than {MAX_RESPONSE} bytes"));
    }
    parse_response(&raw)
}

/// Status, the headers we use and the body (de-chunked) of a raw response.
fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers in the answer")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP status line: {status_line:?}"))?;
    let mut response = Response {
        status,
        content_type: String::new(),
        location: None,
        body: Vec::new(),
    };
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-type" => response.content_type = value.to_ascii_lowercase(),
            "location" => response.location = Some(value.to_string()),
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            "content-length" => length = value.parse::<usize>().ok(),
            _ => {}
        }
    }
    let body = &raw[end + 4..];
    response.body = match (chunked, length) {
        (true, _) => dechunk(body)?,
        (false, Some(n)) => body
            .get(..n)
            .ok_or("the answer is shorter than its Content-Length")?
            .to_vec(),
        (false, None) => body.to_vec(),
    };
    Ok(response)
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("a chunk size line has no end")?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("not a chunk size: {size_text:?}"))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = body.get(..size).ok_or("a chunk runs past the end")?;
        out.extend_from_slice(chunk);
        body = body.get(size + 2..).ok_or("a chunk has no end")?;
    }
}

#[cfg(test)]
#[path = "git_http_tests.rs"]
mod tests;
