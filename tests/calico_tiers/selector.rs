//! Calico's selector language, parsed and evaluated as Calico does.
//!
//! Syntax and meaning: docs.tigera.io/calico/latest/reference/resources/networkpolicy#selectors
//! ("Selectors"), and where the page is silent, the evaluator it documents
//! (libcalico-go `lib/selector/parser`):
//!
//! - `k == 'v'`, `k in {..}`, `has(k)`, `contains`, `starts with`,
//!   `ends with`: the label must be present.
//! - `k != 'v'` and `k not in {..}` match a resource *without* the label.
//!   The docs table says `!=` needs the label, the parser does not (`return
//!   true` when absent): this follows the parser, which is what enforces.
//! - `!`, `&&`, `||`, parentheses, `'` or `"` quotes; `all()` matches every
//!   resource in scope; `global()` only means something in a
//!   `namespaceSelector` (see [`Scope`]).

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    All,
    Global,
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Has(String),
    Contains(String, String),
    StartsWith(String, String),
    EndsWith(String, String),
    Not(Box<Selector>),
    And(Vec<Selector>),
    Or(Vec<Selector>),
}

/// Where a selector is evaluated. In a `namespaceSelector` Calico prefixes
/// every label with the namespace's (`pcns.`), turns `all()` into
/// `has(projectcalico.org/namespace)` and `global()` into "not namespaced"
/// (libcalico-go `updateprocessors/rules.go`, `entityRuleAPIV2TOBackend`):
/// `all()` then selects every namespaced resource, `global()` the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A selector over the resource's own labels.
    Labels,
    /// A namespace selector over a namespaced resource's namespace labels.
    Namespace,
    /// A namespace selector over a non-namespaced resource (no labels).
    NonNamespaced,
}

impl Selector {
    pub fn parse(text: &str) -> Result<Selector, String> {
        let tokens = tokenize(text).map_err(|e| format!("selector `{text}`: {e}"))?;
        if tokens.is_empty() {
            // An empty selector is the field's default: all().
            return Ok(Selector::All);
        }
        let mut parser = Parser { tokens, at: 0 };
        let sel = parser.or().map_err(|e| format!("selector `{text}`: {e}"))?;
        if parser.at != parser.tokens.len() {
            return Err(format!(
                "selector `{text}`: unexpected {:?}",
                parser.tokens[parser.at]
            ));
        }
        Ok(sel)
    }

    pub fn uses_global(&self) -> bool {
        match self {
            Selector::Global => true,
            Selector::Not(s) => s.uses_global(),
            Selector::And(v) | Selector::Or(v) => v.iter().any(Selector::uses_global),
            _ => false,
        }
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>, scope: Scope) -> bool {
        let get = |k: &str| labels.get(k).map(String::as_str);
        match self {
            Selector::All => scope != Scope::NonNamespaced,
            Selector::Global => scope == Scope::NonNamespaced,
            Selector::Eq(k, v) => get(k) == Some(v.as_str()),
            Selector::Ne(k, v) => get(k) != Some(v.as_str()),
            Selector::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Selector::NotIn(k, vs) => !get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Selector::Has(k) => get(k).is_some(),
            Selector::Contains(k, s) => get(k).is_some_and(|x| x.contains(s.as_str())),
            Selector::StartsWith(k, s) => get(k).is_some_and(|x| x.starts_with(s.as_str())),
            Selector::EndsWith(k, s) => get(k).is_some_and(|x| x.ends_with(s.as_str())),
            Selector::Not(s) => !s.matches(labels, scope),
            Selector::And(v) => v.iter().all(|s| s.matches(labels, scope)),
            Selector::Or(v) => v.iter().any(|s| s.matches(labels, scope)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    And,
    Or,
    Not,
    Eq,
    Ne,
    In,
    NotIn,
    Contains,
    StartsWith,
    EndsWith,
    Has(String),
    All,
    Global,
    Label(String),
    Str(String),
}

fn is_label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-')
}

/// Calico's tokenizer: keywords are recognised where a label could start,
/// `has(`/`all(`/`global(` as one token, strings in either quote.
fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let rest = |i: usize| chars[i..].iter().collect::<String>();
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        let simple = match two.as_str() {
            "&&" => Some((Token::And, 2)),
            "||" => Some((Token::Or, 2)),
            "==" => Some((Token::Eq, 2)),
            "!=" => Some((Token::Ne, 2)),
            _ => None,
        }
        .or(match c {
            '(' => Some((Token::LParen, 1)),
            ')' => Some((Token::RParen, 1)),
            '{' => Some((Token::LBrace, 1)),
            '}' => Some((Token::RBrace, 1)),
            ',' => Some((Token::Comma, 1)),
            '!' => Some((Token::Not, 1)),
            _ => None,
        });
        if let Some((token, len)) = simple {
            out.push(token);
            i += len;
            continue;
        }
        if c == '\'' || c == '"' {
            let end = chars[i + 1..]
                .iter()
                .position(|&x| x == c)
                .ok_or("unterminated string")?;
            out.push(Token::Str(chars[i + 1..i + 1 + end].iter().collect()));
            i += end + 2;
            continue;
        }
        let tail = rest(i);
        let call = |name: &str| -> Option<usize> {
            let t = tail.strip_prefix(name)?;
            let t2 = t.trim_start();
            t2.starts_with('(').then(|| tail.len() - t2.len() + 1)
        };
        if let Some(n) = call("has") {
            let inner = &tail[n..];
            let close = inner.find(')').ok_or("unterminated has(")?;
            let label = inner[..close].trim();
            if label.is_empty() || !label.chars().all(is_label_char) {
                return Err(format!("bad label in has({label})"));
            }
            out.push(Token::Has(label.to_string()));
            i += tail[..n + close + 1].chars().count();
            continue;
        }
        if let Some(n) = call("all").or_else(|| call("global")) {
            let inner = tail[n..].trim_start();
            if !inner.starts_with(')') {
                return Err("all( / global( takes no argument".into());
            }
            let consumed = tail.len() - inner.len() + 1;
            out.push(if tail.starts_with("all") {
                Token::All
            } else {
                Token::Global
            });
            i += tail[..consumed].chars().count();
            continue;
        }
        if is_label_char(c) {
            let word: String = chars[i..]
                .iter()
                .take_while(|&&x| is_label_char(x))
                .collect();
            let len = word.chars().count();
            // Operators spelled as words, only after a label.
            let after_label = matches!(out.last(), Some(Token::Label(_)));
            let keyword = |words: &[&str]| -> Option<usize> {
                let mut j = i;
                for (n, w) in words.iter().enumerate() {
                    if n > 0 {
                        let ws = chars[j..].iter().take_while(|x| x.is_whitespace()).count();
                        if ws == 0 {
                            return None;
                        }
                        j += ws;
                    }
                    let candidate: String = chars[j..]
                        .iter()
                        .take_while(|&&x| is_label_char(x))
                        .collect();
                    if candidate != *w {
                        return None;
                    }
                    j += w.len();
                }
                Some(j - i)
            };
            if after_label {
                let ops: [(&[&str], Token); 5] = [
                    (&["not", "in"], Token::NotIn),
                    (&["in"], Token::In),
                    (&["contains"], Token::Contains),
                    (&["starts", "with"], Token::StartsWith),
                    (&["ends", "with"], Token::EndsWith),
                ];
                if let Some((n, token)) = ops
                    .into_iter()
                    .find_map(|(words, token)| keyword(words).map(|n| (n, token)))
                {
                    out.push(token);
                    i += n;
                    continue;
                }
            }
            out.push(Token::Label(word));
            i += len;
            continue;
        }
        return Err(format!("unexpected character `{c}`"));
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn or(&mut self) -> Result<Selector, String> {
        let mut parts = vec![self.and()?];
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Selector::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Selector, String> {
        let mut parts = vec![self.unary()?];
        while self.peek() == Some(&Token::And) {
            self.at += 1;
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Selector::And(parts)
        })
    }

    fn string(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Token::Str(s)) => Ok(s),
            other => Err(format!("expected a quoted value, found {other:?}")),
        }
    }

    fn set(&mut self) -> Result<Vec<String>, String> {
        if self.next() != Some(Token::LBrace) {
            return Err("expected `{`".into());
        }
        let mut values = Vec::new();
        if self.peek() == Some(&Token::RBrace) {
            self.at += 1;
            return Ok(values);
        }
        loop {
            values.push(self.string()?);
            match self.next() {
                Some(Token::Comma) => continue,
                Some(Token::RBrace) => return Ok(values),
                other => return Err(format!("expected `,` or `}}`, found {other:?}")),
            }
        }
    }

    fn unary(&mut self) -> Result<Selector, String> {
        match self.next() {
            Some(Token::Not) => Ok(Selector::Not(Box::new(self.unary()?))),
            Some(Token::LParen) => {
                let inner = self.or()?;
                if self.next() != Some(Token::RParen) {
                    return Err("expected `)`".into());
                }
                Ok(inner)
            }
            Some(Token::Has(k)) => Ok(Selector::Has(k)),
            Some(Token::All) => Ok(Selector::All),
            Some(Token::Global) => Ok(Selector::Global),
            Some(Token::Label(k)) => match self.next() {
                Some(Token::Eq) => Ok(Selector::Eq(k, self.string()?)),
                Some(Token::Ne) => Ok(Selector::Ne(k, self.string()?)),
                Some(Token::In) => Ok(Selector::In(k, self.set()?)),
                Some(Token::NotIn) => Ok(Selector::NotIn(k, self.set()?)),
                Some(Token::Contains) => Ok(Selector::Contains(k, self.string()?)),
                Some(Token::StartsWith) => Ok(Selector::StartsWith(k, self.string()?)),
                Some(Token::EndsWith) => Ok(Selector::EndsWith(k, self.string()?)),
                other => Err(format!("expected an operator after `{k}`, found {other:?}")),
            },
            other => Err(format!("expected a term, found {other:?}")),
        }
    }
}
