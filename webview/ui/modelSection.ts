/**
 * "What is this model": family and variant with the evidence, the derived dimensions ("not
 * determined" with the reason, never a guess), parameters by part, and the memory figures with their
 * formulas, as the host computed them from the header.
 */
import * as l10n from '@vscode/l10n';
import { formatBytes, formatCount, formatInt } from '../../src/shared/format.js';
import type { ModelDimsDto, ModelDto } from '../../src/shared/modelProtocol.js';
import { h, icon, setStyle } from './dom.js';
import '../l10n.js';

function dimLabels(): [keyof ModelDimsDto, string][] {
  return [
    ['hiddenSize', l10n.t('Hidden size')],
    ['numLayers', l10n.t('Layers')],
    ['numAttentionHeads', l10n.t('Attention heads')],
    ['numKeyValueHeads', l10n.t('KV heads')],
    ['headDim', l10n.t('Head dim')],
    ['intermediateSize', l10n.t('FFN size')],
    ['vocabSize', l10n.t('Vocabulary')],
    ['numExperts', l10n.t('Experts')],
    ['tiedEmbeddings', l10n.t('Tied embeddings')],
  ];
}

function dimCell(m: ModelDto, k: keyof ModelDimsDto): HTMLElement {
  const v = m.architecture.dims[k];
  if (v === null)
    return h(
      'td',
      { className: 'muted', title: m.architecture.undetermined[k] ?? '' },
      l10n.t('not determined'),
    );
  return h(
    'td',
    { className: 'num', 'data-testid': `dim-${k}` },
    typeof v === 'boolean' ? (v ? l10n.t('yes') : l10n.t('no')) : formatInt(v),
  );
}

export function renderModelSection(m: ModelDto, title: string): HTMLElement {
  const a = m.architecture;
  const family = a.family === 'unknown' ? l10n.t('unknown') : a.family;
  const dims = h(
    'table',
    { className: 'kv model-dims' },
    h(
      'tbody',
      null,
      ...dimLabels().map(([k, label]) => h('tr', null, h('th', null, label), dimCell(m, k))),
    ),
  );
  const evidence = h(
    'ul',
    { className: 'evidence' },
    ...a.evidence.map((e) => h('li', { title: e.source }, e.claim)),
  );
  const components =
    a.components.length > 1
      ? h(
          'table',
          { className: 'model-parts-list' },
          h(
            'tbody',
            null,
            ...a.components.map((c) =>
              h(
                'tr',
                null,
                h('td', null, h('code', null, c.prefix || l10n.t('(root)'))),
                h('td', null, c.variant ? `${c.family} (${c.variant})` : c.family),
                h('td', { className: 'num' }, formatCount(c.parameterCount)),
              ),
            ),
          ),
        )
      : null;
  const total = Math.max(1, m.parts.parameters);
  const parts = h(
    'table',
    { className: 'dtype-table' },
    h(
      'tbody',
      null,
      ...m.parts.parts
        .filter((p) => p.parameters > 0)
        .map((p) => {
          const bar = h('div', { className: 'share-bar' });
          setStyle(bar, `width:${((100 * p.parameters) / total).toFixed(1)}%`);
          return h(
            'tr',
            null,
            h('td', null, p.label),
            h('td', { className: 'num' }, formatInt(p.parameters)),
            h('td', { className: 'num' }, `${((100 * p.parameters) / total).toFixed(1)}%`),
            h('td', { className: 'share' }, bar),
          );
        }),
    ),
  );
  const memory = h(
    'table',
    { className: 'kv memory' },
    h(
      'tbody',
      null,
      ...m.memory.figures.map((f) =>
        h(
          'tr',
          { 'data-testid': `memory-${f.id}` },
          h('th', null, f.label),
          f.bytes === null
            ? h('td', { className: 'muted' }, l10n.t('not determined: {0}', f.reason ?? ''))
            : h('td', { className: 'num' }, formatBytes(f.bytes)),
          h(
            'td',
            { className: 'muted formula' },
            f.formula,
            f.note ? h('span', { className: 'note' }, ` (${f.note})`) : null,
          ),
        ),
      ),
    ),
  );
  return h(
    'section',
    { className: 'model', 'data-testid': 'model-section', 'aria-label': title },
    h('h3', null, title),
    h(
      'p',
      { className: 'model-family' },
      icon('symbol-class'),
      ' ',
      h('strong', { 'data-testid': 'model-family' }, family),
      a.variant ? ` · ${a.variant}` : '',
      ` · ${a.kind}`,
    ),
    evidence,
    components,
    dims,
    h('h4', null, l10n.t('Parameters by part')),
    parts,
    h('h4', null, l10n.t('Memory (estimates; activations excluded)')),
    memory,
  );
}
