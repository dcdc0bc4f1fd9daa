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

export interface BaseIndex {
  readonly params: readonly BaseParam[];
  readonly byName: ReadonlyMap<string, BaseParam>;
  readonly byKey: ReadonlyMap<string, readonly BaseParam[]>;
  readonly byIndices: ReadonlyMap<string, readonly BaseParam[]>;
  readonly anonymous: readonly BaseParam[];
  /** Segment names for un-flattening kohya names. */
  readonly vocab: ReadonlySet<string>;
  readonly trie: TrieNode;
  /** The base's UNet block numbering (SD's when the base is no UNet): adapter names use it too. */
  readonly unet: UnetLayout;
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

function describe(t: TensorInfo, onnx: boolean, unet: UnetLayout): BaseParam | null {
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

export function buildBaseIndex(base: CheckpointInfo): BaseIndex {
  const onnx = base.format === 'onnx';
  const params: BaseParam[] = [];
  const byName = new Map<string, BaseParam>();
  const byKey = new Map<string, BaseParam[]>();
  const byIndices = new Map<string, BaseParam[]>();
  const anonymous: BaseParam[] = [];
  const vocab = new Set<string>(KNOWN_SEGMENTS);
  const trie: TrieNode = { children: new Map(), param: null };
  const unet =
    unetLayoutOf(
      base.tensors
        .filter((t) => isWeightName(t.name))
        .map((t) => stripWrappers(modulePathOf(t.name))),
    ) ?? SD_UNET_LAYOUT;
  for (const t of base.tensors) {
    const p = describe(t, onnx, unet);
    if (!p) continue;
    params.push(p);
    byName.set(p.name, p);
    if (p.anonymous) {
      anonymous.push(p);
      continue;
    }
    push(byKey, p.canon.key, p);
    push(byIndices, p.canon.indices.join(','), p);
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
  return { params, byName, byKey, byIndices, anonymous, vocab, trie, unet };
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
