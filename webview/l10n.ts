import * as l10n from '@vscode/l10n';
import { L10N_BUNDLE_ID, parseL10nBundle } from '../src/shared/l10nBundle.js';

/**
 * Loads the host's message bundle (a JSON data block in the page, present only in a display language
 * other than English) into @vscode/l10n. Runs when this module is first imported, so before any
 * render: every module that calls `l10n.t` imports this one for that side effect.
 *
 * The string extractor (`npm run l10n`) only finds calls on a binding imported from '@vscode/l10n'
 * itself, so callers write `import * as l10n from '@vscode/l10n'` and `l10n.t('…', args)` (never a
 * re-exported `t`, never a template literal with substitutions), plus `import '../l10n.js'`.
 */
export function configureL10n(doc: Document = document): boolean {
  const bundle = parseL10nBundle(doc.getElementById(L10N_BUNDLE_ID)?.textContent);
  if (!bundle) return false;
  l10n.config({ contents: bundle });
  return true;
}

configureL10n();
