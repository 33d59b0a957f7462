//! The ref advertisement parser (smart and dumb), the HTTP reader, and
//! `ls_remote` against a local server.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;

use super::*;

const A: &str = "1111111111111111111111111111111111111111";
const B: &str = "2222222222222222222222222222222222222222";

fn pkt(payload: &str) -> String {
    format!("{:04x}{payload}", payload.len() + 4)
}

fn smart_body() -> String {
    format!(
        "{}0000{}{}{}0000",
        pkt("# service=git-upload-pack\n"),
        pkt(&format!(
            "{A} HEAD\0multi_ack side-band-64k symref=HEAD:refs/heads/main\n"
        )),
        pkt(&format!("{B} refs/tags/v1\n")),
        pkt(&format!("{A} refs/tags/v1^{{}}\n")),
    )
}

#[test]
fn smart_advertisement() {
    let refs = parse_advertisement(smart_body().as_bytes(), true).unwrap();
    let names: Vec<_> = refs
        .iter()
        .map(|r| (r.id.as_str(), r.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [(A, "HEAD"), (B, "refs/tags/v1"), (A, "refs/tags/v1^{}")]
    );
    // recognised by its first line even without the content type
    assert_eq!(
        parse_advertisement(smart_body().as_bytes(), false)
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn dumb_info_refs() {
    let body = format!("{A}\trefs/heads/main\n{B}\trefs/tags/v1\n{A}\trefs/tags/v1^{{}}\n");
    let refs = parse_advertisement(body.as_bytes(), false).unwrap();
    assert_eq!(refs.len(), 3);
    assert_eq!(refs[2].name, "refs/tags/v1^{}");
}

#[test]
fn malformed_advertisements_are_errors() {
    assert!(parse_advertisement(b"zzzz", true).is_err());
    assert!(parse_advertisement(b"0030short", true).is_err());
    assert!(parse_advertisement(b"<html>not found</html>\n", false).is_err());
    assert!(parse_advertisement(b"1234\trefs/tags/v1\n", false).is_err());
}

#[test]
fn responses_chunked_and_sized() {
    let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n";
    let r = parse_response(chunked).unwrap();
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, b"hello world".as_slice())
    );
    let sized = b"HTTP/1.0 302 Found\r\nLocation: /x\r\nContent-Length: 2\r\n\r\nokEXTRA";
    let r = parse_response(sized).unwrap();
    assert_eq!(
        (r.status, r.location.as_deref(), r.body.as_slice()),
        (302, Some("/x"), b"ok".as_slice())
    );
    assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab").is_err());
    assert!(parse_response(b"garbage").is_err());
}

#[test]
fn urls() {
    assert_eq!(
        split_url("http://10.0.0.1:8080/r.git/info/refs?service=x").unwrap(),
        (
            "10.0.0.1:8080".to_string(),
            "/r.git/info/refs?service=x".to_string()
        )
    );
    assert_eq!(
        split_url("http://h").unwrap(),
        ("h:80".to_string(), "/".to_string())
    );
    assert!(split_url("https://h/r").is_err());
    assert!(split_url("http://user:pw@h/r").is_err());
    assert_eq!(absolute("http://h:1/a", "/b").unwrap(), "http://h:1/b");
    assert!(absolute("http://h/a", "https://elsewhere/b").is_err());
}

/// Serves `answers` in order, one per connection; returns the base URL and
/// the requests it saw.
fn serve(answers: Vec<Vec<u8>>) -> (String, thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let handle = thread::spawn(move || {
        let mut seen = Vec::new();
        for answer in answers {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let n = conn.read(&mut buf).unwrap();
            seen.push(String::from_utf8_lossy(&buf[..n]).to_string());
            conn.write_all(&answer).unwrap();
        }
        seen
    });
    (base, handle)
}

#[test]
fn ls_remote_follows_a_redirect_and_reads_smart_refs() {
    let body = smart_body();
    let answers = vec![
        b"HTTP/1.1 301 Moved\r\nLocation: /moved.git/info/refs?service=git-upload-pack\r\nContent-Length: 0\r\n\r\n".to_vec(),
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-git-upload-pack-advertisement\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    ];
    let (base, server) = serve(answers);
    let refs = ls_remote(&format!("{base}/r.git/")).unwrap().unwrap();
    assert_eq!(refs.len(), 3);
    let seen = server.join().unwrap();
    assert!(
        seen[0].starts_with("GET /r.git/info/refs?service=git-upload-pack HTTP/1.1\r\n"),
        "{}",
        seen[0]
    );
    assert!(seen[0].contains("User-Agent: git/"));
    assert!(seen[1].starts_with("GET /moved.git/info/refs?service=git-upload-pack "));
}

#[test]
fn ls_remote_reports_http_errors_and_wanted_credentials() {
    let (base, server) = serve(vec![
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
        b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n".to_vec(),
    ]);
    let err = ls_remote(&format!("{base}/missing.git")).unwrap_err();
    assert!(
        err.contains("HTTP 404") && err.contains("/missing.git/info/refs"),
        "{err}"
    );
    assert_eq!(ls_remote(&format!("{base}/private.git")).unwrap(), None);
    server.join().unwrap();
}
