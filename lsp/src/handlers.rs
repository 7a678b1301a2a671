//! Requests answered on a snapshot: LSP parameters in, the IDE layer
//! (`nplc_compiler::ide`) in the middle, LSP results out. Plain functions,
//! run on a blocking thread under salsa's cancellation.

use std::collections::HashMap;

use nplc_compiler::ide::{self, CompletionKind, FoldKind, SymbolKind, TokenKind};
use nplc_compiler::Span;
use tower_lsp::lsp_types::*;

use crate::diagnostics;
use crate::position::LineIndex;
use crate::session::Snapshot;

pub fn hover(snap: &Snapshot, params: &TextDocumentPositionParams) -> Option<Hover> {
    let doc = snap.doc(&params.text_document.uri)?;
    let offset = snap.offset(doc.file, params.position);
    let found = ide::hover(&snap.db, doc.program, doc.file, offset)?;
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: found.markdown,
        }),
        range: Some(snap.range(found.span)),
    })
}

pub fn definition(snap: &Snapshot, params: &TextDocumentPositionParams) -> Option<Location> {
    let doc = snap.doc(&params.text_document.uri)?;
    let offset = snap.offset(doc.file, params.position);
    let nav = ide::definition(&snap.db, doc.program, doc.file, offset)?;
    snap.location(nav.target)
}

pub fn references(snap: &Snapshot, params: &ReferenceParams) -> Vec<Location> {
    let position = &params.text_document_position;
    let Some(doc) = snap.doc(&position.text_document.uri) else {
        return Vec::new();
    };
    let offset = snap.offset(doc.file, position.position);
    ide::references(
        &snap.db,
        doc.program,
        &snap.programs(),
        doc.file,
        offset,
        params.context.include_declaration,
    )
    .into_iter()
    .filter_map(|span| snap.location(span))
    .collect()
}

pub fn prepare_rename(
    snap: &Snapshot,
    params: &TextDocumentPositionParams,
) -> Result<Option<PrepareRenameResponse>, String> {
    let Some(doc) = snap.doc(&params.text_document.uri) else {
        return Ok(None);
    };
    let offset = snap.offset(doc.file, params.position);
    let span = ide::prepare_rename(&snap.db, doc.program, doc.file, offset)?;
    Ok(Some(PrepareRenameResponse::Range(snap.range(span))))
}

pub fn rename(snap: &Snapshot, params: &RenameParams) -> Result<Option<WorkspaceEdit>, String> {
    let position = &params.text_document_position;
    let Some(doc) = snap.doc(&position.text_document.uri) else {
        return Ok(None);
    };
    let offset = snap.offset(doc.file, position.position);
    let edits = ide::rename(
        &snap.db,
        doc.program,
        &snap.programs(),
        doc.file,
        offset,
        &params.new_name,
    )?;
    Ok(Some(workspace_edit(snap, edits)))
}

fn workspace_edit(snap: &Snapshot, edits: Vec<ide::TextEdit>) -> WorkspaceEdit {
    let mut changes: HashMap<Url, Vec<TextEdit>> = HashMap::new();
    for edit in edits {
        if let Some(uri) = snap.uri(edit.span.file) {
            changes.entry(uri).or_default().push(TextEdit {
                range: snap.range(edit.span),
                new_text: edit.text,
            });
        }
    }
    WorkspaceEdit {
        changes: Some(changes),
        ..WorkspaceEdit::default()
    }
}

pub fn completion(snap: &Snapshot, params: &TextDocumentPositionParams) -> Vec<CompletionItem> {
    let Some(doc) = snap.doc(&params.text_document.uri) else {
        return Vec::new();
    };
    let offset = snap.offset(doc.file, params.position);
    let items = ide::completions(&snap.db, doc.program, &snap.programs(), doc.file, offset);
    items
        .into_iter()
        .enumerate()
        .map(|(i, c)| CompletionItem {
            kind: Some(completion_kind(c.kind)),
            detail: c.detail,
            documentation: c.documentation.map(|value| {
                Documentation::MarkupContent(MarkupContent {
                    kind: MarkupKind::Markdown,
                    value,
                })
            }),
            sort_text: Some(format!("{i:04}")),
            filter_text: Some(c.insert.clone()),
            text_edit: Some(CompletionTextEdit::Edit(TextEdit {
                range: snap.range(c.replace),
                new_text: c.insert,
            })),
            label: c.label,
            ..CompletionItem::default()
        })
        .collect()
}

fn completion_kind(kind: CompletionKind) -> CompletionItemKind {
    match kind {
        CompletionKind::Keyword => CompletionItemKind::KEYWORD,
        CompletionKind::Zone => CompletionItemKind::CLASS,
        CompletionKind::External => CompletionItemKind::CONSTANT,
        CompletionKind::Tier => CompletionItemKind::MODULE,
        CompletionKind::Gateway => CompletionItemKind::INTERFACE,
        CompletionKind::Builtin => CompletionItemKind::ENUM_MEMBER,
        CompletionKind::LabelKey => CompletionItemKind::PROPERTY,
        CompletionKind::LabelValue => CompletionItemKind::VALUE,
        CompletionKind::Protocol => CompletionItemKind::UNIT,
        CompletionKind::Port => CompletionItemKind::VALUE,
        CompletionKind::Module => CompletionItemKind::MODULE,
        CompletionKind::File => CompletionItemKind::FILE,
        CompletionKind::Method => CompletionItemKind::METHOD,
    }
}

fn symbol_kind(kind: SymbolKind) -> tower_lsp::lsp_types::SymbolKind {
    use tower_lsp::lsp_types::SymbolKind as K;
    match kind {
        SymbolKind::Import => K::MODULE,
        SymbolKind::Zone => K::CLASS,
        SymbolKind::External => K::CONSTANT,
        SymbolKind::Tier => K::NAMESPACE,
        SymbolKind::Gateway => K::INTERFACE,
        SymbolKind::Rule => K::EVENT,
        SymbolKind::Builtin => K::ENUM_MEMBER,
    }
}

#[allow(deprecated)] // `DocumentSymbol::deprecated` must be written out
fn document_symbol(snap: &Snapshot, symbol: ide::Symbol) -> DocumentSymbol {
    let children: Vec<DocumentSymbol> = symbol
        .children
        .into_iter()
        .map(|c| document_symbol(snap, c))
        .collect();
    DocumentSymbol {
        name: symbol.name,
        detail: symbol.detail,
        kind: symbol_kind(symbol.kind),
        tags: None,
        deprecated: None,
        range: snap.range(symbol.span),
        selection_range: snap.range(symbol.selection),
        children: (!children.is_empty()).then_some(children),
    }
}

pub fn document_symbols(snap: &Snapshot, uri: &Url) -> Vec<DocumentSymbol> {
    let Some(doc) = snap.doc(uri) else {
        return Vec::new();
    };
    let symbols = ide::document_symbols(&snap.db, doc.file);
    let mut out = Vec::with_capacity(symbols.len());
    for (i, symbol) in symbols.into_iter().enumerate() {
        // A newer edit cancels a long outline here (salsa unwinds).
        if i % 512 == 0 {
            salsa::Database::unwind_if_revision_cancelled(&snap.db);
        }
        out.push(document_symbol(snap, symbol));
    }
    out
}

#[allow(deprecated)] // `SymbolInformation::deprecated` must be written out
pub fn workspace_symbols(snap: &Snapshot, query: &str) -> Vec<SymbolInformation> {
    ide::workspace_symbols(&snap.db, &snap.programs(), query)
        .into_iter()
        .filter_map(|s| {
            Some(SymbolInformation {
                location: snap.location(s.selection)?,
                name: s.name,
                kind: symbol_kind(s.kind),
                tags: None,
                deprecated: None,
                container_name: s.detail,
            })
        })
        .collect()
}

pub fn folding_ranges(snap: &Snapshot, uri: &Url) -> Vec<FoldingRange> {
    let Some(doc) = snap.doc(uri) else {
        return Vec::new();
    };
    let text = snap.text(doc.file);
    let index = snap.index(doc.file);
    ide::folding_ranges(&snap.db, doc.file)
        .into_iter()
        .filter_map(|fold| {
            let start_line = index.line(fold.start);
            let mut end_line = index.line(fold.end);
            // Keep a block's closing brace visible.
            if fold.kind == FoldKind::Region
                && text.get(..fold.end).is_some_and(|t| t.ends_with('}'))
            {
                end_line = end_line.saturating_sub(1);
            }
            (end_line > start_line).then_some(FoldingRange {
                start_line,
                start_character: None,
                end_line,
                end_character: None,
                kind: Some(match fold.kind {
                    FoldKind::Region => FoldingRangeKind::Region,
                    FoldKind::Comment => FoldingRangeKind::Comment,
                    FoldKind::Imports => FoldingRangeKind::Imports,
                }),
                collapsed_text: None,
            })
        })
        .collect()
}

/// The legend announced in `initialize`, in `TokenKind::ALL` order.
pub fn semantic_legend() -> SemanticTokensLegend {
    let types = TokenKind::ALL
        .iter()
        .map(|k| match k {
            TokenKind::Keyword => SemanticTokenType::KEYWORD,
            TokenKind::Comment => SemanticTokenType::COMMENT,
            TokenKind::String => SemanticTokenType::STRING,
            TokenKind::Number => SemanticTokenType::NUMBER,
            TokenKind::Operator => SemanticTokenType::OPERATOR,
            TokenKind::Zone => SemanticTokenType::CLASS,
            TokenKind::External => SemanticTokenType::VARIABLE,
            TokenKind::Tier => SemanticTokenType::NAMESPACE,
            TokenKind::Gateway => SemanticTokenType::INTERFACE,
            TokenKind::Builtin => SemanticTokenType::ENUM_MEMBER,
            TokenKind::LabelKey => SemanticTokenType::PROPERTY,
            TokenKind::Protocol => SemanticTokenType::TYPE,
        })
        .collect();
    SemanticTokensLegend {
        token_types: types,
        token_modifiers: ide::modifiers::NAMES
            .iter()
            .map(|m| SemanticTokenModifier::new(m))
            .collect(),
    }
}

/// The semantic tokens of a document, or of the tokens that start in
/// `range` (`textDocument/semanticTokens/range`).
pub fn semantic_tokens(snap: &Snapshot, uri: &Url, range: Option<Range>) -> Option<SemanticTokens> {
    let doc = snap.doc(uri)?;
    let index = snap.index(doc.file);
    let (from, to) = range.map_or((0, usize::MAX), |r| index.offsets(r));
    let mut data = Vec::new();
    let (mut line, mut column) = (0, 0);
    for token in ide::semantic_tokens(&snap.db, doc.program, doc.file) {
        if token.start < from || token.start > to {
            continue;
        }
        let start = index.position(token.start);
        let end = index.position(token.end);
        if end.line != start.line || end.character <= start.character {
            continue;
        }
        let delta_line = start.line - line;
        let delta_start = if delta_line == 0 {
            start.character - column
        } else {
            start.character
        };
        data.push(SemanticToken {
            delta_line,
            delta_start,
            length: end.character - start.character,
            token_type: token.kind.index(),
            token_modifiers_bitset: token.modifiers,
        });
        line = start.line;
        column = start.character;
    }
    Some(SemanticTokens {
        result_id: None,
        data,
    })
}

/// Every occurrence of the name under the cursor in its document.
pub fn document_highlights(
    snap: &Snapshot,
    params: &TextDocumentPositionParams,
) -> Vec<DocumentHighlight> {
    let Some(doc) = snap.doc(&params.text_document.uri) else {
        return Vec::new();
    };
    let offset = snap.offset(doc.file, params.position);
    ide::highlights(&snap.db, doc.program, doc.file, offset)
        .into_iter()
        .map(|h| DocumentHighlight {
            range: snap.range(h.span),
            kind: Some(if h.definition {
                DocumentHighlightKind::WRITE
            } else {
                DocumentHighlightKind::READ
            }),
        })
        .collect()
}

/// A link on every `import` path that names a file (or a standard library
/// module) that loads.
pub fn document_links(snap: &Snapshot, uri: &Url) -> Vec<DocumentLink> {
    use nplc_compiler::Db as _;
    let Some(doc) = snap.doc(uri) else {
        return Vec::new();
    };
    ide::imports_of(&snap.db, doc.file)
        .into_iter()
        .filter_map(|(span, path)| {
            let target = snap.db.load_import(doc.file, &path).ok()?;
            Some(DocumentLink {
                range: snap.range(span),
                target: Some(snap.uri(target)?),
                tooltip: Some(format!("open {path}")),
                data: None,
            })
        })
        .collect()
}

/// Inlay hints in a range: a zone's namespace, a gateway's pod port.
pub fn inlay_hints(snap: &Snapshot, params: &InlayHintParams) -> Vec<InlayHint> {
    let Some(doc) = snap.doc(&params.text_document.uri) else {
        return Vec::new();
    };
    let index = snap.index(doc.file);
    let (start, end) = index.offsets(params.range);
    ide::inlay_hints(&snap.db, doc.program, doc.file, start, end)
        .into_iter()
        .map(|hint| InlayHint {
            position: index.position(hint.offset),
            label: InlayHintLabel::String(hint.label),
            kind: None,
            text_edits: None,
            tooltip: Some(InlayHintTooltip::String(hint.tooltip)),
            padding_left: Some(true),
            padding_right: None,
            data: None,
        })
        .collect()
}

/// Quick fixes for the diagnostics in `range` that have a known fix.
pub fn code_actions(snap: &Snapshot, params: &CodeActionParams) -> Vec<CodeActionOrCommand> {
    let Some(doc) = snap.doc(&params.text_document.uri) else {
        return Vec::new();
    };
    let index = snap.index(doc.file);
    let (start, end) = index.offsets(params.range);
    let diags = diagnostics::by_file(snap, &[]);
    let mut out = Vec::new();
    for diag in diags.get(&doc.file).into_iter().flatten() {
        let span: Span = diag.span;
        if (span.end as usize) < start || (span.start as usize) > end {
            continue;
        }
        for fix in ide::fixes(&snap.db, diag) {
            out.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: fix.title,
                kind: Some(CodeActionKind::QUICKFIX),
                diagnostics: Some(vec![diagnostics::to_lsp(snap, diag)]),
                edit: Some(workspace_edit(snap, fix.edits)),
                is_preferred: Some(fix.preferred),
                ..CodeAction::default()
            }));
        }
    }
    out
}

/// `nplc fmt` for the editor: one edit replacing the whole text, none when
/// it is already formatted. A file with syntax errors is left alone (its
/// diagnostics say why); an internal formatter error is returned.
pub fn formatting(snap: &Snapshot, uri: &Url) -> Result<Option<Vec<TextEdit>>, String> {
    let Some(doc) = snap.doc(uri) else {
        return Ok(None);
    };
    if doc.std {
        return Ok(None);
    }
    let text = snap.text(doc.file);
    match nplc_compiler::formatter::format_source(text) {
        Ok(formatted) if formatted == text => Ok(Some(Vec::new())),
        Ok(formatted) => Ok(Some(vec![TextEdit {
            range: LineIndex::new(text).range(0, text.len()),
            new_text: formatted,
        }])),
        Err(nplc_compiler::formatter::FormatError::Syntax(_)) => Ok(None),
        Err(err) => Err(err.to_string()),
    }
}

/// The text of a standard library module, for `nplc-std:` documents.
pub fn stdlib_source(uri: &Url) -> Option<String> {
    let module = crate::stdlib_files::std_module(uri)?;
    nplc_compiler::stdlib::source(&module).map(str::to_string)
}
