//! Tokens of the expression language, with their byte spans (for the
//! service's `Syntax error; token: "…", near: "…"` messages).

/// A token kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// An identifier: attribute name, keyword or function name.
    Ident(String),
    /// `#name` (an ExpressionAttributeNames key).
    NameRef(String),
    /// `:value` (an ExpressionAttributeValues key).
    ValueRef(String),
    /// An unsigned integer (`0` or no leading zero), as in `a[3]`.
    Int(String),
    /// Punctuation or an operator: `= <> < <= > >= ( ) [ ] , . + -`, or any
    /// other single character (always a syntax error).
    Sym(String),
    /// End of input.
    Eof,
}

/// A token and where it sits in the source.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

impl Token {
    /// The token as the service prints it.
    pub fn text<'a>(&self, src: &'a str) -> &'a str {
        if self.tok == Tok::Eof {
            "<EOF>"
        } else {
            &src[self.start..self.end]
        }
    }
}

/// A name starts with a letter: `_c` is a syntax error (as recorded).
fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic()
}

fn is_ident_part(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Splits `src` into tokens, ending with [`Tok::Eof`]. Never fails: a
/// character the language does not know becomes a one-character symbol.
pub(crate) fn tokenize(src: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = src.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let take_while = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
                          f: fn(char) -> bool| {
            let mut end = start + c.len_utf8();
            chars.next();
            while let Some(&(i, c)) = chars.peek() {
                if !f(c) {
                    break;
                }
                end = i + c.len_utf8();
                chars.next();
            }
            end
        };
        let (tok, end) = if is_ident_start(c) {
            let end = take_while(&mut chars, is_ident_part);
            (Tok::Ident(src[start..end].to_string()), end)
        } else if c == '#' || c == ':' {
            let end = take_while(&mut chars, is_ident_part);
            if end == start + 1 {
                (Tok::Sym(c.to_string()), end)
            } else if c == '#' {
                (Tok::NameRef(src[start..end].to_string()), end)
            } else {
                (Tok::ValueRef(src[start..end].to_string()), end)
            }
        } else if c == '0' {
            chars.next();
            (Tok::Int("0".to_string()), start + 1)
        } else if c.is_ascii_digit() {
            let end = take_while(&mut chars, |c| c.is_ascii_digit());
            (Tok::Int(src[start..end].to_string()), end)
        } else {
            chars.next();
            let two = |second: char, chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>| {
                if chars.peek().map(|&(_, c)| c) == Some(second) {
                    chars.next();
                    true
                } else {
                    false
                }
            };
            let text = match c {
                '<' if two('>', &mut chars) => "<>".to_string(),
                '<' if two('=', &mut chars) => "<=".to_string(),
                '>' if two('=', &mut chars) => ">=".to_string(),
                other => other.to_string(),
            };
            let end = start + text.len();
            (Tok::Sym(text), end)
        };
        out.push(Token { tok, start, end });
    }
    out.push(Token {
        tok: Tok::Eof,
        start: src.len(),
        end: src.len(),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(src: &str) -> Vec<String> {
        tokenize(src)
            .iter()
            .map(|t| t.text(src).to_string())
            .collect()
    }

    #[test]
    fn splits_the_language() {
        assert_eq!(
            texts("a.b[12] <> :v AND #n>=size(x)"),
            [
                "a", ".", "b", "[", "12", "]", "<>", ":v", "AND", "#n", ">=", "size", "(", "x",
                ")", "<EOF>"
            ]
        );
        assert_eq!(
            texts("x-03 : y !é"),
            ["x", "-", "0", "3", ":", "y", "!", "é", "<EOF>"]
        );
    }
}
