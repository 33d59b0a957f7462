//! melange's `if:` conditions, evaluated after `${{…}}` substitution:
//! operands are quoted strings (`'…'`, `"…"`) or bare words (what a
//! substituted variable leaves, e.g. `x86_64 == "aarch64"`), compared with
//! `==` / `!=`, combined with `&&` / `||` strictly left to right, grouped with
//! parentheses. A lone `true` / `false` is a condition too.

/// How deep parentheses may nest: the parser recurses once per level.
const MAX_NESTING: usize = 64;

/// Evaluate a substituted condition; the error says what is malformed.
pub fn evaluate(condition: &str) -> Result<bool, String> {
    let tokens = tokenize(condition)?;
    let mut parser = Parser {
        tokens,
        at: 0,
        depth: 0,
    };
    let value = parser.expression()?;
    match parser.tokens.get(parser.at) {
        None => Ok(value),
        Some(token) => Err(format!(
            "unexpected {} in condition {condition:?}",
            token.describe()
        )),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Eq,
    Ne,
    And,
    Or,
    Word(String),
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Open => "`(`".into(),
            Token::Close => "`)`".into(),
            Token::Eq => "`==`".into(),
            Token::Ne => "`!=`".into(),
            Token::And => "`&&`".into(),
            Token::Or => "`||`".into(),
            Token::Word(w) => format!("{w:?}"),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let two = rest.get(..2).unwrap_or("");
        let (token, len) = match (c, two) {
            (c, _) if c.is_whitespace() => (None, c.len_utf8()),
            ('(', _) => (Some(Token::Open), 1),
            (')', _) => (Some(Token::Close), 1),
            (_, "==") => (Some(Token::Eq), 2),
            (_, "!=") => (Some(Token::Ne), 2),
            (_, "&&") => (Some(Token::And), 2),
            (_, "||") => (Some(Token::Or), 2),
            ('\'' | '"', _) => {
                let end = rest[1..]
                    .find(c)
                    .ok_or_else(|| format!("unterminated string in condition {text:?}"))?;
                (Some(Token::Word(rest[1..1 + end].to_string())), end + 2)
            }
            _ => {
                let end = rest
                    .find(|c: char| c.is_whitespace() || "()=!&|'\"".contains(c))
                    .unwrap_or(rest.len());
                if end == 0 {
                    return Err(format!("unexpected `{c}` in condition {text:?}"));
                }
                (Some(Token::Word(rest[..end].to_string())), end)
            }
        };
        tokens.extend(token);
        rest = &rest[len..];
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    /// Parentheses open around the current term.
    depth: usize,
}

impl Parser {
    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += usize::from(token.is_some());
        token
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    /// term (('&&' | '||') term)*, left to right.
    fn expression(&mut self) -> Result<bool, String> {
        let mut value = self.term()?;
        while let Some(op @ (Token::And | Token::Or)) = self.peek().cloned() {
            self.at += 1;
            let right = self.term()?;
            value = if op == Token::And {
                value && right
            } else {
                value || right
            };
        }
        Ok(value)
    }

    /// '(' expression ')' | word ('==' | '!=') word | 'true' | 'false'.
    fn term(&mut self) -> Result<bool, String> {
        match self.next() {
            Some(Token::Open) => {
                if self.depth == MAX_NESTING {
                    return Err(format!(
                        "parentheses nested deeper than {MAX_NESTING} levels in condition"
                    ));
                }
                self.depth += 1;
                let value = self.expression()?;
                self.depth -= 1;
                match self.next() {
                    Some(Token::Close) => Ok(value),
                    _ => Err("missing `)` in condition".into()),
                }
            }
            Some(Token::Word(left)) => match self.peek() {
                Some(Token::Eq | Token::Ne) => {
                    let equal = self.next() == Some(Token::Eq);
                    match self.next() {
                        Some(Token::Word(right)) => Ok((left == right) == equal),
                        other => Err(format!(
                            "expected a value after the comparison, found {}",
                            other.map_or("the end".into(), |t| t.describe())
                        )),
                    }
                }
                _ => match left.as_str() {
                    "true" => Ok(true),
                    "false" => Ok(false),
                    _ => Err(format!("{left:?} is not a comparison (use == or !=)")),
                },
            },
            other => Err(format!(
                "expected a value or `(`, found {}",
                other.map_or("the end".into(), |t| t.describe())
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::evaluate;

    #[test]
    fn comparisons_with_bare_and_quoted_words() {
        assert!(evaluate(r#"x86_64 == "x86_64""#).unwrap());
        assert!(!evaluate("x86_64 == 'aarch64'").unwrap());
        assert!(evaluate("'a b' != 'a'").unwrap());
        assert!(evaluate("true").unwrap());
    }

    #[test]
    fn and_or_are_left_to_right_with_parentheses() {
        // Left to right: (true || false) && false = false.
        assert!(!evaluate("a == a || a == b && a == b").unwrap());
        assert!(evaluate("a == a || (a == b && a == b)").unwrap());
    }

    #[test]
    fn malformed_conditions_are_explained() {
        assert_eq!(
            evaluate("a == ").unwrap_err(),
            "expected a value after the comparison, found the end"
        );
        assert!(evaluate("(a == a").unwrap_err().contains("missing `)`"));
        assert!(evaluate("x86_64").unwrap_err().contains("not a comparison"));
        assert!(evaluate("'a == b").unwrap_err().contains("unterminated"));
    }

    #[test]
    fn deep_parentheses_are_an_error_not_a_stack_overflow() {
        // Found with the fuzz target (fuzz/, `plan`): 40,000 `(` overflowed
        // the stack.
        let deep = format!("{}a == a{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(evaluate(&deep)
            .unwrap_err()
            .contains("deeper than 64 levels"));
        assert!(evaluate(&"(".repeat(100_000)).is_err());
        let ok = format!("{}a == a{}", "(".repeat(64), ")".repeat(64));
        assert!(evaluate(&ok).unwrap());
    }
}
