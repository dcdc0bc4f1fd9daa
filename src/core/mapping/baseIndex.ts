/**
 * The base model's parameters of interest (weights of linears, convs, embeddings), indexed for the
 * matcher: by structural key, by layer-index signature (fuzzy fallback), and as a trie of module
 * paths for resolving kohya's flattened `_` names against real module names (as ComfyUI and InvokeAI do).
 */
import type { CheckpointInfo, TensorInfo } from '../formats/checkpoint.js';
import {
  canonicalName,
  modulePathOf,
  onnxNodeModulePath,
  stripWrappers,
  type CanonicalName,
} from './normalize.js';
import { KNOWN_SEGMENTS, USUAL_TARGET_LEAVES } from './synonyms.js';
import { SD_UNET_LAYOUT, unetLayoutOf, type UnetLayout } from './unetLayout.js';
import { ParamStore } from './paramStore.js';

export interface BaseParam {
  /** The parameter name as the base checkpoint spells it. */
  readonly name: string;
  readonly shape: readonly number[];
  /** Module path after wrapper stripping, before conversion (what the trie holds). */
  readonly path: string;
  readonly canon: CanonicalName;
  /** Stored [in, out]: an ONNX MatMul weight or a GPT-2 Conv1D weight. */
  readonly storedTransposed: boolean;
  /** The ONNX node the module path came from, for an anonymous initializer. */
  readonly via: string | null;
  /** The path came from the node's exporter name scope (its own name is generic), not its name. */
  readonly viaScope: boolean;
  /** No module path at all (dynamo ONNX `val_45` fed to `node_linear_3`): only its shape speaks. */
  readonly anonymous: boolean;
  /** Among the usual LoRA targets (attention / MLP projections). */
  readonly usual: boolean;
}

interface TrieNode {
  readonly children: Map<string, TrieNode>;
  param: BaseParam | null;
}

/** What the matcher asks of the index's tables: lookups only, so they can be made on demand. */
export interface Lookup<V> {
  get(key: string): V | undefined;
}

export interface BaseIndex {
  /** Every parameter of interest, in checkpoint order (made on first use: a big base's are many). */
  readonly params: readonly BaseParam[];
  readonly byName: Lookup<BaseParam>;
  readonly byKey: Lookup<readonly BaseParam[]>;
  readonly byIndices: Lookup<readonly BaseParam[]>;
  readonly anonymous: readonly BaseParam[];
  /**
   * 1-D weights (norm scales) by structural key: only modules that replace a vector (LNTuning) look
   * here, so they never crowd the candidates of matrix adapters. They are in `byName` too.
   */
  readonly vectors: ReadonlyMap<string, readonly BaseParam[]>;
  /** Segment names for un-flattening kohya names. */
  readonly vocab: ReadonlySet<string>;
  readonly trie: TrieNode;
  /** The base's UNet block numbering (SD's when the base is no UNet): adapter names use it too. */
  readonly unet: UnetLayout;
  /** Names of the params that are usual LoRA targets, in checkpoint order. */
  usualNames(): string[];
}

const MATRIX_OPS = new Set(['MatMul', 'Gemm', 'Conv', 'Gather', 'MatMulNBits', 'ConvTranspose']);
const GPT2_CONV1D = new Set(['c_attn', 'c_proj', 'c_fc']);

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

const isWeightName = (name: string): boolean =>
  name.endsWith('.weight') || name.endsWith('.in_proj_weight');

/** A named 1-D `.weight` (a norm's scale): what LNTuning replaces. */
export function describeVector(t: TensorInfo, unet: UnetLayout): BaseParam | null {
  if ((t.role && t.role !== 'weight') || t.shape.length !== 1 || !t.name.endsWith('.weight'))
    return null;
  const path = stripWrappers(modulePathOf(t.name));
  return {
    name: t.name,
    shape: t.shape,
    path,
    canon: canonicalName(path, unet),
    storedTransposed: false,
    via: null,
    viaScope: false,
    anonymous: false,
    usual: false,
  };
}

/** One tensor the slow way: what every name took before templates (exported for the differential test). */
export function describe(t: TensorInfo, onnx: boolean, unet: UnetLayout): BaseParam | null {
  if (t.role && t.role !== 'weight') return null;
  if (t.shape.length < 2) return null;
  const consumer = t.consumers?.find((c) => MATRIX_OPS.has(c.op));
  let path: string | null = null;
  let via: string | null = null;
  let viaScope = false;
  if (isWeightName(t.name)) path = stripWrappers(modulePathOf(t.name));
  else if (onnx && consumer) {
    // `/model/layers.0/self_attn/q_proj/MatMul`, else (dynamo `node_linear_3`) the traced scope.
    const fromNode = onnxNodeModulePath(consumer.node) ?? consumer.scope ?? null;
    if (fromNode) {
      path = stripWrappers(fromNode);
      via = consumer.node;
      viaScope = onnxNodeModulePath(consumer.node) === null;
    }
  } else return null;
  const anonymous = path === null;
  const canon = canonicalName(path ?? t.name, unet);
  const leaf = canon.segments[canon.segments.length - 1] ?? '';
  const storedTransposed =
    (onnx && consumer?.op === 'MatMul') || (GPT2_CONV1D.has(leaf) && t.shape.length === 2);
  const usual =
    !anonymous &&
    (t.shape.length === 2 || t.shape.slice(2).every((k) => k === 1)) &&
    (canon.role !== null ||
      USUAL_TARGET_LEAVES.has(leaf) ||
      /(^|\.)(ff\.net|img_mlp|txt_mlp)\./.test(canon.path + '.'));
  return {
    name: t.name,
    shape: t.shape,
    path: path ?? t.name,
    canon,
    storedTransposed,
    via,
    viaScope,
    anonymous,
    usual,
  };
}

/** First segments (wrappers stripped) that unetLayoutOf reads; other paths cannot change the layout. */
const UNET_HEADS = new Set([
  'input_blocks',
  'output_blocks',
  'middle_block',
  'down_blocks',
  'up_blocks',
  'mid_block',
]);

const onnxFormat = (base: CheckpointInfo): boolean => base.format === 'onnx';

function unetLayoutOfBase(base: CheckpointInfo): UnetLayout {
  const paths: string[] = [];
  for (const t of base.tensors) {
    if (!isWeightName(t.name)) continue;
    // Every head unetLayoutOf reads has `_block` in it: skip the others before any string work.
    if (!t.name.includes('_block')) continue;
    const p = stripWrappers(modulePathOf(t.name));
    const dot = p.indexOf('.');
    if (UNET_HEADS.has(dot < 0 ? p : p.slice(0, dot))) paths.push(p);
  }
  return unetLayoutOf(paths) ?? SD_UNET_LAYOUT;
}

/** The segment vocabulary and the module trie: only kohya-flattened names need them, so built on first use. */
function buildTrie(params: readonly BaseParam[]): { vocab: Set<string>; trie: TrieNode } {
  const vocab = new Set<string>(KNOWN_SEGMENTS);
  const trie: TrieNode = { children: new Map(), param: null };
  for (const p of params) {
    if (p.anonymous) continue;
    let node = trie;
    for (const seg of p.path.split('.')) {
      vocab.add(seg);
      let next = node.children.get(seg);
      if (!next) {
        next = { children: new Map(), param: null };
        node.children.set(seg, next);
      }
      node = next;
    }
    node.param ??= p;
  }
  return { vocab, trie };
}

/** `templates: false` describes every tensor the slow way (what the template path must agree with). */
export function buildBaseIndex(
  base: CheckpointInfo,
  options: { readonly templates?: boolean } = {},
): BaseIndex {
  const templates = !onnxFormat(base) && options.templates !== false;
  const onnx = base.format === 'onnx';
  const unet = unetLayoutOfBase(base);
  const store = new ParamStore(base.tensors);
  const anonymous: BaseParam[] = [];
  const vectors = new Map<string, BaseParam[]>();
  base.tensors.forEach((t, i) => {
    if (templates && store.tryTemplate(t, i, unet)) return;
    const p = describe(t, onnx, unet);
    if (!p) {
      const v = onnx ? null : describeVector(t, unet);
      if (v) {
        store.addVector(v, i);
        push(vectors, v.canon.key, v);
      }
      return;
    }
    store.addSlow(p, i);
    if (p.anonymous) anonymous.push(p);
  });
  let built: { vocab: Set<string>; trie: TrieNode } | null = null;
  const lazy = (): { vocab: Set<string>; trie: TrieNode } => (built ??= buildTrie(store.all()));
  return {
    get params() {
      return store.all();
    },
    byName: { get: (name) => store.byName(name) },
    byKey: { get: (key) => store.byKey(key) },
    byIndices: { get: (sig) => store.byIndices(sig) },
    anonymous,
    vectors,
    get vocab() {
      return lazy().vocab;
    },
    get trie() {
      return lazy().trie;
    },
    unet,
    usualNames: () => store.usualNames(),
  };
}

/**
 * Resolves a flattened name against the base's module tree: at each node, a child whose name
 * (underscores and all) is a prefix of the rest followed by `_` is followed. Every full resolution
 * is returned; more than one means the flattening is ambiguous for this base.
 */
export function resolveFlat(index: BaseIndex, flat: string): BaseParam[] {
  const out: BaseParam[] = [];
  const walk = (node: TrieNode, rest: string): void => {
    for (const [seg, child] of node.children) {
      if (rest === seg) {
        if (child.param) out.push(child.param);
      } else if (rest.startsWith(seg) && rest.charCodeAt(seg.length) === 95 /* _ */) {
        walk(child, rest.slice(seg.length + 1));
      }
    }
  };
  walk(index.trie, flat);
  return out;
}
