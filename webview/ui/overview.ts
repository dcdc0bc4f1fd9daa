import * as l10n from '@vscode/l10n';
import { formatBytes, formatCount, formatInt } from '../../src/shared/format.js';
import type {
  JsonValue,
  MetadataEntryDto,
  QuantizationDto,
  SummaryDto,
} from '../../src/shared/protocol.js';
import type { Rpc } from '../rpc.js';
import { renderAdapterPanel } from './adapterPanel.js';
import { renderCoverageGrid } from './coverageGrid.js';
import { renderModelSection } from './modelSection.js';
import { h, icon } from './dom.js';
import '../l10n.js';

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
    { className: 'figure', title: title ?? l10n.t('{0}: {1}', label, formatInt(value)) },
    h('div', { className: 'figure-label' }, label),
    h('div', { className: 'figure-value', 'data-testid': testid, 'data-value': value }, text),
  );
}

/** `charts: false` (loraLens.charts.enabled) leaves the statistics chart out. */
export function renderOverview(
  summary: SummaryDto,
  rpc: Rpc,
  options: { charts?: boolean } = {},
): HTMLElement {
  const figures = h(
    'section',
    { className: 'figures', 'aria-label': l10n.t('Summary') },
    figure(
      l10n.t('Tensors'),
      'summary-tensor-count',
      summary.tensorCount,
      formatInt(summary.tensorCount),
    ),
    figure(
      l10n.t('Parameters'),
      'summary-param-count',
      summary.parameterCount,
      formatInt(summary.parameterCount),
      l10n.t('{0} parameters', formatCount(summary.parameterCount)),
    ),
    figure(
      l10n.t('File size'),
      'summary-file-size',
      summary.fileSize,
      formatBytes(summary.fileSize),
      l10n.t('{0} bytes', formatInt(summary.fileSize)),
    ),
    figure(
      l10n.t('Header'),
      'summary-header-size',
      summary.headerBytes,
      formatBytes(summary.headerBytes),
      l10n.t('{0} bytes, the only part read', formatInt(summary.headerBytes)),
    ),
  );
  const readNote = h(
    'p',
    { className: 'muted read-note' },
    icon(summary.access === 'ranged' ? 'zap' : 'cloud-download'),
    ' ',
    summary.access === 'ranged'
      ? l10n.t(
          'Read {0} of {1} (header only) in {2} ms; tensor data was not loaded.',
          formatBytes(summary.headerBytes),
          formatBytes(summary.fileSize),
          summary.openMs.toFixed(0),
        )
      : l10n.t(
          'Read whole through the workspace file system in {0} ms (not a local file).',
          summary.openMs.toFixed(0),
        ),
  );
  const warnings = summary.warnings.length
    ? h(
        'section',
        { className: 'warnings', 'data-testid': 'warnings', 'aria-label': l10n.t('Warnings') },
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
    summary.lora ? renderAdapterPanel(summary.lora, rpc, options.charts !== false) : null,
    summary.coverage ? renderCoverageGrid(summary.coverage) : null,
    summary.coverage ? baseModelSection(rpc) : null,
    summary.hasModel ? fileModelSection(rpc) : null,
    summary.quantization ? quantizationSection(summary.quantization) : null,
    dtypeTable(summary),
    metadataSection(summary.metadata, rpc),
    summary.values.length ? entriesSection(l10n.t('Values'), 'values', summary.values, rpc) : null,
    summary.configs.length
      ? entriesSection(l10n.t('Configuration files'), 'configs', summary.configs, rpc)
      : null,
  );
}

/** A model's own report, asked for once the Overview shows: at a million tensors it takes seconds. */
function fileModelSection(rpc: Rpc): HTMLElement {
  const box = h('div', { className: 'file-model' });
  void rpc.request('fileModel', {}).then(
    (r) => box.replaceChildren(r.model ? renderModelSection(r.model, l10n.t('Model')) : ''),
    (e: unknown) =>
      box.replaceChildren(
        h('p', { className: 'warning' }, e instanceof Error ? e.message : String(e)),
      ),
  );
  return box;
}

/** An adapter's base model (architecture, memory at this adapter's rank), asked for once the Overview shows. */
function baseModelSection(rpc: Rpc): HTMLElement {
  const box = h('div', { className: 'base-model', 'data-testid': 'base-model' });
  void rpc.request('baseModel', {}).then(
    (r) =>
      box.replaceChildren(
        r.declared
          ? h(
              'p',
              { 'data-testid': 'declared-base', title: r.declared.evidence },
              l10n.t(
                'Trained for: {0}',
                r.declared.variant
                  ? `${r.declared.family} (${r.declared.variant})`
                  : r.declared.family,
              ),
              h('span', { className: 'muted' }, ` (${r.declared.evidence})`),
            )
          : '',
        r.model
          ? renderModelSection(r.model, l10n.t('Base model: {0}', r.base ?? ''))
          : h('p', { className: 'muted' }, r.note ?? ''),
      ),
    (e: unknown) =>
      box.replaceChildren(
        h('p', { className: 'warning' }, e instanceof Error ? e.message : String(e)),
      ),
  );
  return box;
}

/** The quantization scheme(s), bits per weight, and what they save against 16-bit weights. */
function quantizationSection(q: QuantizationDto): HTMLElement {
  const pct = q.bytesAt16Bit > 0 ? Math.round((100 * q.savedBytes) / q.bytesAt16Bit) : 0;
  const rows = q.schemes.map((s) =>
    h(
      'tr',
      null,
      h('td', null, h('code', null, s.label)),
      h('td', { className: 'num' }, formatInt(s.weights)),
      h('td', { className: 'num', title: formatInt(s.parameters) }, formatCount(s.parameters)),
      h(
        'td',
        { className: 'num', title: l10n.t('{0} bytes', formatInt(s.storedBytes)) },
        formatBytes(s.storedBytes),
      ),
      h('td', { className: 'num' }, s.bitsPerWeight.toFixed(2)),
    ),
  );
  return h(
    'section',
    { 'aria-label': l10n.t('Quantization'), 'data-testid': 'quantization' },
    h('h2', null, l10n.t('Quantization')),
    h(
      'p',
      { 'data-testid': 'quantization-saving' },
      l10n.t(
        '{0} quantized weights ({1} parameters) take {2} instead of {3} at 16 bits: {4}% saved. Embeddings, norms and other float tensors ({5} parameters) are not quantized.',
        formatInt(q.quantizedWeights),
        formatCount(q.quantizedParameters),
        formatBytes(q.storedBytes),
        formatBytes(q.bytesAt16Bit),
        pct,
        formatCount(q.floatParameters),
      ),
    ),
    h(
      'table',
      { className: 'grid dtypes', 'data-testid': 'quantization-schemes' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th', null, l10n.t('scheme')),
          h('th', { className: 'num' }, l10n.t('weights')),
          h('th', { className: 'num' }, l10n.t('params')),
          h('th', { className: 'num' }, l10n.t('stored')),
          h('th', { className: 'num' }, l10n.t('bits/weight')),
        ),
      ),
      h('tbody', null, ...rows),
    ),
    h(
      'p',
      { className: 'muted' },
      l10n.t(
        'Each quantized weight shows in the tree under its logical name and [out, in] shape, with its stored parts folded under it. The smoke test and the merge dequantize it row by row.',
      ),
    ),
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
      h(
        'td',
        { className: 'num', title: l10n.t('{0} bytes', formatInt(d.bytes)) },
        formatBytes(d.bytes),
      ),
      h(
        'td',
        { className: 'bar-cell' },
        h('div', { className: 'share', style: `width:${((100 * d.bytes) / total).toFixed(1)}%` }),
      ),
    ),
  );
  return h(
    'section',
    { 'aria-label': l10n.t('Data types') },
    h('h2', null, l10n.t('Data types')),
    summary.dtypes.length === 0
      ? h('p', { className: 'muted' }, l10n.t('No tensors.'))
      : h(
          'table',
          { className: 'grid dtypes', 'data-testid': 'summary-dtypes' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              h('th', null, l10n.t('dtype')),
              h('th', { className: 'num' }, l10n.t('tensors')),
              h('th', { className: 'num' }, l10n.t('params')),
              h('th', { className: 'num' }, l10n.t('bytes')),
              h('th', null, l10n.t('share of data')),
            ),
          ),
          h('tbody', null, ...rows),
        ),
  );
}

function metadataSection(entries: readonly MetadataEntryDto[], rpc: Rpc): HTMLElement {
  const body =
    entries.length === 0
      ? h('p', { className: 'muted' }, l10n.t('This file has no __metadata__.'))
      : h(
          'table',
          { className: 'grid metadata-table' },
          h('tbody', null, ...entries.map((e) => metadataRow(e, rpc))),
        );
  return h(
    'section',
    { 'data-testid': 'metadata', 'aria-label': l10n.t('Metadata') },
    h(
      'h2',
      null,
      `${l10n.t('Metadata')} `,
      h('span', { className: 'muted' }, `(${entries.length})`),
    ),
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
          l10n.t('Load the full value ({0} characters)', formatInt(e.length)),
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
  const more = h(
    'button',
    { className: 'link' },
    l10n.t('show all {0} characters', formatInt(text.length)),
  );
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
    ? `[ ${n === 1 ? l10n.t('1 item') : l10n.t('{0} items', n)} ]`
    : `{ ${n === 1 ? l10n.t('1 key') : l10n.t('{0} keys', n)} }`;
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
        h(
          'div',
          { className: 'muted' },
          `… ${l10n.t('{0} more', formatInt(entries.length - shown.length))}`,
        ),
      );
  });
  details.append(list);
  if (details.open) details.dispatchEvent(new Event('toggle'));
  return details;
}
