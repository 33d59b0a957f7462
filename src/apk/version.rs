//! apk version strings: validation and ordering, with apk-tools' semantics.
//!
//! The grammar is `digits{.digits}…{letter}{_suffix{digits}}…{~hash}{-rN}`.
//! A version is read as a sequence of typed tokens; two versions are compared
//! token by token while both have a token of the same type. apk never
//! rejects a version when comparing: an unparsable tail simply ends the
//! token stream with an "invalid" token, which orders below the end of a
//! valid version. Reproducing that (rather than refusing such versions) is
//! what keeps package selection identical to apk's on real indexes.

use std::cmp::Ordering;

/// Token types in apk's order: a later type in one version where the other
/// has an earlier one decides the comparison, so the order matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    InitialDigit,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    CommitHash,
    RevisionNo,
    End,
    Invalid,
}

/// `_suffix` values in apk's order: pre-release suffixes sort below "no
/// suffix", post-release ones above.
const SUFFIXES: [&str; 9] = ["alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p"];
/// Index in [`SUFFIXES`] of the first post-release suffix.
const FIRST_POST_RELEASE: usize = 4;

/// One token: its type, its text, and the parsed value for numeric and
/// suffix tokens.
#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    kind: Kind,
    text: &'a [u8],
    number: u64,
    suffix: usize,
}

/// Reads tokens off a version string, checking that each may follow the
/// previous one.
struct Tokens<'a> {
    rest: &'a [u8],
    current: Token<'a>,
}

impl<'a> Tokens<'a> {
    /// Starts reading: the first token is always the initial number.
    fn new(version: &'a str) -> Tokens<'a> {
        let mut tokens = Tokens {
            rest: version.as_bytes(),
            current: Token {
                kind: Kind::InitialDigit,
                text: &[],
                number: 0,
                suffix: 0,
            },
        };
        tokens.digits();
        tokens
    }

    /// Reads a run of decimal digits as the current token's value; an empty
    /// run makes the token invalid. apk accumulates in an unsigned 64-bit
    /// integer without overflow checks; wrapping reproduces that.
    fn digits(&mut self) {
        let len = self.rest.iter().take_while(|c| c.is_ascii_digit()).count();
        let (text, rest) = self.rest.split_at(len);
        self.current.text = text;
        self.current.number = text.iter().fold(0u64, |n, c| {
            n.wrapping_mul(10).wrapping_add(u64::from(c - b'0'))
        });
        self.rest = rest;
        if len == 0 {
            self.current.kind = Kind::Invalid;
        }
    }

    /// Takes the longest prefix of `rest` whose bytes satisfy `class`.
    fn span(&mut self, class: impl Fn(u8) -> bool) -> &'a [u8] {
        let len = self.rest.iter().take_while(|&&c| class(c)).count();
        let (text, rest) = self.rest.split_at(len);
        self.rest = rest;
        text
    }

    /// Advances to the next token; `End` when the string is consumed,
    /// `Invalid` when what follows may not come after the current token.
    fn advance(&mut self) {
        let kind = self.current.kind;
        let Some(&first) = self.rest.first() else {
            self.current.kind = Kind::End;
            return;
        };
        match first {
            b'a'..=b'z' if kind <= Kind::Digit => {
                self.current.text = &self.rest[..1];
                self.rest = &self.rest[1..];
                self.current.kind = Kind::Letter;
            }
            b'.' | b'0'..=b'9' if kind <= Kind::Digit => {
                if first == b'.' {
                    self.rest = &self.rest[1..];
                }
                self.current.kind = Kind::Digit;
                self.digits();
            }
            b'0'..=b'9' if kind == Kind::Suffix => {
                self.current.kind = Kind::SuffixNo;
                self.digits();
            }
            b'_' if kind <= Kind::SuffixNo => {
                self.rest = &self.rest[1..];
                let text = self.span(|c| c.is_ascii_lowercase());
                self.current.text = text;
                match SUFFIXES.iter().position(|s| s.as_bytes() == text) {
                    Some(i) => {
                        self.current.suffix = i;
                        self.current.kind = Kind::Suffix;
                    }
                    None => self.current.kind = Kind::Invalid,
                }
            }
            b'~' if kind < Kind::CommitHash => {
                self.rest = &self.rest[1..];
                let text = self.span(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
                self.current.text = text;
                self.current.kind = if text.is_empty() {
                    Kind::Invalid
                } else {
                    Kind::CommitHash
                };
            }
            b'-' if kind < Kind::RevisionNo && self.rest.starts_with(b"-r") => {
                self.rest = &self.rest[2..];
                self.current.kind = Kind::RevisionNo;
                self.digits();
            }
            _ => self.current.kind = Kind::Invalid,
        }
    }
}

/// Orders two tokens of the same type.
fn token_order(a: &Token<'_>, b: &Token<'_>) -> Ordering {
    match a.kind {
        // A component with a leading zero compares as text (as Gentoo's
        // spec says), so 1.01 < 1.1 and 1.001 < 1.01.
        Kind::Digit if a.text.first() == Some(&b'0') || b.text.first() == Some(&b'0') => {
            a.text.cmp(b.text)
        }
        Kind::InitialDigit | Kind::Digit | Kind::SuffixNo | Kind::RevisionNo => {
            a.number.cmp(&b.number)
        }
        Kind::Letter => a.text.cmp(b.text),
        Kind::Suffix => a.suffix.cmp(&b.suffix),
        _ => a.text.cmp(b.text),
    }
}

/// Whether `version` is a well-formed apk version (what `apk version -c`
/// checks; indexes and world constraints with other versions are broken).
pub fn is_valid(version: &str) -> bool {
    let mut tokens = Tokens::new(version);
    while tokens.current.kind < Kind::End {
        tokens.advance();
    }
    tokens.current.kind == Kind::End
}

/// apk's version ordering (`apk version -t a b`).
///
/// Like apk, this never fails: malformed versions compare by their valid
/// prefix. An empty version is unordered against any other in apk (both
/// "less" and "greater"); here it compares equal, which is how apk's
/// package selection treats that answer.
pub fn compare(a: &str, b: &str) -> Ordering {
    compare_fuzzy(a, b, false)
}

/// [`compare`], where `fuzzy` makes `a` equal to `b` when `b`'s tokens are
/// a prefix of `a`'s: the `~` operator, so `1.2.3-r4 ~ 1.2` holds.
pub fn compare_fuzzy(a: &str, b: &str, fuzzy: bool) -> Ordering {
    if a.is_empty() || b.is_empty() {
        return Ordering::Equal;
    }
    let (mut ta, mut tb) = (Tokens::new(a), Tokens::new(b));
    while ta.current.kind == tb.current.kind && ta.current.kind < Kind::End {
        let order = token_order(&ta.current, &tb.current);
        if order != Ordering::Equal {
            return order;
        }
        ta.advance();
        tb.advance();
    }
    let (ka, kb) = (ta.current.kind, tb.current.kind);
    if ka == kb || (fuzzy && kb == Kind::End) {
        return Ordering::Equal;
    }
    // Equal so far and one goes on: the longer one is newer, unless what
    // follows is a pre-release suffix.
    let pre_release = |t: &Token<'_>| t.kind == Kind::Suffix && t.suffix < FIRST_POST_RELEASE;
    if pre_release(&ta.current) {
        return Ordering::Less;
    }
    if pre_release(&tb.current) {
        return Ordering::Greater;
    }
    // A later token type where the other has an earlier one (or has ended)
    // is the older version: `1.0` < `1.0a` since End > Letter.
    kb.cmp(&ka)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_common_shapes() {
        let less = [
            ("1.0", "1.1"),
            ("1.2", "1.10"),
            ("1.0_alpha", "1.0"),
            ("1.0_rc1", "1.0"),
            ("1.0", "1.0_p1"),
            ("1.0", "1.0-r1"),
            ("1.0-r1", "1.0-r2"),
            ("1.0a", "1.0b"),
            ("1.01", "1.1"),
            ("1.0_alpha1", "1.0_beta"),
            ("1.0~abc", "1.0~abd"),
            ("1.0-r1", "1.0~abc-r1"),
            ("1.0", "1.0bc"),
        ];
        for (a, b) in less {
            assert_eq!(compare(a, b), Ordering::Less, "{a} < {b}");
            assert_eq!(compare(b, a), Ordering::Greater, "{b} > {a}");
        }
        assert_eq!(compare("1.0", "1.0"), Ordering::Equal);
        assert_eq!(compare("", ""), Ordering::Equal);
    }

    #[test]
    fn fuzzy_matches_prefixes() {
        assert_eq!(compare_fuzzy("1.2.3-r4", "1.2", true), Ordering::Equal);
        assert_eq!(compare_fuzzy("1.2", "1.2.3", true), Ordering::Less);
        assert_eq!(compare_fuzzy("1.20", "1.2", true), Ordering::Greater);
    }

    #[test]
    fn validates() {
        for v in [
            "1",
            "1.2.3",
            "1.2a",
            "1.2_rc1_p2",
            "1.2~0ab1",
            "1.2-r10",
            "0",
        ] {
            assert!(is_valid(v), "{v}");
        }
        for v in [
            "",
            "a",
            "1.",
            "1..2",
            "1.2ab",
            "1_foo",
            "1-r",
            "1-2",
            "1~",
            "1~xyz",
            "1.2-r1_p1",
            "1.2 ",
            "1a2",
        ] {
            assert!(!is_valid(v), "{v}");
        }
    }

    #[test]
    fn huge_numbers_do_not_panic() {
        let big = "9".repeat(40);
        assert!(is_valid(&big));
        let _ = compare(&big, "1");
    }
}
