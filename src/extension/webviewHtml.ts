import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { l10nBundleScript } from '../shared/l10nBundle.js';
import { inlineText } from './inlineAssets.js';

/**
 * The editor page: a strict CSP (nothing but our nonce'd script and style, the codicon stylesheet
 * and font), and resources only from dist/. The page's bundle and editor.css are inlined where that
 * is safe (inlineAssets.ts): a linked one costs a trip through the webview's service worker. The
 * codicon stylesheet stays linked (vscode-icon needs its href) but as media="print", which does not
 * hold back the script; the script applies it (applyCodiconSheet in webview/ui/dom.ts). In a
 * display language other than English the page also carries the webview's message bundle as a JSON
 * data block (see src/shared/l10nBundle.ts).
 */
export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist')] };
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function editorHtml(
  webview: vscode.Webview,
  extensionUri: vscode.Uri,
  title: string,
  /** The page's bundle in dist/: the checkpoint editor, or the Compare view. */
  script: 'webview.js' | 'compare.js' = 'webview.js',
): string {
  const nonce = randomBytes(16).toString('base64');
  const asset = (...parts: string[]) =>
    webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', ...parts)).toString();
  const csp = [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${webview.cspSource} 'nonce-${nonce}'`,
    `font-src ${webview.cspSource}`,
    `img-src ${webview.cspSource} data:`,
  ].join('; ');
  // In the page itself where it is safe (see inlineAssets.ts), linked otherwise.
  const inline = (name: string) =>
    inlineText(vscode.Uri.joinPath(extensionUri, 'dist', name).fsPath);
  const style = inline('editor.css');
  const code = inline(script);
  const bundle = vscode.l10n.bundle;
  const lang = bundle ? escapeHtml(vscode.env.language) : 'en';
  return `<!DOCTYPE html>
<html lang="${lang}">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${asset('codicons', 'codicon.css')}" id="vscode-codicon-stylesheet" media="print">
${style ? `<style nonce="${nonce}">${style}</style>` : `<link rel="stylesheet" href="${asset('editor.css')}">`}
<title>${escapeHtml(title)}</title>
</head>
<body>
<div id="app" data-testid="app" data-state="loading"><div class="loading">${escapeHtml(vscode.l10n.t('Reading {0}…', title))}</div></div>
${l10nBundleScript(bundle)}
${code ? `<script nonce="${nonce}">${code}</script>` : `<script nonce="${nonce}" src="${asset(script)}"></script>`}
</body>
</html>`;
}
