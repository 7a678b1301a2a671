//! From text to [`Module`]: never fails. The pest grammar swallows anything it
//! cannot parse as `junk` at item boundaries; each junk slice is parsed again on
//! its own to say precisely what was expected, and parsing goes on.

use pest::iterators::Pair;
use pest::Parser as _;

use super::ast::*;
use super::limits;
use crate::db::SourceFile;
use crate::diagnostic::{Code, Diagnostic, Span};

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/npl.pest"]
struct NplParser;

/// A parsed file: the tree of every item that parsed, and the errors of the rest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    pub module: Module,
    pub diagnostics: Vec<Diagnostic>,
}

pub fn parse_text(file: SourceFile, text: &str) -> Parsed {
    // Limits first (docs/limits.md): the parser and every pass after it
    // recurse once per brace, and pest's time grows with the text.
    if text.len() > crate::source::MAX_SOURCE_BYTES {
        return Parsed {
            module: Module::default(),
            diagnostics: vec![limits::too_large(file, "this file")],
        };
    }
    let (text, diagnostics) = match limits::blank_deep_nesting(file, text) {
        Some((blanked, diagnostics)) => (std::borrow::Cow::Owned(blanked), diagnostics),
        None => (std::borrow::Cow::Borrowed(text), Vec::new()),
    };
    let text: &str = &text;
    if diagnostics.is_empty() {
        if let Some(module) = parse_in_chunks(file, text, CHUNK_BYTES) {
            return Parsed {
                module,
                diagnostics,
            };
        }
    }
    let mut parser = ModuleParser {
        file,
        text,
        offset: 0,
        diagnostics,
    };
    let module = match NplParser::parse(Rule::file, text) {
        Ok(mut pairs) => match pairs.next() {
            Some(root) => parser.module(root),
            None => Module::default(),
        },
        // The grammar accepts every input; this is only reachable through a
        // pest resource limit, which we still report rather than crash on.
        // pest's own stack guard: a line that does not parse is skipped
        // brace by brace, counting braces in its comments and strings too,
        // which the scan for E0105 does not.
        Err(err) if err.to_string().contains("stack limit reached") => {
            let at = match err.location {
                pest::error::InputLocation::Pos(p) => p,
                pest::error::InputLocation::Span((s, _)) => s,
            };
            let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
            parser.diagnostics.push(
                Diagnostic::new(
                    Code::NestingTooDeep,
                    Span::new(file, at, end),
                    "braces nest too deep to skip this line",
                )
                .with_label("this line does not parse and opens too many braces")
                .with_help(
                    "in a line that does not parse, braces in comments and strings count too; \
                     fix the line or remove the braces",
                ),
            );
            Module::default()
        }
        Err(err) => {
            let diag = parser.pest_error(err, 0, Rule::item_alone);
            parser.diagnostics.push(diag);
            Module::default()
        }
    };
    Parsed {
        module,
        diagnostics: parser.diagnostics,
    }
}

/// Files larger than this are parsed in pieces of about this size.
const CHUNK_BYTES: usize = 128 * 1024;

/// A large file parsed in pieces, on every core: pest keeps one token queue
/// per parse, which for a file of 100,000 rules is hundreds of megabytes
/// grown by copying. The file is cut only before a line that starts a
/// top-level item (a keyword in the first column, outside every brace,
/// string and comment). `None` when the file is small, cannot be cut
/// safely, or any piece has an error: the caller then parses it whole, so
/// diagnostics and recovery are always those of one parse.
fn parse_in_chunks(file: SourceFile, text: &str, chunk: usize) -> Option<Module> {
    use rayon::prelude::*;
    let cuts = chunk_starts(text, chunk)?;
    let ends = cuts.iter().skip(1).copied().chain([text.len()]);
    let pieces: Vec<(usize, usize)> = cuts.iter().copied().zip(ends).collect();
    // Collected as an `Option`: the first piece with an error stops the
    // others, and the file is parsed whole.
    let modules: Option<Vec<Module>> = pieces
        .into_par_iter()
        .map(|(start, end)| {
            let mut parser = ModuleParser {
                file,
                text,
                offset: start,
                diagnostics: Vec::new(),
            };
            let root = NplParser::parse(Rule::file, text.get(start..end)?)
                .ok()?
                .next()?;
            let clean = root.clone().into_inner().all(|p| p.as_rule() != Rule::junk);
            let module = parser.module(root);
            (clean && parser.diagnostics.is_empty()).then_some(module)
        })
        .collect();
    let items = modules?.into_iter().flat_map(|m| m.items).collect();
    Some(Module { items })
}

/// Where the pieces of a large file start (the first is 0), or `None` when
/// the file is small or its braces do not balance.
fn chunk_starts(text: &str, chunk: usize) -> Option<Vec<usize>> {
    const STARTS: [&str; 9] = [
        "import", "zone", "external", "tier", "gateway", "allow", "deny", "log", "##",
    ];
    if text.len() <= chunk {
        return None;
    }
    let mut cuts = vec![0];
    let mut depth: usize = 0;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let starts_item = STARTS.iter().any(|k| {
            line.strip_prefix(k)
                .is_some_and(|rest| *k == "##" || rest.starts_with([' ', '\t']))
        });
        let last = cuts.last().copied().unwrap_or(0);
        if depth == 0 && starts_item && at - last >= chunk {
            cuts.push(at);
        }
        let mut in_string = false;
        let mut escaped = false;
        for c in line.chars() {
            match c {
                _ if escaped => escaped = false,
                '\\' if in_string => escaped = true,
                '"' => in_string = !in_string,
                '#' if !in_string => break,
                '{' if !in_string => depth += 1,
                '}' if !in_string => depth = depth.checked_sub(1)?,
                _ => {}
            }
        }
        at += line.len();
    }
    (depth == 0 && cuts.len() > 1).then_some(cuts)
}

struct ModuleParser<'t> {
    file: SourceFile,
    /// The whole file, for the lines around an item.
    text: &'t str,
    /// Where the parsed piece starts in `text`: pest's positions are the
    /// piece's.
    offset: usize,
    diagnostics: Vec<Diagnostic>,
}

impl<'t> ModuleParser<'t> {
    /// The pair's span, ending at its last token: pest keeps the spaces and
    /// comment it skipped before an optional part that was absent.
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        let end = pair
            .clone()
            .into_inner()
            .last()
            .map_or(s.end(), |last| last.as_span().end());
        let end = if matches!(
            pair.as_rule(),
            Rule::zone
                | Rule::tier
                | Rule::gateway
                | Rule::peer_set
                | Rule::http_block
                | Rule::dns_block
                | Rule::value_list
                | Rule::string
        ) {
            // Blocks and strings end at a closing brace or quote, not a pair.
            s.end()
        } else {
            end
        };
        Span::new(self.file, self.offset + s.start(), self.offset + end)
    }

    fn module(&mut self, root: Pair<'_, Rule>) -> Module {
        let mut items = Vec::new();
        for pair in root.into_inner() {
            match pair.as_rule() {
                Rule::junk => self.junk(&pair, Rule::item_alone),
                Rule::EOI => {}
                _ => {
                    if let Some(item) = self.item(pair) {
                        items.push(item);
                    }
                }
            }
        }
        Module { items }
    }

    fn item(&mut self, pair: Pair<'_, Rule>) -> Option<Item> {
        let item = match pair.as_rule() {
            Rule::import => Item::Import(self.import(pair)?),
            Rule::zone => Item::Zone(self.zone(pair)?),
            Rule::zone_union => Item::ZoneUnion(self.zone_union(pair)?),
            Rule::external => Item::External(self.external(pair)?),
            Rule::rule => Item::Rule(self.rule(pair)?),
            Rule::tier => Item::Tier(self.tier(pair)?),
            Rule::gateway => Item::Gateway(self.gateway(pair)?),
            _ => return None,
        };
        Some(item)
    }

    fn import(&mut self, pair: Pair<'_, Rule>) -> Option<Import> {
        let span = self.span(&pair);
        let path = pair.into_inner().find(|p| p.as_rule() == Rule::string)?;
        Some(Import {
            path: self.string(path),
            span,
        })
    }

    fn zone(&mut self, pair: Pair<'_, Rule>) -> Option<Zone> {
        let span = self.span(&pair);
        let doc = self.doc_above(span);
        let mut name = None;
        let mut lines = Vec::new();
        for child in pair.into_inner() {
            match child.as_rule() {
                Rule::ident => name = Some(self.ident(&child)),
                Rule::namespace_line => {
                    let line_span = self.span(&child);
                    let value = child.into_inner().find(|p| p.as_rule() == Rule::string)?;
                    lines.push(ZoneLine::Namespace {
                        name: self.string(value),
                        span: line_span,
                    });
                }
                Rule::namespaces_line => {
                    let line_span = self.span(&child);
                    lines.push(ZoneLine::Namespaces {
                        constraints: self.constraints(child),
                        span: line_span,
                    });
                }
                Rule::pods_line => {
                    let line_span = self.span(&child);
                    lines.push(ZoneLine::Pods {
                        constraints: self.constraints(child),
                        span: line_span,
                    });
                }
                Rule::isolate_line => {
                    let line_span = self.span(&child);
                    let mode = child
                        .into_inner()
                        .find(|p| p.as_rule() == Rule::isolate_mode)?;
                    let mode = match mode.as_str() {
                        "ingress" => Isolate::Ingress,
                        "egress" => Isolate::Egress,
                        "none" => Isolate::None,
                        _ => Isolate::Both,
                    };
                    lines.push(ZoneLine::Isolate {
                        mode,
                        span: line_span,
                    });
                }
                Rule::block_junk => self.junk(&child, Rule::zone_line_alone),
                _ => {}
            }
        }
        Some(Zone {
            doc,
            name: name?,
            lines,
            span,
        })
    }

    fn constraints(&mut self, line: Pair<'_, Rule>) -> Vec<Constraint> {
        let Some(list) = line.into_inner().find(|p| p.as_rule() == Rule::constraints) else {
            return Vec::new();
        };
        list.into_inner()
            .filter_map(|c| self.constraint(c))
            .collect()
    }

    fn constraint(&mut self, pair: Pair<'_, Rule>) -> Option<Constraint> {
        let span = self.span(&pair);
        let kind = pair.as_rule();
        let mut key = None;
        let mut strings = Vec::new();
        for child in pair.into_inner() {
            match child.as_rule() {
                Rule::label_key => {
                    key = Some(LabelKey {
                        key: child.as_str().to_string(),
                        span: self.span(&child),
                    })
                }
                Rule::string => strings.push(self.string(child)),
                Rule::value_list => {
                    for value in child.into_inner() {
                        strings.push(self.string(value));
                    }
                }
                _ => {}
            }
        }
        let op = match kind {
            Rule::eq_c => ConstraintOp::Eq(strings.pop()?),
            Rule::neq_c => ConstraintOp::NotEq(strings.pop()?),
            Rule::in_c => ConstraintOp::In(strings),
            Rule::not_in_c => ConstraintOp::NotIn(strings),
            Rule::has_c => ConstraintOp::Has,
            Rule::not_has_c => ConstraintOp::NotHas,
            _ => return None,
        };
        Some(Constraint {
            key: key?,
            op,
            span,
        })
    }

    fn zone_union(&mut self, pair: Pair<'_, Rule>) -> Option<ZoneUnion> {
        let span = self.span(&pair);
        let doc = self.doc_above(span);
        let mut idents = pair
            .into_inner()
            .filter(|p| p.as_rule() == Rule::ident)
            .map(|p| self.ident(&p));
        let name = idents.next()?;
        Some(ZoneUnion {
            doc,
            name,
            members: idents.collect(),
            span,
        })
    }

    fn external(&mut self, pair: Pair<'_, Rule>) -> Option<External> {
        let span = self.span(&pair);
        let doc = self.doc_above(span);
        let mut name = None;
        let mut value = None;
        for child in pair.into_inner() {
            match child.as_rule() {
                Rule::ident => name = Some(self.ident(&child)),
                Rule::fqdn_peer | Rule::cidr_peer => value = self.peer_literal(child),
                _ => {}
            }
        }
        Some(External {
            doc,
            name: name?,
            value: value?,
            span,
        })
    }

    fn peer_literal(&mut self, pair: Pair<'_, Rule>) -> Option<PeerLiteral> {
        match pair.as_rule() {
            Rule::fqdn_peer => {
                let s = pair.into_inner().find(|p| p.as_rule() == Rule::string)?;
                Some(PeerLiteral::Fqdn(self.string(s)))
            }
            Rule::cidr_peer => {
                let mut cidrs = pair
                    .into_inner()
                    .filter(|p| p.as_rule() == Rule::cidr_literal)
                    .map(|p| CidrText {
                        text: p.as_str().to_string(),
                        span: self.span(&p),
                    });
                let base = cidrs.next()?;
                Some(PeerLiteral::Cidr {
                    base,
                    except: cidrs.collect(),
                })
            }
            _ => None,
        }
    }

    fn tier(&mut self, pair: Pair<'_, Rule>) -> Option<Tier> {
        let span = self.span(&pair);
        let doc = self.doc_above(span);
        let mut name = None;
        let mut rules = Vec::new();
        for child in pair.into_inner() {
            match child.as_rule() {
                Rule::ident => name = Some(self.ident(&child)),
                Rule::rule => rules.extend(self.rule(child)),
                Rule::block_junk => self.junk(&child, Rule::rule_alone),
                _ => {}
            }
        }
        Some(Tier {
            doc,
            name: name?,
            rules,
            span,
        })
    }

    fn gateway(&mut self, pair: Pair<'_, Rule>) -> Option<Gateway> {
        let span = self.span(&pair);
        let doc = self.doc_above(span);
        let mut idents = Vec::new();
        let mut zone = None;
        let mut port = None;
        let mut repeated = Vec::new();
        for child in pair.into_inner() {
            match child.as_rule() {
                Rule::ident => idents.push(self.ident(&child)),
                Rule::gateway_zone => {
                    let line_span = self.span(&child);
                    let id = child.into_inner().find(|p| p.as_rule() == Rule::ident)?;
                    if zone.is_some() {
                        repeated.push(line_span);
                    } else {
                        zone = Some(self.ident(&id));
                    }
                }
                Rule::gateway_port => {
                    let line_span = self.span(&child);
                    let n = child.into_inner().find(|p| p.as_rule() == Rule::number)?;
                    let value = self.number(&n);
                    if port.is_some() {
                        repeated.push(line_span);
                    } else {
                        port = Some((value, self.span(&n)));
                    }
                }
                Rule::block_junk => self.junk(&child, Rule::gateway_line_alone),
                _ => {}
            }
        }
        let mut idents = idents.into_iter();
        Some(Gateway {
            doc,
            name: idents.next()?,
            kind: idents.next()?,
            zone,
            port,
            repeated,
            span,
        })
    }

    fn rule(&mut self, pair: Pair<'_, Rule>) -> Option<Rule_> {
        let span = self.span(&pair);
        let doc = self.doc_above(span);
        let mut action = None;
        let mut peers = Vec::new();
        let mut ports = None;
        let mut l7 = None;
        let mut via = None;
        for child in pair.into_inner() {
            match child.as_rule() {
                Rule::action => {
                    let a = match child.as_str() {
                        "deny" => Action::Deny,
                        "log" => Action::Log,
                        _ => Action::Allow,
                    };
                    action = Some((a, self.span(&child)));
                }
                Rule::peer_name | Rule::peer_set | Rule::fqdn_peer | Rule::cidr_peer => {
                    peers.extend(self.peer(child))
                }
                Rule::ports => ports = Some(self.ports(child)),
                Rule::http_block => l7 = self.http(child),
                Rule::dns_block => {
                    let block_span = self.span(&child);
                    let names = child
                        .into_inner()
                        .filter(|p| p.as_rule() == Rule::string)
                        .map(|p| self.string(p))
                        .collect();
                    l7 = Some(L7::Dns {
                        names,
                        span: block_span,
                    });
                }
                Rule::via => {
                    via = child
                        .into_inner()
                        .find(|p| p.as_rule() == Rule::ident)
                        .map(|p| self.ident(&p))
                }
                _ => {}
            }
        }
        let (action, action_span) = action?;
        let mut peers = peers.into_iter();
        Some(Rule_ {
            doc,
            action,
            action_span,
            source: peers.next()?,
            destination: peers.next()?,
            ports,
            l7,
            via,
            span,
        })
    }

    fn peer(&mut self, pair: Pair<'_, Rule>) -> Option<Peer> {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::peer_name => {
                let id = pair.into_inner().next()?;
                Some(Peer::Name(self.ident(&id)))
            }
            Rule::peer_set => Some(Peer::Set {
                members: pair.into_inner().filter_map(|p| self.peer(p)).collect(),
                span,
            }),
            Rule::fqdn_peer | Rule::cidr_peer => Some(Peer::Literal {
                value: self.peer_literal(pair)?,
                span,
            }),
            _ => None,
        }
    }

    fn ports(&mut self, pair: Pair<'_, Rule>) -> Vec<Port> {
        pair.into_inner().filter_map(|p| self.port(p)).collect()
    }

    fn port(&mut self, pair: Pair<'_, Rule>) -> Option<Port> {
        let span = self.span(&pair);
        let value = match pair.as_rule() {
            Rule::icmp_port => {
                let icmp = self.icmp(pair);
                return Some(Port {
                    value: PortValue::Icmp,
                    span,
                    icmp,
                });
            }
            Rule::bare_number => PortValue::Number {
                protocol: Protocol::Tcp,
                port: self.number(&pair),
            },
            Rule::bare_range => {
                let (start, end) = self.range(pair)?;
                PortValue::Range {
                    protocol: Protocol::Tcp,
                    start,
                    end,
                }
            }
            Rule::proto_port => {
                let mut inner = pair.into_inner();
                let protocol = match inner.next()?.as_str() {
                    "udp" => Protocol::Udp,
                    "sctp" => Protocol::Sctp,
                    _ => Protocol::Tcp,
                };
                let value = inner.next()?;
                match value.as_rule() {
                    Rule::port_number => PortValue::Number {
                        protocol,
                        port: self.number(&value),
                    },
                    Rule::port_range => {
                        let (start, end) = self.range(value)?;
                        PortValue::Range {
                            protocol,
                            start,
                            end,
                        }
                    }
                    _ => PortValue::Named {
                        protocol,
                        name: value.as_str().to_string(),
                    },
                }
            }
            _ => return None,
        };
        Some(Port {
            value,
            span,
            icmp: None,
        })
    }

    /// The parts after `icmp`/`icmpv6`; `None` for plain `icmp`.
    fn icmp(&mut self, pair: Pair<'_, Rule>) -> Option<IcmpSpec> {
        let mut inner = pair.into_inner();
        let written = inner.next()?.as_str();
        let family = match written {
            "icmpv6" => IcmpFamily::V6,
            _ => IcmpFamily::V4,
        };
        let icmp_type = inner.next().map(|t| {
            let span = self.span(&t);
            match t.as_rule() {
                Rule::icmp_number => IcmpType::Number(self.number(&t), span),
                _ => IcmpType::Name(t.as_str().to_string(), span),
            }
        });
        let code = inner.next().map(|c| (self.number(&c), self.span(&c)));
        if written == "icmp" && icmp_type.is_none() {
            return None;
        }
        Some(IcmpSpec {
            family,
            icmp_type,
            code,
        })
    }

    fn range(&mut self, pair: Pair<'_, Rule>) -> Option<(u64, u64)> {
        let mut numbers = pair.into_inner();
        let start = self.number(&numbers.next()?);
        let end = self.number(&numbers.next()?);
        Some((start, end))
    }

    fn http(&mut self, pair: Pair<'_, Rule>) -> Option<L7> {
        let span = self.span(&pair);
        let mut rules = Vec::new();
        for req in pair.into_inner().filter(|p| p.as_rule() == Rule::http_rule) {
            let rule_span = self.span(&req);
            let mut method = None;
            let mut path = None;
            for part in req.into_inner() {
                match part.as_rule() {
                    Rule::http_method => method = Some(self.ident(&part)),
                    Rule::string => path = Some(self.string(part)),
                    _ => {}
                }
            }
            rules.push(HttpRule {
                method,
                path,
                span: rule_span,
            });
        }
        Some(L7::Http { rules, span })
    }

    fn ident(&self, pair: &Pair<'_, Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(pair),
        }
    }

    /// Unescapes `\"` and `\\`; any other escape is an error that keeps the
    /// character so the rest of the file still means something.
    fn string(&mut self, pair: Pair<'_, Rule>) -> Str {
        let span = self.span(&pair);
        let raw = pair.as_str();
        let inner = raw
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(raw);
        let mut value = String::with_capacity(inner.len());
        let mut chars = inner.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                value.push(c);
                continue;
            }
            match chars.next() {
                Some((_, e @ ('"' | '\\'))) => value.push(e),
                Some((j, other)) => {
                    let at = span.start as usize + 1 + i;
                    let esc = Span::new(self.file, at, at + 1 + (j - i) + other.len_utf8() - 1);
                    self.diagnostics.push(
                        Diagnostic::new(
                            Code::InvalidEscape,
                            esc,
                            format!("unknown escape `\\{other}` in a string"),
                        )
                        .with_label("only `\\\"` and `\\\\` are escapes")
                        .with_help("write a backslash as `\\\\`"),
                    );
                    value.push(other);
                }
                None => value.push('\\'),
            }
        }
        Str { value, span }
    }

    fn number(&mut self, pair: &Pair<'_, Rule>) -> u64 {
        match pair.as_str().parse::<u64>() {
            Ok(n) => n,
            Err(_) => {
                self.diagnostics.push(
                    Diagnostic::new(
                        Code::NumberTooLarge,
                        self.span(pair),
                        format!("the number `{}` is too large", pair.as_str()),
                    )
                    .with_label("does not fit in 64 bits"),
                );
                u64::MAX
            }
        }
    }

    /// `## ` lines directly above the item starting at `span`.
    fn doc_above(&self, span: Span) -> Doc {
        let before = self.text.get(..span.start as usize)?;
        // The item's own line may have leading whitespace; skip back to its start.
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let mut lines = Vec::new();
        for line in self.text.get(..line_start)?.lines().rev() {
            let trimmed = line.trim_start();
            match trimmed.strip_prefix("##") {
                Some(rest) => lines.push(rest.strip_prefix(' ').unwrap_or(rest).trim_end()),
                None => break,
            }
        }
        if lines.is_empty() {
            return None;
        }
        lines.reverse();
        Some(lines.join("\n"))
    }

    /// Turns a slice the grammar could not parse into a precise diagnostic by
    /// parsing it again on its own with the rule it should have matched.
    fn junk(&mut self, pair: &Pair<'_, Rule>, alone: Rule) {
        let start = pair.as_span().start();
        let slice = pair.as_str();
        if let Some(diag) = self.unclosed_brace(slice, start) {
            self.diagnostics.push(diag);
            return;
        }
        // Detailed attempts name the punctuation that was expected too; only
        // the re-parse of a bad slice pays for them.
        pest::set_error_detail(true);
        let reparsed = NplParser::parse(alone, slice);
        pest::set_error_detail(false);
        let diag = match reparsed {
            Err(err) => self.pest_error(err, start, alone),
            // It parses alone but not in place: what follows it is the problem.
            Ok(_) => {
                let end = pair.as_span().end();
                Diagnostic::new(
                    Code::SyntaxError,
                    Span::new(self.file, end, end),
                    "expected the end of the line",
                )
                .with_label("expected a newline or `;` here")
            }
        };
        self.diagnostics.push(diag);
    }

    /// A `{` in a bad slice that is never closed: name it rather than what
    /// the parser expected at the end of the slice.
    fn unclosed_brace(&self, slice: &str, offset: usize) -> Option<Diagnostic> {
        let mut open: Vec<usize> = Vec::new();
        let mut in_string = false;
        let mut escaped = false;
        for (i, c) in slice.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if in_string => escaped = true,
                '"' => in_string = !in_string,
                '\n' => in_string = false,
                '{' if !in_string => open.push(i),
                '}' if !in_string => {
                    open.pop();
                }
                _ => {}
            }
        }
        let at = offset + *open.first()?;
        Some(
            Diagnostic::new(
                Code::SyntaxError,
                Span::new(self.file, at, at + 1),
                "this `{` is never closed",
            )
            .with_label("opened here")
            .with_help("add the closing `}` at the end of the block"),
        )
    }

    fn pest_error(&self, err: pest::error::Error<Rule>, offset: usize, alone: Rule) -> Diagnostic {
        let pos = match err.location {
            pest::error::InputLocation::Pos(p) => p,
            pest::error::InputLocation::Span((s, _)) => s,
        };
        let at = offset + pos;
        let rest = self.text.get(at..).unwrap_or("");
        if let Some(diag) = self.unterminated_string(at) {
            return diag;
        }
        let found = found_token(rest);
        let punctuation: Vec<String> = err
            .parse_attempts()
            .filter(|a| a.max_position == pos)
            .map(|a| {
                a.expected_tokens()
                    .into_iter()
                    .map(|t| t.to_string())
                    // `#` starts a comment anywhere and `"` a string (named
                    // already): neither helps.
                    .filter(|t| {
                        !t.is_empty()
                            && t != "#"
                            && t != "\""
                            && t.chars().all(|c| c.is_ascii_punctuation())
                    })
                    .map(|t| format!("`{t}`"))
                    .collect()
            })
            .unwrap_or_default();
        let expected = match &err.variant {
            pest::error::ErrorVariant::ParsingError { positives, .. } => {
                describe_expected(positives, &punctuation, alone)
            }
            pest::error::ErrorVariant::CustomError { message } => message.clone(),
        };
        let end = at + found.len();
        let found_text = if found.is_empty() {
            "the end of the line".to_string()
        } else {
            format!("`{found}`")
        };
        let mut diag = Diagnostic::new(
            Code::SyntaxError,
            Span::new(self.file, at, end),
            format!("expected {expected}, found {found_text}"),
        )
        .with_label(format!("expected {expected}"));
        if let Some(help) = syntax_help(found, &expected) {
            diag = diag.with_help(help);
        }
        diag
    }

    /// A `"` at or before the error position on the same line that is never closed.
    fn unterminated_string(&self, at: usize) -> Option<Diagnostic> {
        let line_start = self.text.get(..at)?.rfind('\n').map_or(0, |i| i + 1);
        let line_end = self
            .text
            .get(at..)?
            .find('\n')
            .map_or(self.text.len(), |i| at + i);
        let line = self.text.get(line_start..line_end)?;
        let code_part = line;
        let mut open: Option<usize> = None;
        let mut escaped = false;
        for (i, c) in code_part.char_indices() {
            match (open, c) {
                (None, '#') => break,
                (None, '"') => open = Some(i),
                (Some(_), '\\') if !escaped => {
                    escaped = true;
                    continue;
                }
                (Some(_), '"') if !escaped => open = None,
                _ => {}
            }
            escaped = false;
        }
        let open = line_start + open?;
        Some(
            Diagnostic::new(
                Code::UnterminatedString,
                Span::new(self.file, open, line_end),
                "this string is never closed",
            )
            .with_label("the string starts here and runs to the end of the line")
            .with_help("add a closing `\"`"),
        )
    }
}

// `Rule` is pest's generated enum; the AST's rule node needs another name here.
use super::ast::Rule as Rule_;

/// The text the parser tripped over: a word, an arrow, or one character.
fn found_token(rest: &str) -> &str {
    let line = rest.split(['\n', '\r']).next().unwrap_or("");
    if line.is_empty() {
        return "";
    }
    let word_len = line
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':')))
        .map_or(line.len(), |(i, _)| i);
    if word_len > 0 {
        return &line[..word_len];
    }
    if line.starts_with("->") {
        return "->";
    }
    let first = line.chars().next().map_or(0, char::len_utf8);
    &line[..first]
}

fn describe_expected(rules: &[Rule], punctuation: &[String], alone: Rule) -> String {
    let mut names: Vec<&str> = rules.iter().filter_map(|r| rule_name(*r)).collect();
    names.extend(punctuation.iter().map(String::as_str));
    if names.is_empty() {
        // Nothing more precise: say what the slice as a whole should be.
        names.push(match alone {
            Rule::zone_line_alone => "`namespace`, `namespaces`, `pods` or `isolate`",
            Rule::rule_alone => "`allow` or `deny`",
            Rule::gateway_line_alone => "`zone` or `port`",
            _ => "`import`, `zone`, `external`, `tier`, `gateway`, `allow` or `deny`",
        });
    }
    names.sort_unstable();
    names.dedup();
    match names.as_slice() {
        [] => "something else".to_string(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

/// How a grammar rule is named to users; `None` for rules that never appear
/// alone in an expectation.
fn rule_name(r: Rule) -> Option<&'static str> {
    Some(match r {
        Rule::import | Rule::kw_import => "`import`",
        Rule::zone | Rule::zone_union | Rule::kw_zone | Rule::gateway_zone => "`zone`",
        Rule::external | Rule::kw_external => "`external`",
        Rule::tier | Rule::kw_tier => "`tier`",
        Rule::gateway | Rule::kw_gateway => "`gateway`",
        Rule::rule | Rule::action => "`allow` or `deny`",
        Rule::namespace_line | Rule::kw_namespace => "`namespace`",
        Rule::namespaces_line | Rule::kw_namespaces => "`namespaces`",
        Rule::pods_line | Rule::kw_pods => "`pods`",
        Rule::isolate_line | Rule::kw_isolate => "`isolate`",
        Rule::isolate_mode => "`ingress`, `egress`, `both` or `none`",
        Rule::ident | Rule::peer_name => "a name",
        Rule::string | Rule::value_list => "a string",
        Rule::gateway_port => "`port`",
        Rule::number | Rule::port_number | Rule::bare_number => "a number",
        Rule::label_key | Rule::constraints => "a label constraint",
        Rule::not_has_c | Rule::has_c | Rule::kw_has => "`has`",
        Rule::kw_not => "`not`",
        Rule::kw_in => "`in`",
        Rule::cidr_literal => "a CIDR such as `10.0.0.0/8`",
        Rule::fqdn_peer | Rule::kw_fqdn => "`fqdn`",
        Rule::cidr_peer | Rule::kw_cidr => "`cidr`",
        Rule::kw_except => "`except`",
        Rule::peer_set => "`{`",
        Rule::arrow => "`->`",
        Rule::ports => "a port",
        Rule::icmp_port | Rule::proto_port | Rule::bare_range => "a port",
        Rule::icmp_family => "`icmp`, `icmpv4` or `icmpv6`",
        Rule::icmp_number | Rule::icmp_name => "an ICMP type or code",
        Rule::protocol => "`tcp`, `udp` or `sctp`",
        Rule::port_name => "a port name",
        Rule::port_range => "a port range",
        Rule::http_block | Rule::kw_http => "`http`",
        Rule::dns_block | Rule::kw_dns => "`dns`",
        Rule::http_rule | Rule::http_method => "an HTTP method or path",
        Rule::via | Rule::kw_via => "`via`",
        Rule::kw_port => "`port`",
        Rule::EOI => "the end of the line",
        _ => return None,
    })
}

fn syntax_help(found: &str, expected: &str) -> Option<String> {
    if expected.contains("a name") && is_reserved(found) {
        return Some(format!(
            "`{found}` is a reserved word; choose another name (for example `{found}-zone`)"
        ));
    }
    if expected.contains("a string") && found.chars().next().is_some_and(char::is_alphanumeric) {
        return Some(format!("strings are quoted: \"{found}\""));
    }
    None
}

/// Words the grammar reserves; they cannot name zones, externals, tiers or gateways.
pub const RESERVED: &[&str] = &[
    "import", "zone", "external", "allow", "deny", "tier", "gateway", "via", "fqdn", "cidr",
    "except",
];

fn is_reserved(word: &str) -> bool {
    RESERVED.contains(&word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Parsed {
        let db = crate::db::Database::default();
        let file = SourceFile::new(&db, "test.npl".into(), text.to_string());
        super::parse_text(file, text)
    }

    #[test]
    fn parses_every_form() {
        let parsed = parse_text(
            r#"import "std/k8s"
## The web tier.
zone web {
  namespace "shop"
  pods app = "web", track != "canary", tier in ("a", "b"), x not in ("c"), has y, not has z
  isolate ingress
}
zone both = web | web
external corp = cidr 10.0.0.0/8 except 10.1.0.0/16, 10.2.0.0/16
external s = fqdn "api.stripe.com"
allow web->{s, corp}:443, udp/53, tcp/30000-32767, sctp/http, icmp, 80-90 via egress
deny web -> cidr fd00::/8
allow web -> web : 80 http { GET "/a/.*"; POST
  "/b" }
allow web -> kube-dns : udp/53 dns { "*.example.com" }
tier security { deny cluster -> cidr 169.254.169.254/32 }
gateway egress = istio { zone istio-egressgateway; port 8443 }
"#,
        );
        assert_eq!(parsed.diagnostics, vec![]);
        assert_eq!(parsed.module.items.len(), 11);
        let Item::Zone(zone) = &parsed.module.items[1] else {
            panic!("expected a zone");
        };
        assert_eq!(zone.doc.as_deref(), Some("The web tier."));
        assert_eq!(zone.lines.len(), 3);
        let Item::Rule(rule) = &parsed.module.items[5] else {
            panic!("expected a rule");
        };
        assert_eq!(rule.ports.as_ref().map(Vec::len), Some(6));
        assert_eq!(rule.via.as_ref().map(|v| v.name.as_str()), Some("egress"));
    }

    #[test]
    fn parses_icmp_types_and_codes() {
        let parsed = parse_text(
            "allow a -> b : icmp, icmpv4, icmpv6/128, icmp/echo-request, icmp/3/4, icmpv6/destination-unreachable/4 via g\n",
        );
        assert_eq!(parsed.diagnostics, vec![]);
        let Item::Rule(rule) = &parsed.module.items[0] else {
            panic!("expected a rule");
        };
        let specs: Vec<String> = rule
            .ports
            .iter()
            .flatten()
            .map(|p| match &p.icmp {
                None => "every".to_string(),
                Some(spec) => {
                    let t = match &spec.icmp_type {
                        None => "*".to_string(),
                        Some(IcmpType::Number(n, _)) => n.to_string(),
                        Some(IcmpType::Name(n, _)) => n.clone(),
                    };
                    let c = spec.code.map_or("*".to_string(), |(c, _)| c.to_string());
                    format!("{}/{t}/{c}", spec.family)
                }
            })
            .collect();
        assert_eq!(
            specs,
            [
                "every",
                "icmp/*/*",
                "icmpv6/128/*",
                "icmp/echo-request/*",
                "icmp/3/4",
                "icmpv6/destination-unreachable/4"
            ]
        );
        assert!(rule.via.is_some());
        // `icmpx` is not ICMP, and a type needs its `/`.
        assert!(!parse_text("allow a -> b : icmpx\n").diagnostics.is_empty());
        assert!(!parse_text("allow a -> b : icmp 8\n").diagnostics.is_empty());
    }

    #[test]
    fn recovers_at_every_item() {
        let parsed = parse_text(
            "zone a { namespace \"a\" }\nzone b { namespace b }\nallow a -> : 80\nzone c {}\nallow a -> c : 80 80\nallow a -> c : 80\n",
        );
        let codes: Vec<_> = parsed.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(
            codes,
            vec![Code::SyntaxError; 3],
            "{:#?}",
            parsed.diagnostics
        );
        // zone a, zone b (with its bad line dropped), zone c, last rule.
        assert_eq!(parsed.module.items.len(), 4);
    }

    #[test]
    fn unterminated_string_is_named() {
        let parsed = parse_text("zone a { namespace \"shop }\nzone b {}\n");
        assert_eq!(parsed.diagnostics.len(), 1);
        assert_eq!(parsed.diagnostics[0].code, Code::UnterminatedString);
        assert_eq!(parsed.module.items.len(), 2);
    }
}

#[cfg(test)]
mod chunk_tests {
    use super::*;

    fn whole(file: SourceFile, text: &str) -> Module {
        let mut parser = ModuleParser {
            file,
            text,
            offset: 0,
            diagnostics: Vec::new(),
        };
        let Ok(mut pairs) = NplParser::parse(Rule::file, text) else {
            return Module::default();
        };
        pairs
            .next()
            .map(|root| parser.module(root))
            .unwrap_or_default()
    }

    /// Pieces of a file give the tree of the whole file, spans and docs
    /// included, at every cut size; a file that cannot be cut, or a piece
    /// with an error, falls back to one parse.
    #[test]
    fn pieces_parse_like_the_whole_file() {
        let db = crate::db::Database::default();
        // Strings with braces and `#`, a comment with a brace, a tier and a
        // multi-line zone: the cutter must step over all of them.
        let mut texts: Vec<String> = vec![concat!(
            "zone a { namespace \"x{#\" } # {\n",
            "zone b {\n  pods app = \"}\"\n}\n",
            "tier t {\nallow a -> b : 80\n}\n",
            "allow b -> a : 81\n",
        )
        .to_string()];
        texts.extend(
            crate::stdlib::MODULES
                .iter()
                .map(|(_, text)| text.to_string()),
        );
        for example in [
            "homelab/main.npl",
            "homelab/platform.npl",
            "three-tier/main.npl",
            "calico-tiers/main.npl",
            "cks-zero-trust/main.npl",
            "fqdn-egress-gateway/main.npl",
        ] {
            let path = format!("{}/../examples/{example}", env!("CARGO_MANIFEST_DIR"));
            texts.push(std::fs::read_to_string(path).expect("example"));
        }
        // Cut before `zone b`, `tier t` and the last rule, nowhere else.
        assert_eq!(chunk_starts(&texts[0], 1).map(|c| c.len()), Some(4));
        // The same files with Windows line ends.
        let crlf: Vec<String> = texts.iter().map(|t| t.replace('\n', "\r\n")).collect();
        texts.extend(crlf);
        let mut checked = 0;
        for text in &texts {
            let file = SourceFile::new(&db, "t.npl".into(), text.clone());
            let expected = whole(file, text);
            for chunk in [1, 40, 200, 1000] {
                if let Some(module) = parse_in_chunks(file, text, chunk) {
                    assert_eq!(module, expected, "cut every {chunk} bytes:\n{text}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 20, "only {checked} files were cut");
        let broken = "zone a {}\nallow a -> : 80\nzone b {}\nallow b -> a : 80\n";
        let file = SourceFile::new(&db, "t.npl".into(), broken.to_string());
        assert_eq!(parse_in_chunks(file, broken, 1), None);
        let unbalanced = "zone a {\nallow a -> a : 80\nzone b {}\n";
        assert_eq!(chunk_starts(unbalanced, 1), None);
        let in_comment = "zone a { # }\n  namespace \"x\"\n}\nzone b {}\n";
        assert_eq!(chunk_starts(in_comment, 1), Some(vec![0, 31]));
    }
}
