// The packaged extension, as VS Code loads it: its entry point is taken out
// of the .vsix (not from the source tree), loaded with a stub of the
// `vscode` module (the only module VS Code provides), activated, and its
// language client must start `nplc lsp` and finish the initialize
// handshake; deactivate must stop the server.
//
//   NPLC=/path/to/nplc node --test test/client.test.js
//
// NPLC defaults to ../../target/debug/nplc. The .vsix must have been built
// first (`npm run package`); both missing are failures, not skips.

'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const Module = require('node:module');
const test = require('node:test');
const yauzl = require('yauzl');

const root = path.resolve(__dirname, '..');
const version = require(path.join(root, 'package.json')).version;
const vsix = path.join(root, `npl-${version}.vsix`);
const nplc = process.env.NPLC || path.resolve(root, '..', '..', 'target', 'debug', 'nplc');

/** Every entry of the .vsix: name → contents. */
function readVsix(file) {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      const entries = new Map();
      zip.on('entry', (entry) => {
        zip.openReadStream(entry, (err, stream) => {
          if (err) return reject(err);
          const chunks = [];
          stream.on('data', (c) => chunks.push(c));
          stream.on('end', () => {
            entries.set(entry.fileName, Buffer.concat(chunks));
            zip.readEntry();
          });
        });
      });
      zip.on('end', () => resolve(entries));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

/** A value that is every function, object and constructor VS Code's API
 *  has, for the parts of the API the test does not look at. */
function anything() {
  const target = function () {};
  return new Proxy(target, {
    get(t, key) {
      if (key === 'then') return undefined; // not a promise
      if (key === Symbol.toPrimitive) return () => '';
      if (key === Symbol.iterator) return function* () {};
      if (key === 'dispose') return () => {};
      if (!(key in t)) t[key] = anything();
      return t[key];
    },
    apply: () => anything(),
    construct: () => anything(),
  });
}

class EventEmitter {
  constructor() {
    this.listeners = [];
    this.event = (listener) => {
      this.listeners.push(listener);
      return { dispose: () => (this.listeners = this.listeners.filter((l) => l !== listener)) };
    };
  }
  fire(value) {
    for (const l of this.listeners) l(value);
  }
  dispose() {
    this.listeners = [];
  }
}

class Disposable {
  constructor(fn) {
    this.fn = fn;
  }
  static from(...items) {
    return new Disposable(() => items.forEach((d) => d && d.dispose && d.dispose()));
  }
  dispose() {
    if (this.fn) this.fn();
  }
}

function uri(fsPath) {
  return {
    scheme: 'file',
    fsPath,
    path: fsPath,
    toString: () => `file://${fsPath}`,
    with: () => uri(fsPath),
  };
}

/** The stub `vscode` module; `seen` records what the extension showed. */
function stubVscode(settings, seen) {
  const stub = anything();
  Object.assign(stub, {
    version: '1.82.0',
    EventEmitter,
    Disposable,
    Uri: { file: uri, parse: (s) => uri(s.replace(/^file:\/\//, '')) },
  });
  stub.workspace = Object.assign(anything(), {
    getConfiguration: () => ({
      get: (key, fallback) => (key in settings ? settings[key] : fallback),
      has: (key) => key in settings,
      inspect: () => undefined,
      update: async () => {},
    }),
    workspaceFolders: undefined,
    textDocuments: [],
    notebookDocuments: [],
  });
  stub.window = Object.assign(anything(), {
    showErrorMessage: async (message) => {
      seen.errors.push(message);
      return undefined;
    },
    showWarningMessage: async (message) => {
      seen.warnings.push(message);
      return undefined;
    },
    showInformationMessage: async () => undefined,
    createOutputChannel: (name) =>
      Object.assign(anything(), {
        append: (text) => seen.output.push(text),
        appendLine: (text) => seen.output.push(text),
        replace: (text) => seen.output.push(text),
      }),
    visibleTextEditors: [],
    activeTextEditor: undefined,
  });
  stub.env = Object.assign(anything(), { language: 'en', appName: 'stub', machineId: 'test' });
  stub.commands = Object.assign(anything(), {
    registerCommand: (name, fn) => {
      seen.commands.push(name);
      return new Disposable();
    },
    executeCommand: async () => undefined,
  });
  return stub;
}

/** Loads `file` with `require('vscode')` answered by `vscode`. */
function loadWithStub(file, vscode) {
  const original = Module._load;
  Module._load = function (request, parent, isMain) {
    if (request === 'vscode') return vscode;
    return original.call(this, request, parent, isMain);
  };
  try {
    return require(file);
  } finally {
    Module._load = original;
  }
}

test('the packaged extension bundles its client and talks to nplc lsp', async () => {
  assert.ok(fs.existsSync(vsix), `${vsix} is missing: run \`npm run package\` first`);
  assert.ok(fs.existsSync(nplc), `${nplc} is missing: build nplc (cargo build) or set NPLC`);

  const entries = await readVsix(vsix);
  const names = [...entries.keys()];
  assert.ok(!names.some((n) => n.includes('node_modules/')), `node_modules packaged: ${names}`);
  const manifest = JSON.parse(entries.get('extension/package.json'));
  const main = path.posix.join('extension', manifest.main.replace(/^\.\//, ''));
  const entry = entries.get(main.endsWith('.js') ? main : `${main}.js`);
  assert.ok(entry, `the entry point ${main} is not in the .vsix: ${names}`);

  // Only what is in the .vsix: a fresh directory without node_modules.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'npl-vsix-'));
  const extracted = path.join(dir, 'extension.js');
  fs.writeFileSync(extracted, entry);

  const seen = { errors: [], warnings: [], commands: [], output: [] };
  const vscode = stubVscode({ path: nplc, targets: [] }, seen);
  const extension = loadWithStub(extracted, vscode);
  assert.equal(typeof extension.activate, 'function');
  assert.equal(typeof extension.deactivate, 'function');

  const subscriptions = [];
  await extension.activate({ subscriptions, extensionPath: dir, asAbsolutePath: (p) => path.join(dir, p) });
  assert.deepEqual(seen.errors, [], `activation reported an error; output:\n${seen.output.join('\n')}`);
  assert.ok(seen.commands.includes('nplc.restartServer'), `commands: ${seen.commands}`);
  const failures = seen.output.filter((line) => String(line).includes('[Error'));
  assert.deepEqual(failures, [], 'the client logged errors');
  await extension.deactivate();
  fs.rmSync(dir, { recursive: true, force: true });
});
