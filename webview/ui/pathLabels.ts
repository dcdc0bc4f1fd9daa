/**
 * Module and parameter paths in narrow table columns (Mapping, Smoke test). What every row shares
 * (`base_model.model.model.layers.`, a `.weight` on every target) is said once, in the column header,
 * and a path's leaf (`q_proj`) never shrinks: the rest is cut from the left by CSS.
 */
import { h } from './dom.js';

/** What is cut from every path of a column, and said once in its header. */
export interface Shared {
  readonly prefix: string;
  readonly suffix: string;
}

export const NOTHING_SHARED: Shared = { prefix: '', suffix: '' };

/**
 * The dotted segments every path starts with (with the trailing dot), and `.weight` when every path
 * ends with it; nothing for fewer than two paths.
 */
export function sharedParts(paths: readonly string[]): Shared {
  if (paths.length < 2) return NOTHING_SHARED;
  const split = paths.map((p) => p.split('.'));
  const first = split[0] ?? [];
  let n = 0;
  // Never the last segment of any path: the leaf must stay in the row.
  while (n < first.length && split.every((s) => n < s.length - 1 && s[n] === first[n])) n++;
  const prefix = n > 0 ? `${first.slice(0, n).join('.')}.` : '';
  const suffix = paths.every((p) => p.endsWith('.weight') && p.length > prefix.length + 7)
    ? '.weight'
    : '';
  return { prefix, suffix };
}

/** The header's note of what the column's paths share, or null. */
export function sharedNote(shared: Shared): HTMLElement | null {
  const { prefix, suffix } = shared;
  if (!prefix && !suffix) return null;
  const text = `${prefix}…${suffix}`;
  return h('span', { className: 'muted path-shared', title: text }, ` ${text}`);
}

/** A path without what its column shares; its leaf always visible. `tag` is `code` for chips. */
export function pathLabel(
  full: string,
  shared: Shared,
  tag: 'code' | 'span' = 'span',
): HTMLElement {
  let path = full.startsWith(shared.prefix) ? full.slice(shared.prefix.length) : full;
  if (shared.suffix && path.endsWith(shared.suffix)) path = path.slice(0, -shared.suffix.length);
  const parts = path.split('.');
  const keep = /^(weight|bias|alpha)$/.test(parts[parts.length - 1] ?? '') ? 2 : 1;
  const leaf = parts.slice(-keep).join('.');
  const head = parts.length > keep ? `${parts.slice(0, -keep).join('.')}.` : '';
  return h(
    tag,
    { className: 'path', title: full },
    // Left-to-right marks keep the dots in place inside the rtl box that does the clipping.
    h('span', { className: 'path-head' }, head ? `\u200e${head}\u200e` : ''),
    h('span', { className: 'path-leaf' }, leaf),
  );
}
