//! The formatter behind `nplc fmt` and the language server's formatting
//! request: one canonical layout for NPL source.
//!
//! It works from the tree (structure) and the text (comments, blank lines, and
//! literals as written: strings keep their escapes, ports and CIDRs their
//! spelling). Comments are not in the tree; they are collected from the text
//! and put back by position: an own-line comment before the next line that
//! follows it in the source, at that line's indentation; a trailing comment at
//! the end of the output line holding the last token before it, in the column
//! it was written in when that line starts as it did in the source and the
//! code leaves room for it (so aligned comments stay aligned), else one space
//! after the code.
//!
//! The rules (docs/language.md, "Formatting"):
//! - one top-level item per line; single blank lines between items and
//!   entries are kept, runs of them collapse to one, none at the start of the
//!   file or of a body, or before a closing brace;
//! - a braced body (zone, tier, gateway, `http { }`, `dns { }`) or a set
//!   `{a, b}` written on one line stays on one line — `zone a { namespace "a"; pods app = "a" }`,
//!   `{a, b}` — and one written over several lines gets one entry per line,
//!   indented two spaces per level (set members end with `,`); an empty body
//!   is `{}`;
//! - single spaces around `->`, `:`, `=`, `!=`, `|`, after `,` and `;`, none
//!   inside `( )` or a one-line set's braces;
//! - optional separators are normalised: `;` between entries of a one-line
//!   body, nothing at the end of lines, no trailing comma in value lists or
//!   one-line sets.
//!
//! Formatting never changes meaning: before returning, the result is parsed
//! again and must give the same tree (spans and doc comments aside) and the
//! same tokens and comments in the same order (`,` and `;` aside). A file
//! with syntax errors is not formatted.

use std::fmt;

use crate::db::{Database, SourceFile};
use crate::diagnostic::{Code, Span};
use crate::lines::LineIndex;
use crate::syntax::ast::*;
use crate::syntax::{self, Parsed};

/// One level of indentation.
const INDENT: &str = "  ";

/// Why a text was not formatted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// The text has syntax errors (listed in source order); a file that does
    /// not parse is never formatted.
    Syntax(Vec<SyntaxError>),
    /// The formatter's own check failed: the formatted text would not mean
    /// the same program. A bug in the formatter; the text is left as it is.
    Internal(String),
}

/// A syntax error that stops formatting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub code: Code,
    pub message: String,
    /// Byte range in the text.
    pub start: usize,
    pub end: usize,
    /// 1-based line and column (in characters) of `start`.
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Syntax(errors) => {
                let n = errors.len();
                write!(
                    f,
                    "the file has {n} syntax error{}; fix {} before formatting",
                    if n == 1 { "" } else { "s" },
                    if n == 1 { "it" } else { "them" }
                )?;
                if let Some(first) = errors.first() {
                    write!(
                        f,
                        " (first: {}:{}: {} [{}])",
                        first.line, first.column, first.message, first.code
                    )?;
                }
                Ok(())
            }
            FormatError::Internal(why) => write!(
                f,
                "the formatter could not format this file safely ({why}); this is a bug in nplc fmt"
            ),
        }
    }
}

impl std::error::Error for FormatError {}

/// The text in canonical layout, or why it cannot be formatted. A file that
/// is already formatted comes back unchanged: `format_source(out) == out`.
pub fn format_source(text: &str) -> Result<String, FormatError> {
    let db = Database::default();
    let file = SourceFile::new(&db, "<fmt>".to_string(), text.to_string());
    let parsed = syntax::parse_text(file, text);
    if !parsed.diagnostics.is_empty() {
        return Err(FormatError::Syntax(syntax_errors(text, &parsed)));
    }
    let formatted = Printer::new(text).module(&parsed.module);
    verify(&db, file, text, &parsed.module, &formatted)?;
    Ok(formatted)
}

fn syntax_errors(text: &str, parsed: &Parsed) -> Vec<SyntaxError> {
    // One index for every error: a file with thousands of bad lines must
    // not be scanned once per error.
    let index = LineIndex::new(text);
    let mut errors: Vec<SyntaxError> = parsed
        .diagnostics
        .iter()
        .map(|d| {
            let start = d.span.start as usize;
            let (line, column) = index.line_column(text, start);
            SyntaxError {
                code: d.code,
                message: d.message.clone(),
                start,
                end: d.span.end as usize,
                line,
                column,
            }
        })
        .collect();
    errors.sort_by_key(|e| (e.start, e.end));
    errors
}

// ---------------------------------------------------------------- comments

#[derive(Debug, Clone)]
struct Comment {
    /// Byte offset of the `#`.
    start: usize,
    /// Byte offset of the end of the comment (before the line break).
    end: usize,
    /// The comment, trailing whitespace removed.
    text: String,
    /// Nothing but spaces before it on its line.
    own_line: bool,
    /// The column of the `#`, in characters from the start of the line.
    column: usize,
    /// Byte offset of the start of its line.
    line_start: usize,
}

/// Every comment of the text: a `#` outside a string runs to the end of its
/// line. Only ASCII bytes are compared, so scanning bytes is UTF-8 safe.
fn scan_comments(text: &str) -> Vec<Comment> {
    let bytes = text.as_bytes();
    let mut comments = Vec::new();
    let mut line_start = 0;
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' | b'\r' => {
                line_start = i + 1;
                in_string = false;
            }
            b'\\' if in_string => i += 1,
            b'"' => in_string = !in_string,
            b'#' if !in_string => {
                let end = bytes[i..]
                    .iter()
                    .position(|b| matches!(b, b'\n' | b'\r'))
                    .map_or(bytes.len(), |n| i + n);
                let before = &text[line_start..i];
                comments.push(Comment {
                    start: i,
                    end,
                    text: text[i..end].trim_end().to_string(),
                    own_line: before.trim_matches([' ', '\t']).is_empty(),
                    column: before.chars().count(),
                    line_start,
                });
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    comments
}

/// Whether `text[from..to]` holds a whole line of nothing but spaces (a line
/// of `;` is not blank).
fn has_blank_line(text: &str, from: usize, to: usize) -> bool {
    let Some(gap) = text.get(from..to) else {
        return false;
    };
    // The pieces between line breaks (`\r\n` is one, as in the grammar).
    let mut pieces = Vec::new();
    let mut rest = gap;
    while let Some(i) = rest.find(['\n', '\r']) {
        pieces.push(&rest[..i]);
        let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
        rest = &rest[i + skip..];
    }
    pieces.push(rest);
    pieces.len() > 2
        && pieces[1..pieces.len() - 1]
            .iter()
            .any(|l| l.trim_matches([' ', '\t']).is_empty())
}

// ---------------------------------------------------------------- printer

/// One output line.
#[derive(Debug)]
struct Line {
    indent: usize,
    code: String,
    /// A trailing comment and the column to put it in, if any.
    trailing: Option<(String, Option<usize>)>,
    /// When the line's first element starts its source line: the byte offset
    /// of that line.
    src_line_start: Option<usize>,
    /// The line is an own-line comment.
    is_comment: bool,
    blank_before: bool,
}

/// How a braced construct is written on one line, and what ends each entry
/// when it spans lines.
struct Braces {
    open: &'static str,
    close: &'static str,
    separator: &'static str,
    entry_end: &'static str,
}

const BODY: Braces = Braces {
    open: "{ ",
    close: " }",
    separator: "; ",
    entry_end: "",
};
const DNS: Braces = Braces {
    open: "{ ",
    close: " }",
    separator: ", ",
    entry_end: "",
};
const SET: Braces = Braces {
    open: "{",
    close: "}",
    separator: ", ",
    entry_end: ",",
};

struct Printer<'t> {
    text: &'t str,
    comments: Vec<Comment>,
    /// The first comment not yet placed.
    next_comment: usize,
    lines: Vec<Line>,
    /// End (byte offset) of the last element placed, for blank lines.
    last_end: usize,
    /// The next line is the first of the file or of a body: no blank line.
    block_start: bool,
}

impl<'t> Printer<'t> {
    fn new(text: &'t str) -> Printer<'t> {
        Printer {
            text,
            comments: scan_comments(text),
            next_comment: 0,
            lines: Vec::new(),
            last_end: 0,
            block_start: true,
        }
    }

    fn src(&self, span: Span) -> &'t str {
        self.text.get(span.range()).unwrap_or("")
    }

    fn spans_lines(&self, span: Span) -> bool {
        self.src(span).contains(['\n', '\r'])
    }

    fn has_comment_within(&self, span: Span) -> bool {
        let (start, end) = (span.start as usize, span.end as usize);
        let first = self.comments.partition_point(|c| c.start <= start);
        self.comments.get(first).is_some_and(|c| c.start < end)
    }

    /// Places every comment that starts before `before`: own-line comments on
    /// lines of their own at `indent`, trailing ones at the end of the last line.
    fn flush(&mut self, before: usize, indent: usize) {
        while let Some(comment) = self.comments.get(self.next_comment) {
            if comment.start >= before {
                break;
            }
            let comment = comment.clone();
            self.next_comment += 1;
            let attach = !comment.own_line;
            match self.lines.last_mut() {
                Some(last) if attach && !last.is_comment && last.trailing.is_none() => {
                    // The column is kept only where the line starts as it did.
                    let column =
                        (last.src_line_start == Some(comment.line_start)).then_some(comment.column);
                    last.trailing = Some((comment.text, column));
                }
                _ => {
                    self.new_line(indent, comment.start);
                    if let Some(last) = self.lines.last_mut() {
                        last.code = comment.text;
                        last.is_comment = true;
                    }
                }
            }
            self.last_end = comment.end;
        }
    }

    fn new_line(&mut self, indent: usize, src_start: usize) {
        let blank = !self.block_start
            && !self.lines.is_empty()
            && has_blank_line(self.text, self.last_end, src_start);
        // Where the element starts its source line, the start of that line.
        let before = self.text.get(..src_start).unwrap_or("");
        let line_start = before.rfind(['\n', '\r']).map_or(0, |i| i + 1);
        let src_line_start = before[line_start..]
            .trim_matches([' ', '\t'])
            .is_empty()
            .then_some(line_start);
        self.lines.push(Line {
            indent,
            code: String::new(),
            trailing: None,
            src_line_start,
            is_comment: false,
            blank_before: blank,
        });
        self.block_start = false;
    }

    /// Starts the output line of the element at `src_start`, after the
    /// comments before it.
    fn line(&mut self, indent: usize, src_start: usize) {
        self.flush(src_start, indent);
        self.new_line(indent, src_start);
    }

    fn put(&mut self, s: &str) {
        if let Some(last) = self.lines.last_mut() {
            last.code.push_str(s);
        }
    }

    /// The element that ended at `end` is placed.
    fn done(&mut self, end: usize) {
        self.last_end = end;
    }

    fn module(mut self, module: &Module) -> String {
        for item in &module.items {
            let span = item.span();
            self.line(0, span.start as usize);
            self.item(item);
            self.done(span.end as usize);
        }
        self.flush(usize::MAX, 0);
        self.render()
    }

    fn render(self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            if line.blank_before {
                out.push('\n');
            }
            let start = out.len();
            for _ in 0..line.indent {
                out.push_str(INDENT);
            }
            out.push_str(&line.code);
            if let Some((comment, column)) = &line.trailing {
                let width = out[start..].chars().count();
                let pad = match column {
                    Some(column) if *column > width => column - width,
                    _ => 1,
                };
                out.extend(std::iter::repeat_n(' ', pad));
                out.push_str(comment);
            }
            out.push('\n');
        }
        out
    }

    /// A braced list of entries: on one line when it was written on one line,
    /// else one entry per line at `indent + 1` and the `}` at `indent`.
    fn braced<T>(
        &mut self,
        span: Span,
        indent: usize,
        entries: &[T],
        braces: &Braces,
        range: impl Fn(&T) -> (usize, usize),
        emit: impl Fn(&mut Self, &T, usize),
    ) {
        if !self.spans_lines(span) {
            if entries.is_empty() {
                self.put("{}");
                return;
            }
            self.put(braces.open);
            for (i, entry) in entries.iter().enumerate() {
                if i > 0 {
                    self.put(braces.separator);
                }
                emit(self, entry, indent);
            }
            self.put(braces.close);
            return;
        }
        if entries.is_empty() && !self.has_comment_within(span) {
            self.put("{}");
            return;
        }
        let close = (span.end as usize).saturating_sub(1);
        self.put("{");
        self.block_start = true;
        for entry in entries {
            let (start, end) = range(entry);
            self.line(indent + 1, start);
            emit(self, entry, indent + 1);
            self.put(braces.entry_end);
            self.done(end);
        }
        self.flush(close, indent + 1);
        self.block_start = true;
        self.line(indent, close);
        self.put("}");
        self.done(span.end as usize);
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Import(import) => {
                self.put("import ");
                self.put(self.src(import.path.span));
            }
            Item::Zone(zone) => {
                self.put(&format!("zone {} ", zone.name.name));
                self.braced(
                    zone.span,
                    0,
                    &zone.lines,
                    &BODY,
                    |l| span_range(l.span()),
                    |p, l, _| {
                        let text = p.zone_line(l);
                        p.put(&text);
                    },
                );
            }
            Item::ZoneUnion(union) => {
                let members: Vec<&str> = union.members.iter().map(|m| m.name.as_str()).collect();
                self.put(&format!(
                    "zone {} = {}",
                    union.name.name,
                    members.join(" | ")
                ));
            }
            Item::External(external) => {
                let value = self.literal(&external.value);
                self.put(&format!("external {} = {value}", external.name.name));
            }
            Item::Rule(rule) => self.rule(rule, 0),
            Item::Tier(tier) => {
                self.put(&format!("tier {} ", tier.name.name));
                self.braced(
                    tier.span,
                    0,
                    &tier.rules,
                    &BODY,
                    |r| span_range(r.span),
                    |p, r, indent| p.rule(r, indent),
                );
            }
            Item::Gateway(gateway) => {
                self.put(&format!(
                    "gateway {} = {} ",
                    gateway.name.name, gateway.kind.name
                ));
                // The tree keeps the lines' values, not their order: sort by position.
                let mut lines: Vec<(usize, usize, String)> = Vec::new();
                if let Some(zone) = &gateway.zone {
                    let (start, end) = span_range(zone.span);
                    let start = self.keyword_before(start, "zone");
                    lines.push((start, end, format!("zone {}", zone.name)));
                }
                if let Some((_, span)) = &gateway.port {
                    let (start, end) = span_range(*span);
                    let start = self.keyword_before(start, "port");
                    lines.push((start, end, format!("port {}", self.src(*span))));
                }
                for span in &gateway.repeated {
                    let (start, end) = span_range(*span);
                    let words: Vec<&str> = self.src(*span).split_whitespace().collect();
                    lines.push((start, end, words.join(" ")));
                }
                lines.sort();
                self.braced(
                    gateway.span,
                    0,
                    &lines,
                    &BODY,
                    |(start, end, _)| (*start, *end),
                    |p, (_, _, text), _| p.put(text),
                );
            }
        }
    }

    /// Where `keyword` starts, given the start of the word after it (only
    /// spaces and tabs can be in between).
    fn keyword_before(&self, start: usize, keyword: &str) -> usize {
        let before = self.text.get(..start).unwrap_or("");
        let trimmed = before.trim_end_matches([' ', '\t']);
        if trimmed.ends_with(keyword) {
            trimmed.len() - keyword.len()
        } else {
            start
        }
    }

    fn zone_line(&self, line: &ZoneLine) -> String {
        match line {
            ZoneLine::Namespace { name, .. } => format!("namespace {}", self.src(name.span)),
            ZoneLine::Namespaces { constraints, .. } => {
                format!("namespaces {}", self.constraints(constraints))
            }
            ZoneLine::Pods { constraints, .. } => format!("pods {}", self.constraints(constraints)),
            ZoneLine::Isolate { mode, .. } => {
                let mode = match mode {
                    Isolate::Both => "both",
                    Isolate::Ingress => "ingress",
                    Isolate::Egress => "egress",
                    Isolate::None => "none",
                };
                format!("isolate {mode}")
            }
        }
    }

    fn constraints(&self, constraints: &[Constraint]) -> String {
        let parts: Vec<String> = constraints.iter().map(|c| self.constraint(c)).collect();
        parts.join(", ")
    }

    fn constraint(&self, c: &Constraint) -> String {
        let key = &c.key.key;
        let list = |values: &[Str]| {
            let values: Vec<&str> = values.iter().map(|v| self.src(v.span)).collect();
            format!("({})", values.join(", "))
        };
        match &c.op {
            ConstraintOp::Eq(v) => format!("{key} = {}", self.src(v.span)),
            ConstraintOp::NotEq(v) => format!("{key} != {}", self.src(v.span)),
            ConstraintOp::In(values) => format!("{key} in {}", list(values)),
            ConstraintOp::NotIn(values) => format!("{key} not in {}", list(values)),
            ConstraintOp::Has => format!("has {key}"),
            ConstraintOp::NotHas => format!("not has {key}"),
        }
    }

    fn literal(&self, literal: &PeerLiteral) -> String {
        match literal {
            PeerLiteral::Fqdn(name) => format!("fqdn {}", self.src(name.span)),
            PeerLiteral::Cidr { base, except } if except.is_empty() => {
                format!("cidr {}", base.text)
            }
            PeerLiteral::Cidr { base, except } => {
                let except: Vec<&str> = except.iter().map(|c| c.text.as_str()).collect();
                format!("cidr {} except {}", base.text, except.join(", "))
            }
        }
    }

    fn rule(&mut self, rule: &Rule, indent: usize) {
        self.put(rule.action.as_str());
        self.put(" ");
        self.peer(&rule.source, indent);
        self.put(" -> ");
        self.peer(&rule.destination, indent);
        if let Some(ports) = &rule.ports {
            let ports: Vec<&str> = ports.iter().map(|p| self.src(p.span)).collect();
            self.put(" : ");
            self.put(&ports.join(", "));
        }
        match &rule.l7 {
            None => {}
            Some(L7::Http { rules, span }) => {
                self.put(" http ");
                self.braced(
                    *span,
                    indent,
                    rules,
                    &BODY,
                    |r| span_range(r.span),
                    |p, r, _| {
                        let text = p.http_rule(r);
                        p.put(&text);
                    },
                );
            }
            Some(L7::Dns { names, span }) => {
                self.put(" dns ");
                self.braced(
                    *span,
                    indent,
                    names,
                    &DNS,
                    |n| span_range(n.span),
                    |p, n, _| p.put(p.src(n.span)),
                );
            }
        }
        if let Some(via) = &rule.via {
            self.put(" via ");
            self.put(&via.name);
        }
    }

    fn http_rule(&self, rule: &HttpRule) -> String {
        match (&rule.method, &rule.path) {
            (Some(method), Some(path)) => format!("{} {}", method.name, self.src(path.span)),
            (Some(method), None) => method.name.clone(),
            (None, Some(path)) => self.src(path.span).to_string(),
            (None, None) => String::new(),
        }
    }

    fn peer(&mut self, peer: &Peer, indent: usize) {
        match peer {
            Peer::Name(name) => self.put(&name.name),
            Peer::Literal { value, .. } => {
                let text = self.literal(value);
                self.put(&text);
            }
            Peer::Set { members, span } => self.braced(
                *span,
                indent,
                members,
                &SET,
                |m| span_range(m.span()),
                |p, m, indent| p.peer(m, indent),
            ),
        }
    }
}

fn span_range(span: Span) -> (usize, usize) {
    (span.start as usize, span.end as usize)
}

// ---------------------------------------------------------------- the check

/// The formatted text must parse cleanly to the same tree, and keep every
/// token and comment in order.
fn verify(
    db: &Database,
    file: SourceFile,
    text: &str,
    module: &Module,
    formatted: &str,
) -> Result<(), FormatError> {
    let out_file = SourceFile::new(db, "<fmt-out>".to_string(), formatted.to_string());
    let reparsed = syntax::parse_text(out_file, formatted);
    if let Some(d) = reparsed.diagnostics.first() {
        return Err(FormatError::Internal(format!(
            "the result does not parse: {}",
            d.message
        )));
    }
    if significant(text) != significant(formatted) {
        return Err(FormatError::Internal(
            "tokens or comments would change".to_string(),
        ));
    }
    let blank = Span::new(file, 0, 0);
    let mut before = module.clone();
    let mut after = reparsed.module;
    erase_module(&mut before, blank);
    erase_module(&mut after, blank);
    if before != after {
        return Err(FormatError::Internal(
            "the program would change".to_string(),
        ));
    }
    Ok(())
}

/// The text without what formatting may change: whitespace, `,` and `;`
/// outside strings and comments. Each comment is kept whole, on a line of
/// its own.
fn significant(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    let mut in_string = false;
    while let Some((i, c)) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                '\\' => {
                    if let Some((_, next)) = chars.next() {
                        out.push(next);
                    }
                }
                '"' | '\n' | '\r' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '#' => {
                let end = text[i..].find(['\n', '\r']).map_or(text.len(), |n| i + n);
                out.push('\n');
                out.push_str(text[i..end].trim_end());
                out.push('\n');
                while chars.peek().is_some_and(|&(j, _)| j < end) {
                    chars.next();
                }
            }
            c if c.is_whitespace() || c == ',' || c == ';' => {}
            c => out.push(c),
        }
    }
    out
}

fn erase_module(module: &mut Module, blank: Span) {
    for item in &mut module.items {
        match item {
            Item::Import(import) => {
                import.span = blank;
                import.path.span = blank;
            }
            Item::Zone(zone) => {
                zone.doc = None;
                zone.span = blank;
                zone.name.span = blank;
                for line in &mut zone.lines {
                    match line {
                        ZoneLine::Namespace { name, span } => {
                            name.span = blank;
                            *span = blank;
                        }
                        ZoneLine::Namespaces { constraints, span }
                        | ZoneLine::Pods { constraints, span } => {
                            *span = blank;
                            for c in constraints {
                                c.span = blank;
                                c.key.span = blank;
                                match &mut c.op {
                                    ConstraintOp::Eq(v) | ConstraintOp::NotEq(v) => v.span = blank,
                                    ConstraintOp::In(vs) | ConstraintOp::NotIn(vs) => {
                                        vs.iter_mut().for_each(|v| v.span = blank)
                                    }
                                    ConstraintOp::Has | ConstraintOp::NotHas => {}
                                }
                            }
                        }
                        ZoneLine::Isolate { span, .. } => *span = blank,
                    }
                }
            }
            Item::ZoneUnion(union) => {
                union.doc = None;
                union.span = blank;
                union.name.span = blank;
                union.members.iter_mut().for_each(|m| m.span = blank);
            }
            Item::External(external) => {
                external.doc = None;
                external.span = blank;
                external.name.span = blank;
                erase_literal(&mut external.value, blank);
            }
            Item::Rule(rule) => erase_rule(rule, blank),
            Item::Tier(tier) => {
                tier.doc = None;
                tier.span = blank;
                tier.name.span = blank;
                tier.rules.iter_mut().for_each(|r| erase_rule(r, blank));
            }
            Item::Gateway(gateway) => {
                gateway.doc = None;
                gateway.span = blank;
                gateway.name.span = blank;
                gateway.kind.span = blank;
                if let Some(zone) = &mut gateway.zone {
                    zone.span = blank;
                }
                if let Some((_, span)) = &mut gateway.port {
                    *span = blank;
                }
                gateway.repeated.iter_mut().for_each(|s| *s = blank);
            }
        }
    }
}

fn erase_literal(literal: &mut PeerLiteral, blank: Span) {
    match literal {
        PeerLiteral::Fqdn(name) => name.span = blank,
        PeerLiteral::Cidr { base, except } => {
            base.span = blank;
            except.iter_mut().for_each(|c| c.span = blank);
        }
    }
}

fn erase_peer(peer: &mut Peer, blank: Span) {
    match peer {
        Peer::Name(name) => name.span = blank,
        Peer::Literal { value, span } => {
            *span = blank;
            erase_literal(value, blank);
        }
        Peer::Set { members, span } => {
            *span = blank;
            members.iter_mut().for_each(|m| erase_peer(m, blank));
        }
    }
}

fn erase_rule(rule: &mut Rule, blank: Span) {
    rule.doc = None;
    rule.span = blank;
    rule.action_span = blank;
    erase_peer(&mut rule.source, blank);
    erase_peer(&mut rule.destination, blank);
    if let Some(ports) = &mut rule.ports {
        for port in ports {
            port.span = blank;
            if let Some(icmp) = &mut port.icmp {
                match &mut icmp.icmp_type {
                    Some(IcmpType::Number(_, span) | IcmpType::Name(_, span)) => *span = blank,
                    None => {}
                }
                if let Some((_, span)) = &mut icmp.code {
                    *span = blank;
                }
            }
        }
    }
    match &mut rule.l7 {
        None => {}
        Some(L7::Http { rules, span }) => {
            *span = blank;
            for r in rules {
                r.span = blank;
                if let Some(m) = &mut r.method {
                    m.span = blank;
                }
                if let Some(p) = &mut r.path {
                    p.span = blank;
                }
            }
        }
        Some(L7::Dns { names, span }) => {
            *span = blank;
            names.iter_mut().for_each(|n| n.span = blank);
        }
    }
    if let Some(via) = &mut rule.via {
        via.span = blank;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(text: &str) -> String {
        match format_source(text) {
            Ok(out) => out,
            Err(e) => panic!("{e}\n--- input ---\n{text}"),
        }
    }

    #[track_caller]
    fn assert_fmt(input: &str, expected: &str) {
        let out = fmt(input);
        assert_eq!(out, expected, "\n--- got ---\n{out}");
        assert_eq!(fmt(&out), out, "not idempotent");
    }

    #[test]
    fn log_rules_like_the_others() {
        assert_fmt(
            "tier  watch {\n    log   a->b:80\n}\nlog {a,b}->  world\n",
            "tier watch {\n  log a -> b : 80\n}\nlog {a, b} -> world\n",
        );
    }

    #[test]
    fn spacing_of_rules() {
        assert_fmt(
            "allow  a->b:80,udp/53\ndeny   {a,b , c}->  cidr 10.0.0.0/8 except 10.1.0.0/16,10.2.0.0/16\n",
            "allow a -> b : 80, udp/53\ndeny {a, b, c} -> cidr 10.0.0.0/8 except 10.1.0.0/16, 10.2.0.0/16\n",
        );
    }

    #[test]
    fn one_line_bodies_stay_on_one_line() {
        assert_fmt(
            "zone a {namespace \"a\" ;pods app=\"x\",has b;isolate none}\nzone e {   }\n",
            "zone a { namespace \"a\"; pods app = \"x\", has b; isolate none }\nzone e {}\n",
        );
    }

    #[test]
    fn multi_line_bodies_get_one_entry_per_line() {
        assert_fmt(
            "zone a {\n namespace \"a\"; pods k in (\"x\",\"y\",)\n\n\n     isolate ingress\n\n}\nzone b {\n}\n",
            "zone a {\n  namespace \"a\"\n  pods k in (\"x\", \"y\")\n\n  isolate ingress\n}\nzone b {}\n",
        );
    }

    #[test]
    fn comments_stay_where_they_are() {
        let input = "\n\n# head\n\n\n## doc\nzone a { # after brace\n    # inside\n  namespace \"a\"   # trailing\n  # before close\n}\n# tail\n";
        assert_fmt(
            input,
            "# head\n\n## doc\nzone a { # after brace\n  # inside\n  namespace \"a\"   # trailing\n  # before close\n}\n# tail\n",
        );
    }

    #[test]
    fn trailing_comment_columns_are_kept_when_there_is_room() {
        assert_fmt(
            "import \"std/k8s\"          # k8s\nallow a->b:80 # x\nallow   a   ->   b   :   80   # y\n",
            "import \"std/k8s\"          # k8s\nallow a -> b : 80 # x\nallow a -> b : 80             # y\n",
        );
    }

    #[test]
    fn multi_line_sets_and_l7_blocks() {
        assert_fmt(
            "tier t {\nallow a -> {b, # first\n  c} : 80 http { GET \"/x\"\n POST\n} via g\n}\n",
            "tier t {\n  allow a -> {\n    b, # first\n    c,\n  } : 80 http {\n    GET \"/x\"\n    POST\n  } via g\n}\n",
        );
        assert_fmt(
            "allow a -> kube-dns : udp/53 dns { \"a.x\" ; \"b.x\",\"c.x\" }\n",
            "allow a -> kube-dns : udp/53 dns { \"a.x\", \"b.x\", \"c.x\" }\n",
        );
    }

    #[test]
    fn top_level_semicolons_split_items() {
        assert_fmt(
            "zone a {}; zone b = a|a ; external e = fqdn \"x.y\" # c\n",
            "zone a {}\nzone b = a | a\nexternal e = fqdn \"x.y\" # c\n",
        );
    }

    #[test]
    fn gateway_lines_keep_their_order() {
        assert_fmt(
            "gateway g = istio {\n  port 8443\n  zone   z\n  zone y\n}\n",
            "gateway g = istio {\n  port 8443\n  zone z\n  zone y\n}\n",
        );
    }

    #[test]
    fn crlf_and_empty_inputs() {
        assert_fmt(
            "zone a {\r\n  namespace \"a\"\r\n}\r\n\r\n\r\nallow a -> a : 1\r\n",
            "zone a {\n  namespace \"a\"\n}\n\nallow a -> a : 1\n",
        );
        assert_fmt("", "");
        assert_fmt(" \n\n", "");
        assert_fmt("# only\n\n\n# comments", "# only\n\n# comments\n");
    }

    #[test]
    fn strings_are_kept_as_written() {
        assert_fmt(
            "external e = fqdn \"a#b\\\"c\" # real\n",
            "external e = fqdn \"a#b\\\"c\" # real\n",
        );
    }

    #[test]
    fn syntax_errors_refuse() {
        let Err(FormatError::Syntax(errors)) = format_source("zone a {}\nallow a -> : 80\nzone\n")
        else {
            panic!("expected syntax errors");
        };
        assert_eq!(errors.len(), 2);
        assert_eq!((errors[0].line, errors[0].column), (2, 12));
    }
}
