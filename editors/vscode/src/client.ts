// What the extension's client asks of `tpt lsp`, without VS Code: the server
// command, the documents it serves, the initialization options, and the text
// of a standard library document. `extension.ts` builds the LanguageClient
// from these; `test/client.test.js` drives the server with the same.

/** The scheme of the standard library's read-only documents (`tpt-std:///std/aws.tpt`). */
export const STDLIB_SCHEME = 'tpt-std';

/** The documents the server analyses: files, unsaved buffers, the standard library. */
export const documentSelector = [
  { scheme: 'file', language: 'tpt' },
  { scheme: 'untitled', language: 'tpt' },
  { scheme: STDLIB_SCHEME, language: 'tpt' },
];

/** The standard library as documents of their own, not files written to disk. */
export const initializationOptions = { stdlibDocuments: true };

/** `tpt lsp` from the settings `tpt.server.path` and `tpt.server.extraArgs`. */
export function serverCommand(path: string, extraArgs: string[]): { command: string; args: string[] } {
  return { command: path || 'tpt', args: ['lsp', ...extraArgs] };
}

/** The text of a standard library document, asked of the server. */
export async function stdlibText(
  request: (method: string, params: unknown) => Promise<unknown>,
  uri: string,
): Promise<string> {
  const doc = (await request('tpt/stdlibDocument', { uri })) as { text?: string } | null;
  return doc?.text ?? '';
}
