//! The tower-lsp backend. Thin: notifications update the session, requests
//! run a function of `handlers` on a snapshot.
//!
//! **Ordering.** tower-lsp may run several handlers concurrently, but it
//! first polls them in arrival order, and a handler runs synchronously up to
//! its first `.await`. So every `didOpen` / `didChange` / `didClose` applies
//! its edit to the session at the very top of its handler, before any
//! `.await`: edits are applied exactly in the order they were sent.
//!
//! **Cancellation.** A request takes a snapshot (a clone of the database) on a
//! blocking thread, computes under `salsa::Cancelled::catch`, and drops the
//! snapshot on that thread: no snapshot lives across an `.await`. Writing an
//! input cancels the snapshots in flight (salsa waits for them to drop); a
//! cancelled request is retried on a fresh snapshot a few times, then answered
//! with `ContentModified`. Diagnostics runs are not retried past a newer edit:
//! each edit schedules a run, and a run publishes only if no edit came after
//! its snapshot.
//!
//! **Target checks.** A diagnostics run publishes syntax, name and check
//! diagnostics at once, then hands the texts to the target checker
//! ([`crate::checks`]), which builds in a database of its own; each
//! target's result, if no edit came since, is published with the fast
//! diagnostics and kept (per target) for the files whose text it was
//! computed on, under a `$/progress` while the builds run (when the client
//! supports it).
//!
//! **Workspace.** After `initialized`, the server registers for `.npl` file
//! events (when the client allows dynamic registration) and indexes the
//! root folders' files in the background ([`crate::workspace`]).

use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use nplc_compiler::emit::Target;
use serde::Deserialize;
use tower_lsp::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp::lsp_types::*;
use tower_lsp::{Client, LanguageServer};

use crate::checks::{self, Checker, Report};
use crate::diagnostics::{self, Carried};
use crate::handlers;
use crate::session::{Session, Snapshot};

/// How many times a cancelled request is retried on a fresh snapshot.
const RETRIES: usize = 3;

pub struct Backend {
    client: Client,
    shared: Arc<Shared>,
}

struct Shared {
    session: Mutex<Session>,
    /// A diagnostics run is scheduled and has not taken its snapshot yet.
    scheduled: AtomicBool,
    /// URIs with diagnostics published last time (to clear them later);
    /// also serialises publishing, so an older run never overwrites a newer one.
    published: tokio::sync::Mutex<BTreeSet<Url>>,
    /// Per target, the diagnostics of its last finished check.
    carried: Mutex<BTreeMap<Target, Carried>>,
    checker: Checker,
    /// The checker's reports, until `initialize` starts their consumer.
    reports: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<Report>>>,
    /// The client accepts `window/workDoneProgress/create`.
    progress: AtomicBool,
    /// The client lets the server register for watched files.
    watch_files: AtomicBool,
}

impl Shared {
    fn session(&self) -> MutexGuard<'_, Session> {
        self.session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on a fresh snapshot under salsa cancellation, retrying.
    /// Call on a blocking thread.
    fn with_snapshot<T>(&self, f: impl Fn(&Snapshot) -> T) -> Option<T> {
        for _ in 0..RETRIES {
            let snapshot = self.session().snapshot();
            if let Ok(value) = salsa::Cancelled::catch(AssertUnwindSafe(|| f(&snapshot))) {
                return Some(value);
            }
        }
        None
    }
}

/// A handle on the server's state, for tests: what text the server has.
#[derive(Clone)]
pub struct Inspector {
    shared: Arc<Shared>,
}

impl Inspector {
    pub fn text(&self, uri: &Url) -> Option<String> {
        self.shared.session().text(uri)
    }

    /// How many workspace files the server has indexed.
    pub fn indexed(&self) -> usize {
        self.shared.session().indexed_len()
    }
}

#[derive(Debug, Deserialize)]
pub struct StdlibSourceParams {
    pub uri: Url,
}

impl Backend {
    pub fn new(client: Client) -> Backend {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let checker = Checker::start(move |report| {
            let _ = tx.send(report);
        });
        Backend {
            client,
            shared: Arc::new(Shared {
                session: Mutex::new(Session::default()),
                scheduled: AtomicBool::new(false),
                published: tokio::sync::Mutex::new(BTreeSet::new()),
                carried: Mutex::new(BTreeMap::new()),
                checker,
                reports: Mutex::new(Some(rx)),
                progress: AtomicBool::new(false),
                watch_files: AtomicBool::new(false),
            }),
        }
    }

    /// Consumes the target checker's reports in order: progress, and the
    /// publication of each target's result.
    fn start_reports(&self) {
        let taken = self
            .shared
            .reports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some(mut reports) = taken else { return };
        let shared = self.shared.clone();
        let client = self.client.clone();
        tokio::spawn(async move {
            let mut progress: Option<NumberOrString> = None;
            while let Some(report) = reports.recv().await {
                match report {
                    Report::Started { revision, targets } => {
                        end_progress(&client, progress.take()).await;
                        // Results of targets no longer configured go.
                        let dropped = {
                            let mut carried =
                                shared.carried.lock().unwrap_or_else(|p| p.into_inner());
                            let before = carried.len();
                            carried.retain(|target, _| targets.contains(target));
                            carried.len() != before
                        };
                        if dropped {
                            publish(&shared, &client, false).await;
                        }
                        if !targets.is_empty() && shared.progress.load(Ordering::SeqCst) {
                            progress = begin_progress(&client, revision, targets.len()).await;
                        }
                    }
                    Report::Cancelled { .. } | Report::Finished { .. } => {
                        end_progress(&client, progress.take()).await
                    }
                    Report::Found {
                        revision,
                        target,
                        found,
                    } => {
                        let worker = shared.clone();
                        let mapped = tokio::task::spawn_blocking(move || {
                            worker.with_snapshot(|snap| {
                                (snap.revision == revision)
                                    .then(|| checks::carried(snap, found.clone()))
                            })
                        })
                        .await;
                        if let Ok(Some(Some(carried))) = mapped {
                            shared
                                .carried
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(target, carried);
                            publish(&shared, &client, false).await;
                        }
                    }
                }
            }
        });
    }

    pub fn inspector(&self) -> Inspector {
        Inspector {
            shared: self.shared.clone(),
        }
    }

    /// Runs a request on a snapshot on a blocking thread.
    async fn run<T: Send + 'static>(
        &self,
        f: impl Fn(&Snapshot) -> T + Send + 'static,
    ) -> Result<T> {
        let shared = self.shared.clone();
        match tokio::task::spawn_blocking(move || shared.with_snapshot(f)).await {
            Ok(Some(value)) => Ok(value),
            Ok(None) => Err(Error {
                code: ErrorCode::ServerError(-32801), // ContentModified
                message: "the document changed while the request ran".into(),
                data: None,
            }),
            Err(_) => Err(Error::internal_error()),
        }
    }

    /// Applies an edit to the session now (synchronously), then schedules
    /// diagnostics for every open document.
    fn edit(&self, apply: impl FnOnce(&mut Session)) {
        apply(&mut self.shared.session());
        self.schedule_diagnostics();
    }

    fn schedule_diagnostics(&self) {
        if self.shared.scheduled.swap(true, Ordering::SeqCst) {
            return; // the scheduled run has not started: it will see this edit
        }
        let shared = self.shared.clone();
        let client = self.client.clone();
        tokio::spawn(async move { publish(&shared, &client, true).await });
    }

    /// `nplc/stdlibSource`: the text of a `nplc-std:` document, for clients
    /// that open one (after go-to-definition into the standard library).
    pub async fn stdlib_source(&self, params: StdlibSourceParams) -> Result<String> {
        handlers::stdlib_source(&params.uri).ok_or_else(|| {
            Error::invalid_params(format!("no standard library module at {}", params.uri))
        })
    }

    async fn warn_unknown_targets(&self, unknown: Vec<String>) {
        if !unknown.is_empty() {
            let known: Vec<&str> = nplc_compiler::emit::Target::ALL
                .iter()
                .map(|t| t.as_str())
                .collect();
            self.client
                .show_message(
                    MessageType::WARNING,
                    format!(
                        "nplc.targets: unknown target {}; the targets are {}",
                        unknown.join(", "),
                        known.join(", ")
                    ),
                )
                .await;
        }
    }
}

/// Computes and publishes the diagnostics of the current revision (with the
/// carried target diagnostics); after an edit (`check_targets`), hands the
/// texts to the target checker. Publishes nothing if an edit came after
/// its snapshot.
async fn publish(shared: &Arc<Shared>, client: &Client, check_targets: bool) {
    let worker = shared.clone();
    let computed = tokio::task::spawn_blocking(move || {
        if check_targets {
            worker.scheduled.store(false, Ordering::SeqCst);
        }
        let carried: Vec<Carried> = worker
            .carried
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        worker.with_snapshot(|snap| {
            let job = check_targets.then(|| checks::job(snap));
            (snap.revision, diagnostics::to_publish(snap, &carried), job)
        })
    })
    .await;
    let Ok(Some((revision, publish, job))) = computed else {
        return; // cancelled by newer edits, which scheduled their own run
    };
    let mut published = shared.published.lock().await;
    if shared.session().revision() != revision {
        return;
    }
    if let Some(job) = job {
        shared.checker.submit(job);
    }
    let stale: Vec<Url> = published
        .iter()
        .filter(|uri| !publish.contains_key(*uri))
        .cloned()
        .collect();
    for uri in stale {
        client.publish_diagnostics(uri, Vec::new(), None).await;
    }
    published.clear();
    for (uri, (version, diags)) in publish {
        published.insert(uri.clone());
        client.publish_diagnostics(uri, diags, version).await;
    }
}

async fn begin_progress(client: &Client, revision: u64, targets: usize) -> Option<NumberOrString> {
    let token = NumberOrString::String(format!("nplc/targets/{revision}"));
    let create =
        client.send_request::<request::WorkDoneProgressCreate>(WorkDoneProgressCreateParams {
            token: token.clone(),
        });
    match tokio::time::timeout(std::time::Duration::from_secs(2), create).await {
        Ok(Ok(())) => {}
        _ => return None,
    }
    let begin = WorkDoneProgressBegin {
        title: "nplc: target checks".to_string(),
        cancellable: Some(false),
        message: Some(format!(
            "building for {targets} target{}",
            if targets == 1 { "" } else { "s" }
        )),
        percentage: None,
    };
    client
        .send_notification::<notification::Progress>(ProgressParams {
            token: token.clone(),
            value: ProgressParamsValue::WorkDone(WorkDoneProgress::Begin(begin)),
        })
        .await;
    Some(token)
}

async fn end_progress(client: &Client, token: Option<NumberOrString>) {
    if let Some(token) = token {
        client
            .send_notification::<notification::Progress>(ProgressParams {
                token,
                value: ProgressParamsValue::WorkDone(WorkDoneProgress::End(WorkDoneProgressEnd {
                    message: None,
                })),
            })
            .await;
    }
}

fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(PositionEncodingKind::UTF16),
        text_document_sync: Some(TextDocumentSyncCapability::Options(
            TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::INCREMENTAL),
                ..TextDocumentSyncOptions::default()
            },
        )),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: WorkDoneProgressOptions::default(),
        })),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(
                ["\"", "/", ":", ">", "{", ",", "="]
                    .iter()
                    .map(|c| c.to_string())
                    .collect(),
            ),
            ..CompletionOptions::default()
        }),
        document_symbol_provider: Some(OneOf::Left(true)),
        workspace_symbol_provider: Some(OneOf::Left(true)),
        folding_range_provider: Some(FoldingRangeProviderCapability::Simple(true)),
        semantic_tokens_provider: Some(SemanticTokensServerCapabilities::SemanticTokensOptions(
            SemanticTokensOptions {
                legend: handlers::semantic_legend(),
                full: Some(SemanticTokensFullOptions::Bool(true)),
                range: Some(true),
                work_done_progress_options: WorkDoneProgressOptions::default(),
            },
        )),
        document_highlight_provider: Some(OneOf::Left(true)),
        document_link_provider: Some(DocumentLinkOptions {
            resolve_provider: Some(false),
            work_done_progress_options: WorkDoneProgressOptions::default(),
        }),
        inlay_hint_provider: Some(OneOf::Left(true)),
        workspace: Some(WorkspaceServerCapabilities {
            workspace_folders: Some(WorkspaceFoldersServerCapabilities {
                supported: Some(true),
                change_notifications: Some(OneOf::Left(true)),
            }),
            file_operations: None,
        }),
        execute_command_provider: Some(ExecuteCommandOptions {
            commands: crate::commands::ALL.iter().map(|c| c.to_string()).collect(),
            work_done_progress_options: WorkDoneProgressOptions::default(),
        }),
        document_formatting_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
            ..CodeActionOptions::default()
        })),
        ..ServerCapabilities::default()
    }
}

#[tower_lsp::async_trait]
impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let progress = params
            .capabilities
            .window
            .as_ref()
            .and_then(|w| w.work_done_progress)
            .unwrap_or(false);
        self.shared.progress.store(progress, Ordering::SeqCst);
        let watch_files = params
            .capabilities
            .workspace
            .as_ref()
            .and_then(|w| w.did_change_watched_files.as_ref())
            .and_then(|w| w.dynamic_registration)
            .unwrap_or(false);
        self.shared.watch_files.store(watch_files, Ordering::SeqCst);
        self.shared
            .session()
            .set_roots(crate::workspace::roots(&params));
        self.start_reports();
        let unknown = match &params.initialization_options {
            Some(options) => self.shared.session().config_mut().update(options),
            None => Vec::new(),
        };
        self.warn_unknown_targets(unknown).await;
        Ok(InitializeResult {
            capabilities: capabilities(),
            server_info: Some(ServerInfo {
                name: "nplc".to_string(),
                version: Some(env!("CARGO_PKG_VERSION").to_string()),
            }),
        })
    }

    /// Registers for `.npl` file events (when the client allows it) and
    /// indexes the workspace's files, in the background.
    async fn initialized(&self, _: InitializedParams) {
        let shared = self.shared.clone();
        let client = self.client.clone();
        tokio::spawn(async move {
            if shared.watch_files.load(Ordering::SeqCst) {
                let options = DidChangeWatchedFilesRegistrationOptions {
                    watchers: vec![FileSystemWatcher {
                        glob_pattern: GlobPattern::String("**/*.npl".to_string()),
                        kind: None,
                    }],
                };
                let registration = Registration {
                    id: "nplc/watched-files".to_string(),
                    method: "workspace/didChangeWatchedFiles".to_string(),
                    register_options: serde_json::to_value(options).ok(),
                };
                let _ = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    client.register_capability(vec![registration]),
                )
                .await;
            }
            let roots = shared.session().roots().to_vec();
            if roots.is_empty() {
                return;
            }
            let Ok(files) =
                tokio::task::spawn_blocking(move || crate::workspace::scan(&roots)).await
            else {
                return;
            };
            shared.session().index(files);
            publish(&shared, &client, true).await;
        });
    }

    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let doc = params.text_document;
        self.edit(|s| s.open(doc.uri, doc.text, doc.version));
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let doc = params.text_document;
        self.edit(|s| s.change(&doc.uri, doc.version, params.content_changes));
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        self.edit(|s| s.close(&params.text_document.uri));
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        self.edit(|s| {
            for change in &params.changes {
                s.file_changed_on_disk(&change.uri);
            }
        });
    }

    async fn did_change_workspace_folders(&self, params: DidChangeWorkspaceFoldersParams) {
        let paths = |folders: &[WorkspaceFolder]| -> Vec<std::path::PathBuf> {
            folders
                .iter()
                .filter_map(|f| f.uri.to_file_path().ok())
                .collect()
        };
        let added = paths(&params.event.added);
        let removed = paths(&params.event.removed);
        self.edit(|s| s.change_roots(&added, &removed));
        if added.is_empty() {
            return;
        }
        let shared = self.shared.clone();
        let client = self.client.clone();
        tokio::spawn(async move {
            let Ok(files) =
                tokio::task::spawn_blocking(move || crate::workspace::scan(&added)).await
            else {
                return;
            };
            shared.session().index(files);
            publish(&shared, &client, true).await;
        });
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        let mut unknown = Vec::new();
        self.edit(|s| unknown = s.config_mut().update(&params.settings));
        self.warn_unknown_targets(unknown).await;
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        let at = params.text_document_position_params;
        self.run(move |snap| handlers::hover(snap, &at)).await
    }

    async fn goto_definition(
        &self,
        params: GotoDefinitionParams,
    ) -> Result<Option<GotoDefinitionResponse>> {
        let at = params.text_document_position_params;
        let found = self
            .run(move |snap| handlers::definition(snap, &at))
            .await?;
        Ok(found.map(GotoDefinitionResponse::Scalar))
    }

    async fn references(&self, params: ReferenceParams) -> Result<Option<Vec<Location>>> {
        Ok(Some(
            self.run(move |snap| handlers::references(snap, &params))
                .await?,
        ))
    }

    async fn prepare_rename(
        &self,
        params: TextDocumentPositionParams,
    ) -> Result<Option<PrepareRenameResponse>> {
        self.run(move |snap| handlers::prepare_rename(snap, &params))
            .await?
            .map_err(Error::invalid_params)
    }

    async fn rename(&self, params: RenameParams) -> Result<Option<WorkspaceEdit>> {
        self.run(move |snap| handlers::rename(snap, &params))
            .await?
            .map_err(Error::invalid_params)
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        let at = params.text_document_position;
        let items = self
            .run(move |snap| handlers::completion(snap, &at))
            .await?;
        Ok(Some(CompletionResponse::Array(items)))
    }

    async fn document_symbol(
        &self,
        params: DocumentSymbolParams,
    ) -> Result<Option<DocumentSymbolResponse>> {
        let uri = params.text_document.uri;
        let symbols = self
            .run(move |snap| handlers::document_symbols(snap, &uri))
            .await?;
        Ok(Some(DocumentSymbolResponse::Nested(symbols)))
    }

    async fn symbol(
        &self,
        params: WorkspaceSymbolParams,
    ) -> Result<Option<Vec<SymbolInformation>>> {
        let query = params.query;
        Ok(Some(
            self.run(move |snap| handlers::workspace_symbols(snap, &query))
                .await?,
        ))
    }

    async fn folding_range(&self, params: FoldingRangeParams) -> Result<Option<Vec<FoldingRange>>> {
        let uri = params.text_document.uri;
        Ok(Some(
            self.run(move |snap| handlers::folding_ranges(snap, &uri))
                .await?,
        ))
    }

    async fn semantic_tokens_full(
        &self,
        params: SemanticTokensParams,
    ) -> Result<Option<SemanticTokensResult>> {
        let uri = params.text_document.uri;
        let tokens = self
            .run(move |snap| handlers::semantic_tokens(snap, &uri, None))
            .await?;
        Ok(tokens.map(SemanticTokensResult::Tokens))
    }

    async fn semantic_tokens_range(
        &self,
        params: SemanticTokensRangeParams,
    ) -> Result<Option<SemanticTokensRangeResult>> {
        let (uri, range) = (params.text_document.uri, params.range);
        let tokens = self
            .run(move |snap| handlers::semantic_tokens(snap, &uri, Some(range)))
            .await?;
        Ok(tokens.map(SemanticTokensRangeResult::Tokens))
    }

    async fn document_highlight(
        &self,
        params: DocumentHighlightParams,
    ) -> Result<Option<Vec<DocumentHighlight>>> {
        let at = params.text_document_position_params;
        Ok(Some(
            self.run(move |snap| handlers::document_highlights(snap, &at))
                .await?,
        ))
    }

    async fn document_link(&self, params: DocumentLinkParams) -> Result<Option<Vec<DocumentLink>>> {
        let uri = params.text_document.uri;
        Ok(Some(
            self.run(move |snap| handlers::document_links(snap, &uri))
                .await?,
        ))
    }

    async fn inlay_hint(&self, params: InlayHintParams) -> Result<Option<Vec<InlayHint>>> {
        Ok(Some(
            self.run(move |snap| handlers::inlay_hints(snap, &params))
                .await?,
        ))
    }

    async fn execute_command(
        &self,
        params: ExecuteCommandParams,
    ) -> Result<Option<serde_json::Value>> {
        use crate::commands;
        let arguments = params.arguments;
        let answer = match params.command.as_str() {
            commands::BUILD => {
                self.run(move |snap| commands::build(snap, &arguments))
                    .await?
            }
            command => match commands::cli_arguments(command, &arguments) {
                Ok(args) => tokio::task::spawn_blocking(move || commands::run_cli(&args))
                    .await
                    .map_err(|_| Error::internal_error())?,
                Err(message) => Err(message),
            },
        };
        answer.map(Some).map_err(Error::invalid_params)
    }

    async fn formatting(&self, params: DocumentFormattingParams) -> Result<Option<Vec<TextEdit>>> {
        let uri = params.text_document.uri;
        self.run(move |snap| handlers::formatting(snap, &uri))
            .await?
            .map_err(|message| Error {
                code: ErrorCode::InternalError,
                message: message.into(),
                data: None,
            })
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        Ok(Some(
            self.run(move |snap| handlers::code_actions(snap, &params))
                .await?,
        ))
    }
}
