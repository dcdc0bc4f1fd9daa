import { readFileSync, statSync } from 'node:fs';

/**
 * dist/ files the webview page carries in itself instead of linking them. A webview fetches each
 * linked resource through its service worker and the workbench (about 90 ms for the first in a
 * session, 25 ms after), and a page paints nothing before its stylesheets and runs nothing before its
 * script have arrived. No vscode here, so the rule is unit-tested.
 */

/**
 * Text that could end its element or switch the HTML parser into a script's escaped states. esbuild
 * already writes `</script` and `</style` inside strings as `<\/…`; this only guards that.
 */
const UNSAFE_INLINE = /<\/(script|style)|<!--|<script/i;

const kept = new Map<string, { mtimeMs: number; text: string | undefined }>();

/**
 * The file's text to put inside a `<script>` or `<style>` element, read once per host and again when
 * its mtime changes (so `npm run watch` reaches the next page). Undefined, and the page links the
 * file instead, when it is unsafe to inline or cannot be read as a local file.
 */
export function inlineText(path: string): string | undefined {
  try {
    const { mtimeMs } = statSync(path);
    const known = kept.get(path);
    if (known?.mtimeMs === mtimeMs) return known.text;
    const raw = readFileSync(path, 'utf8');
    const text = UNSAFE_INLINE.test(raw) ? undefined : raw;
    kept.set(path, { mtimeMs, text });
    return text;
  } catch {
    return undefined;
  }
}
