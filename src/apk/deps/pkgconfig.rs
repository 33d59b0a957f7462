//! The parts of a pkg-config `.pc` file the scan uses: whether it parses at
//! all, and the names in its `Requires`, `Requires.private` and
//! `Requires.internal` lists.
//!
//! It accepts exactly what melange's parser (chainguard-dev/go-pkgconfig)
//! accepts, because a file that parser rejects gets no `pc:` entries at all.
//! The grammar, with spaces and tabs (not newlines) skipped before every
//! token:
//!
//! ```text
//! file     = { "\n" | comment | variable | list | property }
//! comment  = "#" [ chars other than "#" and newline ]
//! variable = key "=" [ rest of line ]            key = [A-Za-z0-9_.]+
//! list     = ("Requires.private" | "Requires.internal" | "Requires" | "Provides")
//!            ":" { dep [ "," ] }
//! dep      = ident [ ("<=" | "<" | "=" | ">=" | ">") version ]
//!            ident = [A-Za-z0-9_.-]+   version = [A-Za-z0-9.-]+
//! property = key ":" [ rest of line ]
//! ```
//!
//! Variables are not expanded in dependency lists (melange does not either),
//! so a `${var}` there makes the file unparsable.

/// The dependency lists of a parsed `.pc` file (a later line of the same
/// kind replaces an earlier one, as in melange).
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct PcFile {
    pub requires: Vec<String>,
    pub requires_private: Vec<String>,
    pub requires_internal: Vec<String>,
}

const LIST_KEYWORDS: [&str; 4] = [
    "Requires.private",
    "Requires.internal",
    "Requires",
    "Provides",
];
const OPERATORS: [&str; 5] = ["<=", "<", "=", ">=", ">"];

/// Parses `text`; `Err` names the first place it stops making sense.
pub(super) fn parse(text: &str) -> Result<PcFile, String> {
    let mut cursor = Cursor { text, pos: 0 };
    let mut file = PcFile::default();
    loop {
        cursor.skip_space();
        if cursor.rest().is_empty() {
            return Ok(file);
        }
        if cursor.eat("\n") {
            continue;
        }
        if cursor.eat("#") {
            cursor.skip_space();
            cursor.take_while(|c| c != '#' && c != '\n');
            continue;
        }
        let start = cursor.pos;
        if cursor.take_while(is_key_char).is_some() {
            if cursor.eat_token("=") {
                cursor.rest_of_line();
                continue;
            }
            cursor.pos = start;
        }
        if let Some((keyword, deps)) = cursor.dependency_list() {
            match keyword {
                "Requires" => file.requires = deps,
                "Requires.private" => file.requires_private = deps,
                "Requires.internal" => file.requires_internal = deps,
                _ => {}
            }
            continue;
        }
        cursor.pos = start;
        if cursor.take_while(is_key_char).is_some() && cursor.eat_token(":") {
            cursor.rest_of_line();
            continue;
        }
        let line = text[start..].lines().next().unwrap_or_default();
        return Err(format!("cannot parse {line:?}"));
    }
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

fn is_ident_char(c: char) -> bool {
    is_key_char(c) || c == '-'
}

fn is_version_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '.' || c == '-'
}

struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    /// Skips white space other than newlines (goparsify + go-pkgconfig).
    fn skip_space(&mut self) {
        let skipped = self
            .rest()
            .find(|c: char| c == '\n' || !c.is_whitespace())
            .unwrap_or(self.rest().len());
        self.pos += skipped;
    }

    fn eat(&mut self, literal: &str) -> bool {
        if self.rest().starts_with(literal) {
            self.pos += literal.len();
            true
        } else {
            false
        }
    }

    /// [`Cursor::eat`] after skipping white space; on failure the cursor
    /// does not move.
    fn eat_token(&mut self, literal: &str) -> bool {
        let start = self.pos;
        self.skip_space();
        if self.eat(literal) {
            return true;
        }
        self.pos = start;
        false
    }

    /// One or more characters matching `pred`, after white space.
    fn take_while(&mut self, pred: impl Fn(char) -> bool) -> Option<&'a str> {
        let start = self.pos;
        self.skip_space();
        let len = self
            .rest()
            .find(|c: char| !pred(c))
            .unwrap_or(self.rest().len());
        if len == 0 {
            self.pos = start;
            return None;
        }
        let token = &self.rest()[..len];
        self.pos += len;
        Some(token)
    }

    fn rest_of_line(&mut self) {
        self.take_while(|c| c != '\n');
    }

    fn dependency_list(&mut self) -> Option<(&'static str, Vec<String>)> {
        let start = self.pos;
        self.skip_space();
        let Some(keyword) = LIST_KEYWORDS.into_iter().find(|k| self.eat(k)) else {
            self.pos = start;
            return None;
        };
        if !self.eat_token(":") {
            self.pos = start;
            return None;
        }
        let mut deps = Vec::new();
        while let Some(name) = self.take_while(is_ident_char) {
            let after_name = self.pos;
            let constrained = OPERATORS.into_iter().any(|op| self.eat_token(op))
                && self.take_while(is_version_char).is_some();
            if !constrained {
                self.pos = after_name;
            }
            deps.push(name.to_string());
            self.eat_token(",");
        }
        Some((keyword, deps))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn requires_lists() {
        let pc = parse(
            "prefix=/usr\nlibdir=${prefix}/lib\n\n# comment\nName: foo\n\
             Description: Foo: the library # not a comment\nVersion: 1.2.3\n\
             Requires: glib-2.0 >= 2.50, gobject-2.0\tzlib\n\
             Requires.private: libffi=3.4, bar_baz <1\n\
             Libs: -L${libdir} -lfoo\nCflags: -I${prefix}/include\n",
        )
        .unwrap();
        assert_eq!(pc.requires, names(&["glib-2.0", "gobject-2.0", "zlib"]));
        assert_eq!(pc.requires_private, names(&["libffi", "bar_baz"]));
        assert!(pc.requires_internal.is_empty());
    }

    #[test]
    fn later_lists_replace_earlier_ones_and_empty_lists_parse() {
        let pc = parse("Requires: a\nRequires: b, c,\nRequires.internal:\n").unwrap();
        assert_eq!(pc.requires, names(&["b", "c"]));
        let pc = parse("Requires.internal: x\r\nProvides: y = 1\n").unwrap();
        assert_eq!(pc.requires_internal, names(&["x"]));
    }

    #[test]
    fn unparsable_files_are_errors() {
        // Variables in a dependency list, a `+` in a name, a key with a dash.
        assert!(parse("Requires: ${deps}\n").is_err());
        assert!(parse("Requires: gtk+-3.0\n").is_err());
        assert!(parse("Name-X: y\n").is_err());
        assert!(parse("just words\n").is_err());
        assert_eq!(parse("").unwrap(), PcFile::default());
    }
}
