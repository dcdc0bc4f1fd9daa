// The bench's floor (bench/ui/floor.ts): a readonly custom editor that reads nothing and writes
// static HTML holding the element the UI bench waits for on LoRA Lens's side. What it costs to
// open is what VS Code (code-server) spends on any custom editor's webview.
const vscode = require('vscode');

const HTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none';">
</head>
<body>
<div id="app"><span data-testid="summary-tensor-count">floor</span></div>
</body>
</html>`;

/** @param {vscode.ExtensionContext} context */
function activate(context) {
  context.subscriptions.push(
    vscode.window.registerCustomEditorProvider('loraLensBenchFloor.view', {
      openCustomDocument(uri) {
        return { uri, dispose() {} };
      },
      resolveCustomEditor(_document, panel) {
        // Scripts on, as in any real editor's webview (LoRA Lens's too): without them VS Code
        // sandboxes the frame without allow-scripts and the bench's page-clock probe cannot run.
        // The page itself has none (its CSP allows none).
        panel.webview.options = { enableScripts: true };
        panel.webview.html = HTML;
      },
    }),
    vscode.commands.registerCommand('loraLensBenchFloor.ready', () => undefined),
  );
}

function deactivate() {}

module.exports = { activate, deactivate };
