// The NPL extension: a language client for `nplc lsp`.
//
// Settings:
//   nplc.path     the nplc executable (default `nplc`, looked up on PATH);
//                 changing it restarts the server.
//   nplc.targets  targets whose limits the server reports as you type; sent
//                 as `initializationOptions.targets` at start and, on every
//                 change, in `workspace/didChangeConfiguration`
//                 (`{ nplc: { targets: [...] } }`).
//
// Go-to-definition into the standard library returns `file:` URIs of a
// read-only copy the server writes to its cache directory; older servers
// returned `nplc-std:` URIs, whose text comes from `nplc/stdlibSource`.

import * as vscode from 'vscode';
import {
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
} from 'vscode-languageclient/node';

const STD_SCHEME = 'nplc-std';

let client: LanguageClient | undefined;

function settings(): { command: string; targets: string[] } {
  const config = vscode.workspace.getConfiguration('nplc');
  const command = (config.get<string>('path') ?? '').trim() || 'nplc';
  const targets = config.get<string[]>('targets') ?? [];
  return { command, targets };
}

async function start(): Promise<void> {
  const { command, targets } = settings();
  // No `transport`: stdio is the default, and `nplc lsp` speaks only stdio
  // (it also accepts the `--stdio` that `TransportKind.stdio` would append).
  const executable = { command, args: ['lsp'] };
  const serverOptions: ServerOptions = { run: executable, debug: executable };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: 'file', language: 'npl' },
      { scheme: 'untitled', language: 'npl' },
      { scheme: STD_SCHEME, language: 'npl' },
    ],
    initializationOptions: { targets },
    synchronize: {
      configurationSection: 'nplc',
      fileEvents: vscode.workspace.createFileSystemWatcher('**/*.npl'),
    },
    outputChannelName: 'NPL Language Server',
  };
  client = new LanguageClient('nplc', 'NPL Language Server', serverOptions, clientOptions);
  try {
    await client.start();
  } catch (err) {
    client = undefined;
    const message = err instanceof Error ? err.message : String(err);
    const choice = await vscode.window.showErrorMessage(
      `NPL: could not start \`${command} lsp\` (${message}). ` +
        'Install nplc, or set "nplc.path" to the nplc executable.',
      'Open Settings',
    );
    if (choice === 'Open Settings') {
      await vscode.commands.executeCommand('workbench.action.openSettings', 'nplc.path');
    }
  }
}

async function stop(): Promise<void> {
  const running = client;
  client = undefined;
  if (running) {
    await running.stop();
  }
}

async function restart(): Promise<void> {
  await stop();
  await start();
}

/// Standard library modules, read from the server.
class StdlibProvider implements vscode.TextDocumentContentProvider {
  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    if (!client) {
      return '# the NPL language server is not running';
    }
    return client.sendRequest<string>('nplc/stdlibSource', { uri: uri.toString() });
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  context.subscriptions.push(
    vscode.workspace.registerTextDocumentContentProvider(STD_SCHEME, new StdlibProvider()),
    vscode.commands.registerCommand('nplc.restartServer', restart),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration('nplc.path')) {
        await restart();
      }
    }),
    { dispose: () => void stop() },
  );
  await start();
}

export async function deactivate(): Promise<void> {
  await stop();
}
