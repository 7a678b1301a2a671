//! The one module that writes YAML (serde_yaml). Output is deterministic:
//! keys come out sorted. The backends' typed documents are serialised
//! directly, without a `serde_json::Value` in between, so their structs
//! declare fields in the order of their serialised names (as k8s-openapi's
//! do); `serde_json::Value` objects are ordered maps and sort by themselves.
//!
//! Every reader must read the output the same. serde_yaml quotes the strings
//! that YAML 1.2 would read as something else (`'80'`, `'true'`), but leaves
//! plain the strings that only YAML 1.1 readers (PyYAML, Go's yaml.v2, tools
//! built on them) read as numbers, booleans, nulls or dates: `22:23` (a
//! base-60 integer), `on`, `no`, `y`, `1_000`, `0b1`, `2001-12-14`, ... Those
//! are single-quoted here after serialisation; see [`needs_quotes`].

use super::Resource;

/// A typed document as YAML. The backends' serde structs have string keys
/// and no fallible serializers, so this does not fail; if it did, the
/// document says so rather than vanish.
pub fn render<T: serde::Serialize + ?Sized>(document: &T) -> String {
    match serde_yaml::to_string(document) {
        Ok(text) => quote_owned(text),
        Err(e) => format!("# nplc could not serialise this resource: {e}\n"),
    }
}

/// All resources as one stream, `---` between documents.
pub fn stream(resources: &[Resource]) -> String {
    let mut out = String::with_capacity(resources.iter().map(|r| r.document.len() + 4).sum());
    for (i, resource) in resources.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&resource.document);
    }
    out
}

/// A `kustomization.yaml` listing `files`, so `kubectl apply -k`, Argo CD and
/// Flux take the directory as is.
pub fn kustomization(files: &[String]) -> String {
    let value = serde_json::json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "metadata": { "annotations": { "config.kubernetes.io/local-config": "true" } },
        "resources": files,
    });
    serde_yaml::to_string(&value)
        .map(quote_owned)
        .unwrap_or_default()
}

/// serde_yaml's block output with every plain scalar that [`needs_quotes`]
/// single-quoted. The output has one scalar per line at most twice (a key and
/// its value, after any `- `), no line folding (serde_yaml writes lines of any
/// width) and block scalars (`|-`) only for strings with line breaks, whose
/// content lines are copied as they are.
pub fn quote_ambiguous(yaml: &str) -> String {
    rewrite(yaml).unwrap_or_else(|| yaml.to_string())
}

/// [`quote_ambiguous`] taking the text: unchanged (not copied) when no
/// scalar needs quotes, the common case.
fn quote_owned(yaml: String) -> String {
    rewrite(&yaml).unwrap_or(yaml)
}

/// One pass over `yaml`: `None` when no line changes, else the text with
/// the lines that change rewritten and the others copied in runs.
fn rewrite(yaml: &str) -> Option<String> {
    let mut out: Option<String> = None;
    // `yaml[..copied]` is in `out` already.
    let mut copied = 0;
    let mut line_start = 0;
    // Inside a block scalar: lines indented deeper than this are content.
    let mut block_indent: Option<usize> = None;
    for line in yaml.split_inclusive('\n') {
        let start = line_start;
        line_start += line.len();
        let body = line.strip_suffix('\n').unwrap_or(line);
        let indent = body.len() - body.trim_start_matches(' ').len();
        if let Some(parent) = block_indent {
            if body.trim().is_empty() || indent > parent {
                continue;
            }
            block_indent = None;
        }
        let parsed = Line::parse(body, indent);
        if let Some(parent) = parsed.opens_block {
            block_indent = Some(parent);
        }
        if !parsed.changes() {
            continue;
        }
        let text = out.get_or_insert_with(|| String::with_capacity(yaml.len() + 16));
        text.push_str(&yaml[copied..start]);
        parsed.write(text);
        copied = start + body.len();
    }
    out.map(|mut text| {
        text.push_str(&yaml[copied..]);
        text
    })
}

/// One line: `indent`, any `- `, then a scalar, optionally `: ` and a
/// second scalar.
struct Line<'a> {
    /// The indent and the `- `s.
    lead: &'a str,
    first: &'a str,
    /// After `first`: `Some(second scalar, what follows it)` on a `key:`
    /// line (both empty when no value follows), `None` otherwise.
    value: Option<(&'a str, &'a str)>,
    /// What follows `first` on a line without `: `.
    after: &'a str,
    /// `key: ` with nothing after the space: written `key:`.
    bare_colon_space: bool,
    /// When a block scalar starts: the column its content must be indented
    /// past (the key's column, or the last `- `'s for a sequence item).
    opens_block: Option<usize>,
}

impl<'a> Line<'a> {
    fn parse(line: &'a str, indent: usize) -> Line<'a> {
        let mut rest = &line[indent..];
        let mut dashes = 0;
        while let Some(after) = rest.strip_prefix("- ") {
            rest = after;
            dashes += 1;
        }
        let lead = &line[..line.len() - rest.len()];
        let key_column = indent + 2 * dashes;
        let (first, after) = scalar(rest);
        if let Some(value) = after
            .strip_prefix(": ")
            .or_else(|| (after == ":").then_some(""))
        {
            let (second, tail) = scalar(value);
            return Line {
                lead,
                first,
                value: Some((second, tail)),
                after: "",
                bare_colon_space: after == ": ",
                opens_block: second.starts_with(['|', '>']).then_some(key_column),
            };
        }
        let item_column = indent + 2 * dashes.max(1) - 2;
        Line {
            lead,
            first,
            value: None,
            after,
            bare_colon_space: false,
            opens_block: first.starts_with(['|', '>']).then_some(item_column),
        }
    }

    /// Whether [`Line::write`] writes anything but the line as it was.
    fn changes(&self) -> bool {
        self.bare_colon_space
            || needs_quotes(self.first)
            || self.value.is_some_and(|(second, _)| needs_quotes(second))
    }

    fn write(&self, out: &mut String) {
        out.push_str(self.lead);
        push_quoted(out, self.first);
        match self.value {
            Some(("", "")) => out.push(':'),
            Some((second, tail)) => {
                out.push_str(": ");
                push_quoted(out, second);
                out.push_str(tail);
            }
            None => out.push_str(self.after),
        }
    }
}

/// The scalar token at the start of `text` (quoted, or plain up to `: ` or
/// a final `:`), and what follows it.
fn scalar(text: &str) -> (&str, &str) {
    let bytes = text.as_bytes();
    let end = match bytes.first() {
        Some(b'\'') => {
            let mut i = 1;
            loop {
                match bytes.get(i) {
                    Some(b'\'') if bytes.get(i + 1) == Some(&b'\'') => i += 2,
                    Some(b'\'') => break i + 1,
                    Some(_) => i += 1,
                    None => break bytes.len(),
                }
            }
        }
        Some(b'"') => {
            let mut i = 1;
            loop {
                match bytes.get(i) {
                    Some(b'\\') => i += 2,
                    Some(b'"') => break i + 1,
                    Some(_) => i += 1,
                    None => break bytes.len(),
                }
            }
        }
        _ => text.find(": ").unwrap_or(if text.ends_with(':') {
            text.len() - 1
        } else {
            text.len()
        }),
    };
    let end = end.min(text.len());
    (&text[..end], &text[end..])
}

/// `token` as written, or single-quoted when it is a plain string that a
/// YAML 1.1 reader would read as something else.
fn push_quoted(out: &mut String, token: &str) {
    if needs_quotes(token) {
        out.push('\'');
        for piece in token.split_inclusive('\'') {
            out.push_str(piece);
            if piece.ends_with('\'') {
                out.push('\'');
            }
        }
        out.push('\'');
    } else {
        out.push_str(token);
    }
}

/// Whether a plain scalar is a string to serde_yaml (YAML 1.2: it quotes
/// every string that reads otherwise, so a plain number, boolean or null
/// stays as it is) but may be something else to a YAML 1.1 reader. The test
/// is a superset of YAML 1.1's resolvers: quoting a string never changes
/// what it reads as.
pub fn needs_quotes(token: &str) -> bool {
    if token.is_empty() || token.starts_with(['\'', '"', '|', '>', '[', '{', '&', '*', '!']) {
        return false;
    }
    // Digits alone are an integer to every reader (serde_yaml writes a
    // string of digits quoted): the common case, without a parse.
    if token.bytes().all(|b| b.is_ascii_digit()) || !looks_special_in_yaml_1_1(token) {
        return false;
    }
    matches!(
        serde_yaml::from_str::<serde_yaml::Value>(token),
        Ok(serde_yaml::Value::String(_))
    )
}

fn looks_special_in_yaml_1_1(token: &str) -> bool {
    // Booleans (y/n are YAML 1.1's, read by Go's yaml.v2), nulls, the merge
    // key and the value key; compared without a lowercase copy, since this
    // runs for every scalar of every document.
    const WORDS: [&str; 12] = [
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "<<", "=",
    ];
    if WORDS.iter().any(|w| token.eq_ignore_ascii_case(w)) {
        return true;
    }
    // .inf, .nan and their signed forms.
    let unsigned = token.trim_start_matches(['+', '-']);
    if unsigned.eq_ignore_ascii_case(".inf") || unsigned.eq_ignore_ascii_case(".nan") {
        return true;
    }
    // Numbers in every YAML 1.1 form: underscores, base 2, 8, 16 and 60,
    // floats without digits before the point; and dates (digits, `-`, `:`,
    // `.`, `t`, `z`, spaces). Anything starting like a number is quoted.
    let body = token.strip_prefix(['+', '-']).unwrap_or(token);
    let starts_numeric = body.starts_with(|c: char| c.is_ascii_digit())
        || (body.starts_with('.') && body[1..].starts_with(|c: char| c.is_ascii_digit()));
    starts_numeric
        && body.chars().all(|c| {
            c.is_ascii_hexdigit()
                || matches!(
                    c,
                    '_' | '.'
                        | ':'
                        | '+'
                        | '-'
                        | 'x'
                        | 'X'
                        | 'o'
                        | 'O'
                        | 't'
                        | 'T'
                        | 'z'
                        | 'Z'
                        | ' '
                )
        })
}

/// For the backends' tests: `document` written straight from its struct
/// reads the same as written from a `serde_json::Value`, whose keys are
/// sorted; so every struct declares its fields in serialised-name order.
#[cfg(test)]
pub(crate) fn assert_fields_sorted<T: serde::Serialize>(document: &T) {
    let value = serde_json::to_value(document).unwrap_or_default();
    assert_eq!(render(document), render(&value));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(value: serde_json::Value) -> String {
        quote_ambiguous(&serde_yaml::to_string(&value).unwrap_or_default())
    }

    #[test]
    fn quotes_what_yaml_1_1_reads_otherwise() {
        let out = yaml(serde_json::json!({
            "ports": ["22:23", 80, "http", "0755", "1_000"],
            "labels": {"on": "yes", "a": "y", "b": "NO", "c": "2001-12-14", "d": "0b101",
                       "e": "true", "f": "", "g": ".5", "h": "1e3", "i": "web"},
            "flag": true,
            "none": null,
        }));
        assert_eq!(
            out,
            "flag: true\nlabels:\n  a: 'y'\n  b: 'NO'\n  c: '2001-12-14'\n  d: '0b101'\n  e: 'true'\n  f: ''\n  g: '.5'\n  h: '1e3'\n  i: web\n  'on': 'yes'\nnone: null\nports:\n- '22:23'\n- 80\n- http\n- '0755'\n- '1_000'\n"
        );
    }

    #[test]
    fn leaves_block_scalars_and_quoted_text_alone() {
        let out = yaml(serde_json::json!({"a": "on\nno: off", "b": ["it's: on", "x"]}));
        let back: serde_json::Value = serde_yaml::from_str(&out).unwrap_or_default();
        assert_eq!(
            back,
            serde_json::json!({"a": "on\nno: off", "b": ["it's: on", "x"]})
        );
        assert!(out.contains("  on\n  no: off\n"), "{out}");
    }

    #[test]
    fn a_key_after_a_block_scalar_in_a_sequence_item_is_quoted() {
        let out = yaml(serde_json::json!([{"a": "x\ny", "b": "on"}, "|", "z"]));
        assert!(out.contains("  b: 'on'\n"), "{out}");
        let back: serde_json::Value = serde_yaml::from_str(&out).unwrap_or_default();
        assert_eq!(
            back,
            serde_json::json!([{"a": "x\ny", "b": "on"}, "|", "z"])
        );
    }

    #[test]
    fn reads_back_the_same() {
        for token in [
            "22:23",
            "on",
            "~",
            "y",
            "1:2:3",
            "-1_0",
            "0x1F",
            "2001-12-14 21:59:43.10 -5",
            "a:b",
            "a'b",
        ] {
            let value = serde_json::json!({ token: [token, {token: token}] });
            let back: serde_json::Value =
                serde_yaml::from_str(&yaml(value.clone())).unwrap_or_default();
            assert_eq!(back, value, "{token}");
        }
    }
}
