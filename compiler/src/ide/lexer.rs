//! A small lexer for half-typed text: completion and semantic tokens read
//! words, strings and punctuation from it where the tree has nothing.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tok {
    Word,
    /// A string; `closed` tells whether its closing quote was seen.
    Str {
        closed: bool,
    },
    Comment,
    Punct,
    Newline,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Token {
    pub(super) kind: Tok,
    pub(super) start: usize,
    pub(super) end: usize,
}

pub(super) fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '/' | '-')
}

/// Words, strings, comments, punctuation (`->` and `!=` as one) and newlines.
/// Never fails: every byte is in some token or skipped as space.
pub(super) fn lex(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        let kind;
        let mut end = start + c.len_utf8();
        match c {
            '\n' => kind = Tok::Newline,
            ' ' | '\t' | '\r' => continue,
            '#' => {
                while let Some(&(i, c)) = chars.peek() {
                    if c == '\n' {
                        break;
                    }
                    end = i + c.len_utf8();
                    chars.next();
                }
                kind = Tok::Comment;
            }
            '"' => {
                let mut closed = false;
                let mut escaped = false;
                while let Some(&(i, c)) = chars.peek() {
                    if c == '\n' {
                        break;
                    }
                    end = i + c.len_utf8();
                    chars.next();
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        closed = true;
                        break;
                    }
                }
                kind = Tok::Str { closed };
            }
            '-' if text[end..].starts_with('>') => {
                chars.next();
                end += 1;
                kind = Tok::Punct;
            }
            '!' if text[end..].starts_with('=') => {
                chars.next();
                end += 1;
                kind = Tok::Punct;
            }
            c if is_word_char(c) => {
                while let Some(&(i, c)) = chars.peek() {
                    let arrow = c == '-' && text[i + 1..].starts_with('>');
                    if !is_word_char(c) || arrow {
                        break;
                    }
                    end = i + c.len_utf8();
                    chars.next();
                }
                kind = Tok::Word;
            }
            _ => kind = Tok::Punct,
        }
        out.push(Token { kind, start, end });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexer_splits_arrows_and_keeps_label_keys_whole() {
        let text = "allow a->b:8080 # c\nzone x { pods app.kubernetes.io/name != \"v\" }";
        let words: Vec<&str> = lex(text).iter().map(|t| &text[t.start..t.end]).collect();
        assert_eq!(
            words,
            [
                "allow",
                "a",
                "->",
                "b",
                ":",
                "8080",
                "# c",
                "\n",
                "zone",
                "x",
                "{",
                "pods",
                "app.kubernetes.io/name",
                "!=",
                "\"v\"",
                "}"
            ]
        );
    }
}
