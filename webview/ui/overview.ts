import { formatBytes, formatCount, formatInt } from '../../src/shared/format.js';
import type { JsonValue, MetadataEntryDto, SummaryDto } from '../../src/shared/protocol.js';
import type { Rpc } from '../rpc.js';
import { renderAdapterPanel } from './adapterPanel.js';
import { h, icon } from './dom.js';

const FOLD_CHARS = 240;

function figure(
  label: string,
  testid: string,
  value: number,
  text: string,
  title?: string,
): HTMLElement {
  return h(
    'div',
    { className: 'figure', title: title ?? `${label}: ${formatInt(value)}` },
    h('div', { className: 'figure-label' }, label),
    h('div', { className: 'figure-value', 'data-testid': testid, 'data-value': value }, text),
  );
}

export function renderOverview(summary: SummaryDto, rpc: Rpc): HTMLElement {
  const figures = h(
    'section',
    { className: 'figures', 'aria-label': 'Summary' },
    figure('Tensors', 'summary-tensor-count', summary.tensorCount, formatInt(summary.tensorCount)),
    figure(
      'Parameters',
      'summary-param-count',
      summary.parameterCount,
      formatInt(summary.parameterCount),
      `${formatCount(summary.parameterCount)} parameters`,
    ),
    figure(
      'File size',
      'summary-file-size',
      summary.fileSize,
      formatBytes(summary.fileSize),
      `${formatInt(summary.fileSize)} bytes`,
    ),
    figure(
      'Header',
      'summary-header-size',
      summary.headerBytes,
      formatBytes(summary.headerBytes),
      `${formatInt(summary.headerBytes)} bytes, the only part read`,
    ),
  );
  const readNote = h(
    'p',
    { className: 'muted read-note' },
    icon(summary.access === 'ranged' ? 'zap' : 'cloud-download'),
    summary.access === 'ranged'
      ? ` Read ${formatBytes(summary.headerBytes)} of ${formatBytes(summary.fileSize)} (header only) in ${summary.openMs.toFixed(0)} ms; tensor data was not loaded.`
      : ` Read whole through the workspace file system in ${summary.openMs.toFixed(0)} ms (not a local file).`,
  );
  const warnings = summary.warnings.length
    ? h(
        'section',
        { className: 'warnings', 'data-testid': 'warnings', 'aria-label': 'Warnings' },
        ...summary.warnings.map((w) =>
          h('p', { className: 'warning' }, icon('warning', 'warning-icon'), w),
        ),
      )
    : null;
  return h(
    'div',
    { className: 'overview' },
    figures,
    readNote,
    warnings,
    summary.lora ? renderAdapterPanel(summary.lora, rpc) : null,
    dtypeTable(summary),
    metadataSection(summary.metadata, rpc),
    summary.values.length ? entriesSection('Values', 'values', summary.values, rpc) : null,
    summary.configs.length
      ? entriesSection('Configuration files', 'configs', summary.configs, rpc)
      : null,
  );
}

function dtypeTable(summary: SummaryDto): HTMLElement {
  const total = summary.dataBytes || 1;
  const rows = summary.dtypes.map((d) =>
    h(
      'tr',
      null,
      h('td', null, h('code', null, d.dtype)),
      h('td', { className: 'num' }, formatInt(d.tensors)),
      h('td', { className: 'num', title: formatInt(d.parameters) }, formatCount(d.parameters)),
      h('td', { className: 'num', title: `${formatInt(d.bytes)} bytes` }, formatBytes(d.bytes)),
      h(
        'td',
        { className: 'bar-cell' },
        h('div', { className: 'share', style: `width:${((100 * d.bytes) / total).toFixed(1)}%` }),
      ),
    ),
  );
  return h(
    'section',
    { 'aria-label': 'Data types' },
    h('h2', null, 'Data types'),
    summary.dtypes.length === 0
      ? h('p', { className: 'muted' }, 'No tensors.')
      : h(
          'table',
          { className: 'grid dtypes', 'data-testid': 'summary-dtypes' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              h('th', null, 'dtype'),
              h('th', { className: 'num' }, 'tensors'),
              h('th', { className: 'num' }, 'params'),
              h('th', { className: 'num' }, 'bytes'),
              h('th', null, 'share of data'),
            ),
          ),
          h('tbody', null, ...rows),
        ),
  );
}

function metadataSection(entries: readonly MetadataEntryDto[], rpc: Rpc): HTMLElement {
  const body =
    entries.length === 0
      ? h('p', { className: 'muted' }, 'This file has no __metadata__.')
      : h(
          'table',
          { className: 'grid metadata-table' },
          h('tbody', null, ...entries.map((e) => metadataRow(e, rpc))),
        );
  return h(
    'section',
    { 'data-testid': 'metadata', 'aria-label': 'Metadata' },
    h('h2', null, `Metadata `, h('span', { className: 'muted' }, `(${entries.length})`)),
    body,
  );
}

function entriesSection(
  title: string,
  testid: string,
  entries: readonly MetadataEntryDto[],
  rpc: Rpc,
): HTMLElement {
  return h(
    'section',
    { 'data-testid': testid, 'aria-label': title },
    h('h2', null, `${title} `, h('span', { className: 'muted' }, `(${entries.length})`)),
    h(
      'table',
      { className: 'grid metadata-table' },
      h('tbody', null, ...entries.map((e) => metadataRow(e, rpc))),
    ),
  );
}

function metadataRow(entry: MetadataEntryDto, rpc: Rpc): HTMLElement {
  const cell = h('td', { className: 'meta-value' });
  const fill = (e: MetadataEntryDto) => {
    cell.replaceChildren();
    if (e.parsed !== undefined) cell.append(jsonView(e.parsed, true));
    else cell.append(foldedText(e.value));
    if (e.truncated) {
      cell.append(
        h(
          'button',
          {
            className: 'link',
            onclick: async () => fill(await rpc.request('metadataValue', { key: e.key })),
          },
          `Load the full value (${formatInt(e.length)} characters)`,
        ),
      );
    }
  };
  fill(entry);
  return h(
    'tr',
    null,
    h('th', { scope: 'row', className: 'meta-key', title: entry.key }, entry.key),
    cell,
  );
}

function foldedText(text: string): HTMLElement {
  if (text.length <= FOLD_CHARS) return h('span', { className: 'meta-text' }, text);
  const span = h('span', { className: 'meta-text' }, text.slice(0, FOLD_CHARS) + '…');
  const more = h('button', { className: 'link' }, `show all ${formatInt(text.length)} characters`);
  more.addEventListener('click', () => {
    span.textContent = text;
    more.remove();
  });
  return h('span', null, span, ' ', more);
}

/** Nested JSON as collapsible details; small objects open, big ones folded. */
function jsonView(value: JsonValue, open: boolean): Node {
  if (value === null || typeof value !== 'object') {
    const cls = value === null ? 'null' : typeof value;
    return h(
      'span',
      { className: `json-${cls}` },
      typeof value === 'string' ? JSON.stringify(value) : String(value),
    );
  }
  const entries: [string, JsonValue][] = Array.isArray(value)
    ? value.map((v, i) => [String(i), v])
    : Object.entries(value);
  const n = entries.length;
  const label = Array.isArray(value)
    ? `[ ${n} ${n === 1 ? 'item' : 'items'} ]`
    : `{ ${n} ${n === 1 ? 'key' : 'keys'} }`;
  const details = h(
    'details',
    { className: 'json', open: open && entries.length <= 20 },
    h('summary', null, h('span', { className: 'muted' }, label)),
  );
  const list = h('div', { className: 'json-body' });
  details.addEventListener('toggle', () => {
    if (list.childElementCount || !details.open) return;
    const shown = entries.slice(0, 500);
    for (const [k, v] of shown)
      list.append(
        h(
          'div',
          { className: 'json-entry' },
          h('span', { className: 'json-key' }, k),
          ': ',
          jsonView(v, false),
        ),
      );
    if (entries.length > shown.length)
      list.append(
        h('div', { className: 'muted' }, `… ${formatInt(entries.length - shown.length)} more`),
      );
  });
  details.append(list);
  if (details.open) details.dispatchEvent(new Event('toggle'));
  return details;
}
