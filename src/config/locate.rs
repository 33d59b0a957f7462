//! Where a spot inside a scalar is in the file. The YAML tree keeps each
//! scalar's start only; an error about one `${{…}}` or one character of a
//! long script should point at that spot, not at the line's first column.
//! The spot is found by reading the file around the scalar's start: exact
//! for plain and quoted scalars on one line and for literal block scalars
//! (`|`) line by line, and given up (the caller keeps the scalar's start)
//! wherever the raw text and the file differ (escapes, folded lines).

use super::error::Pos;

/// The position of the end of `within` (a prefix of the raw text of the
/// scalar starting at `start`) in `source`, when it is sure. A block
/// scalar (`|`, `>`) starts at its first content line, so a line break in
/// `within` is one line down at the same indentation.
pub fn spot(source: &str, start: Pos, within: &str) -> Option<Pos> {
    let line = source.lines().nth(start.line.checked_sub(1)?)?;
    let at = line.char_indices().nth(start.col.checked_sub(1)?)?.0;
    let breaks = within.matches('\n').count();
    let quoted = matches!(line[at..].chars().next(), Some('"' | '\''));
    if quoted && breaks > 0 {
        return None;
    }
    let target = source.lines().nth(start.line - 1 + breaks)?;
    if breaks > 0 && !target.get(..at)?.chars().all(|c| c == ' ') {
        return None;
    }
    let skip = usize::from(quoted);
    let tail = within.rsplit('\n').next().unwrap_or(within);
    target.get(at + skip..)?.starts_with(tail).then(|| Pos {
        line: start.line + breaks,
        col: start.col + skip + tail.chars().count(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml;

    /// The raw text and start of the scalar at `key` in a one-key document.
    fn scalar(source: &str) -> (String, Pos) {
        let root = yaml::parse(source).unwrap();
        let yaml::Value::Map(entries) = root.value else {
            panic!()
        };
        let node = &entries[0].1;
        let yaml::Value::Scalar(text) = &node.value else {
            panic!()
        };
        (text.clone(), node.pos)
    }

    /// The position of the first occurrence of `needle` in the scalar.
    fn find(source: &str, needle: &str) -> Option<Pos> {
        let (text, start) = scalar(source);
        let at = text.find(needle).unwrap();
        spot(source, start, &text[..at])
    }

    #[test]
    fn plain_and_quoted_scalars_on_one_line() {
        assert_eq!(find("k: a ${{x}}\n", "${{"), Some(Pos { line: 1, col: 6 }));
        assert_eq!(
            find("k: \"é ${{x}}\"\n", "${{"),
            Some(Pos { line: 1, col: 7 })
        );
        assert_eq!(
            find("k: 'a ${{x}}'\n", "${{"),
            Some(Pos { line: 1, col: 7 })
        );
    }

    #[test]
    fn literal_and_folded_blocks_line_by_line() {
        let source = "k: |\n  echo one\n\n  echo ${{x}}\n";
        assert_eq!(find(source, "${{"), Some(Pos { line: 4, col: 8 }));
        let source = "k: >-\n    a ${{x}}\n    b\n";
        assert_eq!(find(source, "${{"), Some(Pos { line: 2, col: 7 }));
        // A folded block's second line is not where the raw text says.
        assert_eq!(find("k: >\n  a\n  b ${{x}}\n", "${{"), None);
        assert_eq!(find("k: >\n  a\n\n  b ${{x}}\n", "${{"), None);
    }

    #[test]
    fn escapes_and_folds_give_up() {
        assert_eq!(find("k: \"a\\tb ${{x}}\"\n", "${{"), None);
        assert_eq!(find("k: a\n  b ${{x}}\n", "${{"), None);
    }
}
