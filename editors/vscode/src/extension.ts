// The tpt extension: the language (grammar and configuration are declared in
// package.json) and a client that starts `tpt lsp` for every .tpt file.
import * as vscode from 'vscode';
import { LanguageClient, LanguageClientOptions, ServerOptions, TransportKind } from 'vscode-languageclient/node';
import { documentSelector, initializationOptions, serverCommand, STDLIB_SCHEME, stdlibText } from './client';

let client: LanguageClient | undefined;

function serverOptions(): ServerOptions {
  const config = vscode.workspace.getConfiguration('tpt');
  const { command, args } = serverCommand(
    config.get<string>('server.path', 'tpt'),
    config.get<string[]>('server.extraArgs', []),
  );
  return { command, args, transport: TransportKind.stdio };
}

async function start(context: vscode.ExtensionContext): Promise<void> {
  const clientOptions: LanguageClientOptions = {
    documentSelector,
    initializationOptions,
    synchronize: {
      fileEvents: vscode.workspace.createFileSystemWatcher('**/*.tpt'),
    },
  };
  client = new LanguageClient('tpt', 'tpt language server', serverOptions(), clientOptions);
  context.subscriptions.push(client);
  try {
    await client.start();
  } catch (e) {
    const path = vscode.workspace.getConfiguration('tpt').get<string>('server.path', 'tpt');
    void vscode.window.showErrorMessage(
      `Could not start \`${path} lsp\`: ${e}. Install tpt, or set "tpt.server.path" to the tpt binary.`,
    );
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  context.subscriptions.push(
    vscode.workspace.registerTextDocumentContentProvider(STDLIB_SCHEME, {
      // The standard library's modules: read-only documents, their text from the server.
      provideTextDocumentContent: async (uri: vscode.Uri): Promise<string> => {
        const running = client;
        if (!running) {
          return '';
        }
        return stdlibText((method, params) => running.sendRequest(method, params), uri.toString());
      },
    }),
    vscode.commands.registerCommand('tpt.restartServer', async () => {
      await client?.stop();
      await start(context);
    }),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (e.affectsConfiguration('tpt.server')) {
        await vscode.commands.executeCommand('tpt.restartServer');
      }
    }),
  );
  await start(context);
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
