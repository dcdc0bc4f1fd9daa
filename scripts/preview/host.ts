/// <reference lib="dom" />
/**
 * A stand-in extension host for looking at the webview in a plain browser: the real TensorTree and
 * protocol, over a synthetic checkpoint of any size. Used by scripts/preview/shoot.ts for screenshots
 * and the 100,000-row check without VS Code.
 */
import type { TensorInfo } from '../../src/core/formats/checkpoint.js';
import { expandMetadata } from '../../src/core/view/metadata.js';
import { TensorTree } from '../../src/core/view/tensorTree.js';
import {
  HostEndpoint,
  NO_MAPPING,
  NO_SMOKE,
  type Message,
  type SummaryDto,
} from '../../src/shared/protocol.js';

const params = new URLSearchParams(location.search);
const layers = Number(params.get('layers') ?? 4);
const broken = params.has('broken');
const kinds = [
  'self_attn.q_proj',
  'self_attn.k_proj',
  'self_attn.v_proj',
  'self_attn.o_proj',
  'mlp.gate_proj',
  'mlp.up_proj',
  'mlp.down_proj',
];
const tensors: TensorInfo[] = [];
let offset = 4096;
const add = (name: string, shape: number[]) => {
  const parameterCount = shape.reduce((a, b) => a * b, 1);
  tensors.push({
    name,
    dtype: 'BF16',
    shape,
    offset,
    byteLength: parameterCount * 2,
    parameterCount,
  });
  offset += parameterCount * 2;
};
add('model.embed_tokens.weight', [32000, 4096]);
for (let l = 0; l < layers; l++) {
  for (const k of kinds)
    add(`model.layers.${l}.${k}.weight`, k.startsWith('mlp') ? [11008, 4096] : [4096, 4096]);
  add(`model.layers.${l}.input_layernorm.weight`, [4096]);
}
add('lm_head.weight', [32000, 4096]);
const tree = new TensorTree(tensors);
const metadata = {
  format: 'pt',
  ss_network_dim: '16',
  ss_tag_frequency: JSON.stringify({ '10_cat': { cat: 12, 'sitting cat': 3 } }),
  ss_dataset_dirs: JSON.stringify({ '10_cat': { n_repeats: 10, img_count: 40 } }),
  modelspec_title: 'A long title '.repeat(30),
};
const summary: SummaryDto = {
  fileName: 'preview-model.safetensors',
  format: 'safetensors',
  fileSize: offset,
  headerBytes: 4096,
  dataBytes: offset - 4096,
  tensorCount: tensors.length,
  parameterCount: tensors.reduce((a, t) => a + t.parameterCount, 0),
  dtypes: [{ dtype: 'BF16', tensors: tensors.length, parameters: 0, bytes: offset - 4096 }],
  metadata: expandMetadata(metadata),
  configs: [
    {
      key: 'adapter_config.json',
      value: '',
      length: 0,
      truncated: false,
      parsed: { r: 16, lora_alpha: 32, target_modules: ['q_proj', 'v_proj'] },
    },
  ],
  values: [
    { key: 'epoch', value: '3', length: 1, truncated: false },
    { key: 'global_step', value: '1200', length: 4, truncated: false },
  ],
  lora: {
    family: 'peft',
    familyLabel: 'PEFT',
    evidence: ['8 modules under base_model.model.'],
    modules: 8,
    kinds: [{ value: 'linear', count: 8 }],
    ranks: [
      { value: 8, count: 6 },
      { value: 16, count: 2 },
    ],
    alphas: [{ value: 16, count: 8 }],
    scales: [
      { value: 2, count: 6 },
      { value: 1, count: 2 },
    ],
    targets: [
      { value: 'q_proj', count: 4 },
      { value: 'v_proj', count: 4 },
    ],
    alphaOrigins: [{ value: 'adapter_config', count: 8 }],
    scaleRules: ['alpha/r'],
    layers: [{ stack: 'model.layers', indices: [0, 1, 2, 3] }],
    nonLora: [],
    conflicts: [],
    warnings: [],
  },
  warnings: ['TotalSizeMismatch: metadata.total_size says 12 bytes, the shards add up to 4096'],
  access: 'ranged',
  openMs: 3.2,
};

let deliver: (m: unknown) => void = () => undefined;
const host = new HostEndpoint(
  (m: Message) =>
    setTimeout(() => window.dispatchEvent(new MessageEvent('message', { data: m })), 0),
  {
    ready: () =>
      broken
        ? {
            ok: false,
            fileName: 'broken.safetensors',
            error: {
              code: 'MetadataIncompleteBuffer',
              message:
                'incomplete metadata, file not fully covered: the header describes 30704 bytes of data, the file has 30703; the tensors need 1 more byte than the file holds (truncated?)',
            },
          }
        : { ok: true, summary, tree: tree.state() },
    rows: ({ start, count }) => ({ state: tree.state(), start, rows: tree.rows(start, count) }),
    setQuery: ({ query }) => tree.setQuery(query),
    setGrouping: ({ grouping }) => tree.setGrouping(grouping === 'flat' ? 'flat' : 'tree'),
    setExpanded: ({ id, expanded }) => tree.setExpanded(id, expanded),
    expandAll: () => tree.expandAll(),
    collapseAll: () => tree.collapseAll(),
    reveal: ({ path }) => ({ state: tree.state(), row: tree.reveal(path) }),
    metadataValue: ({ key }) =>
      expandMetadata({ [key]: (metadata as Record<string, string>)[key] ?? '' })[0] as never,
    copyText: () => null,
    mapping: () => NO_MAPPING,
    selectBase: () => NO_MAPPING,
    setOverride: () => NO_MAPPING,
    clearOverride: () => NO_MAPPING,
    retarget: () => NO_MAPPING,
    computeStats: () => ({
      modules: layers * 2,
      ms: 12,
      rows: [],
      totals: Array.from({ length: layers }, (_, l) => ({
        layer: l,
        stack: 'model.layers',
        norm: 0.5 + l / layers,
        byType: { q_proj: 0.3 + (l % 3) / 10, v_proj: 0.4 + l / layers / 2 },
        unknown: 0,
      })),
      warnings: ['3 module(s) have an all-zero B (lora_up), so they change nothing: …'],
    }),
    smoke: () => NO_SMOKE,
    runSmoke: () => null,
    cancelSmoke: () => null,
  },
);
deliver = (m) => void host.receive(m);
(globalThis as unknown as { acquireVsCodeApi: () => unknown }).acquireVsCodeApi = () => ({
  postMessage: (m: unknown) => setTimeout(() => deliver(m), 0),
  getState: () => undefined,
  setState: () => undefined,
});
