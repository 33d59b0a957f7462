//! The tag check of a native `git-checkout`, as pure functions over the
//! bytes a Git server advertises at `<repository>/info/refs?service=git-upload-pack`.
//!
//! Why here and not in the build: the frontend has BuildKit fetch that URL
//! as an HTTP source, in the daemon's own network, and reads it back
//! (`gateway/gittags.rs`). No build step then needs network to reach the
//! server, and the checkout's cache key does not depend on the server
//! answering: a warm rebuild with the server gone stays cached.
//!
//! A smart server answers with pkt-lines (protocol v0: BuildKit sends no
//! `Git-Protocol` header); a dumb one (a plain web server over a repository
//! after `git update-server-info`) ignores the query and sends the
//! `info/refs` file, `<id>\t<ref>` lines. Both list a tag's peeled commit
//! as `<ref>^{}` (dumb: when update-server-info wrote it, which it does for
//! annotated tags).

/// One advertised ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRef {
    /// Object id (lower-case hex).
    pub id: String,
    /// `refs/tags/v1`, `refs/tags/v1^{}` (peeled), `HEAD`, …
    pub name: String,
}

/// The URL whose answer lists the refs of `repository` (smart or dumb).
pub fn refs_url(repository: &str) -> String {
    format!(
        "{}/info/refs?service=git-upload-pack",
        repository.trim_end_matches('/')
    )
}

/// Refs from an advertisement body: pkt-lines when it starts like a smart
/// answer, else dumb `info/refs` lines.
pub fn parse_advertisement(body: &[u8]) -> Result<Vec<RemoteRef>, String> {
    let smart = body.starts_with(b"001e# service=");
    let lines: Vec<&[u8]> = if smart {
        pkt_lines(body)?
    } else {
        body.split(|b| *b == b'\n').collect()
    };
    let mut refs = Vec::new();
    for line in lines {
        let line = String::from_utf8_lossy(line);
        // capabilities follow the first ref after a NUL
        let line = line.split('\0').next().unwrap_or_default().trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((id, name)) = line.split_once(['\t', ' ']) else {
            return Err(format!("not a ref line: {:?}", clip(line)));
        };
        if id.len() != 40 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("not an object id: {:?}", clip(id)));
        }
        refs.push(RemoteRef {
            id: id.to_ascii_lowercase(),
            name: name.trim().to_string(),
        });
    }
    Ok(refs)
}

/// At most 80 characters of `text`, for error messages about bytes a
/// server sent.
fn clip(text: &str) -> String {
    text.chars().take(80).collect()
}

/// The payloads of a pkt-line stream (flush packets dropped).
fn pkt_lines(mut body: &[u8]) -> Result<Vec<&[u8]>, String> {
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
                lines.push(payload);
                body = &body[len..];
            }
        }
    }
    Ok(lines)
}

/// What the server says of a tag that matches the build file's claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagVerdict {
    /// The tag (peeled) is `expected-commit`.
    AsExpected,
    /// `expected-commit` is the annotated tag's own object; the checkout is
    /// at `commit`, the tag's commit (accepted with a warning, as melange's
    /// script does).
    TagObject { commit: String },
}

/// Check that `tag` of `repository` is `expected` in `refs`: the verdict,
/// or an error naming the repository, the tag, the expected and the actual
/// commit.
pub fn check_tag(
    refs: &[RemoteRef],
    repository: &str,
    tag: &str,
    expected: &str,
) -> Result<TagVerdict, String> {
    let expected = expected.to_ascii_lowercase();
    let name = format!("refs/tags/{tag}");
    let peeled_name = format!("{name}^{{}}");
    let direct = refs.iter().find(|r| r.name == name).map(|r| r.id.as_str());
    let peeled = refs
        .iter()
        .find(|r| r.name == peeled_name)
        .map(|r| r.id.as_str());
    let Some(direct) = direct else {
        return Err(format!(
            "git-checkout: {repository} has no tag {tag} (expected-commit {expected})"
        ));
    };
    let actual = peeled.unwrap_or(direct);
    if actual == expected {
        return Ok(TagVerdict::AsExpected);
    }
    if direct == expected {
        return Ok(TagVerdict::TagObject {
            commit: actual.to_string(),
        });
    }
    let object = match peeled {
        Some(_) => format!(" (tag object {direct})"),
        None => String::new(),
    };
    Err(format!(
        "git-checkout: expected-commit {expected}, but tag {tag} of {repository} is commit \
         {actual}{object}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";
    const C: &str = "3333333333333333333333333333333333333333";
    const REPO: &str = "https://git.example.org/r.git";

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
        let refs = parse_advertisement(smart_body().as_bytes()).unwrap();
        let names: Vec<_> = refs
            .iter()
            .map(|r| (r.id.as_str(), r.name.as_str()))
            .collect();
        assert_eq!(
            names,
            [(A, "HEAD"), (B, "refs/tags/v1"), (A, "refs/tags/v1^{}")]
        );
    }

    #[test]
    fn dumb_info_refs() {
        let body = format!("{A}\trefs/heads/main\n{B}\trefs/tags/v1\n{A}\trefs/tags/v1^{{}}\n");
        let refs = parse_advertisement(body.as_bytes()).unwrap();
        assert_eq!(refs.len(), 3);
        assert_eq!(refs[2].name, "refs/tags/v1^{}");
    }

    #[test]
    fn malformed_advertisements_are_errors() {
        assert!(parse_advertisement(b"001e# service=git-upload-pack\nzzzz").is_err());
        assert!(parse_advertisement(b"001e# service=git-upload-pack\n0030short").is_err());
        let html = parse_advertisement(b"<html>not found</html>\n").unwrap_err();
        assert!(html.contains("not an object id"), "{html}");
        assert!(parse_advertisement(b"1234\trefs/tags/v1\n").is_err());
        let long = format!("{}\n", "x".repeat(10_000));
        assert!(parse_advertisement(long.as_bytes()).unwrap_err().len() < 200);
    }

    #[test]
    fn tags_are_checked_against_the_claim() {
        let refs = parse_advertisement(
            format!("{C}\trefs/heads/main\n{B}\trefs/tags/v1\n{A}\trefs/tags/v1^{{}}\n{C}\trefs/tags/v2\n")
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(check_tag(&refs, REPO, "v1", A), Ok(TagVerdict::AsExpected));
        let upper = A.to_ascii_uppercase();
        assert_eq!(
            check_tag(&refs, REPO, "v1", &upper),
            Ok(TagVerdict::AsExpected)
        );
        // the annotated tag's object: accepted, at the tag's commit
        assert_eq!(
            check_tag(&refs, REPO, "v1", B),
            Ok(TagVerdict::TagObject { commit: A.into() })
        );
        assert_eq!(check_tag(&refs, REPO, "v2", C), Ok(TagVerdict::AsExpected));
        assert_eq!(
            check_tag(&refs, REPO, "v2", A).unwrap_err(),
            format!("git-checkout: expected-commit {A}, but tag v2 of {REPO} is commit {C}")
        );
        assert_eq!(
            check_tag(&refs, REPO, "v1", C).unwrap_err(),
            format!(
                "git-checkout: expected-commit {C}, but tag v1 of {REPO} is commit {A} \
                 (tag object {B})"
            )
        );
        let missing = check_tag(&refs, REPO, "v3", A).unwrap_err();
        assert!(missing.contains("has no tag v3"), "{missing}");
    }

    #[test]
    fn the_refs_url_is_the_smart_discovery_url() {
        assert_eq!(
            refs_url("http://127.0.0.1:8080/hello.git/"),
            "http://127.0.0.1:8080/hello.git/info/refs?service=git-upload-pack"
        );
    }
}
