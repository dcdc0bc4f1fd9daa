/**
 * How the host hands its localization bundle to the webview: a JSON data block in the page. A
 * `type="application/json"` script is never executed, so the page's CSP needs no nonce for it.
 */
export const L10N_BUNDLE_ID = 'l10n-bundle';

export type L10nBundle = Record<string, string>;

/**
 * The data block for a bundle, or '' when there is none (English: VS Code loads no bundle then).
 * `<` is escaped so that no message can close the element or open a comment.
 */
export function l10nBundleScript(bundle: L10nBundle | undefined): string {
  if (!bundle || Object.keys(bundle).length === 0) return '';
  const json = JSON.stringify(bundle).replace(/</g, '\\u003c');
  return `<script type="application/json" id="${L10N_BUNDLE_ID}">${json}</script>`;
}

/** The bundle from the data block's text; undefined (so English) when absent or not a string map. */
export function parseL10nBundle(text: string | null | undefined): L10nBundle | undefined {
  if (!text) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const entries = Object.entries(value);
  return entries.every(([, v]) => typeof v === 'string')
    ? (Object.fromEntries(entries) as L10nBundle)
    : undefined;
}
