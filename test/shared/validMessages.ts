/** Requests as the webview really sends them: the known-good seeds of the tests and the fuzzer. */
import type { Method } from '../../src/shared/protocol.js';

/** One valid params object per method, as the webview sends them. */
export const VALID_PARAMS: { readonly [M in Method]: Record<string, unknown> } = {
  ready: {},
  rows: { start: 100, count: 100, tree: 'base' },
  setQuery: { query: 'layers 3 q_proj', rows: 100, tree: 'file' },
  setGrouping: { grouping: 'module' },
  setExpanded: { id: 4, expanded: true, tree: 'file' },
  expandAll: { tree: 'base' },
  collapseAll: {},
  reveal: { path: 'model.layers.0', tree: 'base' },
  metadataValue: { key: 'ss_network_alpha' },
  copyText: { text: 'model.layers.0.self_attn.q_proj', what: '"q_proj"' },
  mapping: {},
  mappingRows: { start: 100, count: 100 },
  mappingQuery: { query: 'q_proj' },
  mappingSelect: { index: 3 },
  mappingTable: {},
  selectBase: {},
  setOverride: { module: 'm', target: null },
  clearOverride: { module: 'm' },
  retarget: { module: 'm' },
  computeStats: {},
  baseModel: {},
  fileModel: {},
  smoke: {},
  runSmoke: {},
  cancelSmoke: {},
  compareReady: {},
  compareRows: { section: 'renamed', start: 0, count: 100 },
  compareNorms: {},
};
