/** A tiny element builder: enough structure without a framework. */
type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined | null | ((e: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): HTMLElementTagNameMap[K];
export function h(tag: string, attrs?: Attrs | null, ...children: Child[]): HTMLElement;
export function h(tag: string, attrs?: Attrs | null, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, '').toLowerCase(), v);
    else if (k === 'className') el.className = String(v);
    else if (k === 'style') setStyle(el, String(v));
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

export function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' || typeof c === 'number' ? String(c) : c);
  }
}

/**
 * The page links the codicon stylesheet as media="print" (src/extension/webviewHtml.ts): a stylesheet
 * that applies holds back every script after it until it has arrived, and this one comes through
 * the webview's service worker. The page's script calls this first; from then on the sheet applies
 * (and vscode-icon, which copies its href into each icon, finds it by its id as before).
 */
export function applyCodiconSheet(): void {
  const link = document.getElementById('vscode-codicon-stylesheet');
  if (link instanceof HTMLLinkElement) link.media = 'all';
}

export function icon(name: string, extra = ''): HTMLElement {
  return h('span', { className: `codicon codicon-${name} ${extra}`.trim(), 'aria-hidden': 'true' });
}

/** Text with [start, end) ranges wrapped in <mark>. */
export function highlighted(text: string, ranges: readonly number[] | undefined): DocumentFragment {
  const frag = document.createDocumentFragment();
  if (!ranges || ranges.length === 0) {
    frag.append(text);
    return frag;
  }
  let at = 0;
  for (let i = 0; i + 1 < ranges.length; i += 2) {
    const s = ranges[i] as number;
    const e = ranges[i + 1] as number;
    if (s > at) frag.append(text.slice(at, s));
    frag.append(h('mark', null, text.slice(s, e)));
    at = e;
  }
  if (at < text.length) frag.append(text.slice(at));
  return frag;
}

/**
 * The CSP forbids inline style attributes; CSSOM property writes are allowed. So "a:b;c:d" is applied
 * property by property.
 */
export function setStyle(el: HTMLElement, css: string): void {
  for (const decl of css.split(';')) {
    const i = decl.indexOf(':');
    if (i > 0) el.style.setProperty(decl.slice(0, i).trim(), decl.slice(i + 1).trim());
  }
}
