/**
 * ONNX graphs of one LoRA-patched module, built in memory with onnx-proto (IR 8, opset 17).
 *
 * The base weight W, the pair A/B and the scale s are graph *inputs* with symbolic dims, so one session
 * per variant serves every module of that variant: switching adapters is a new set of feeds, never a
 * rebuild (the same mechanism as ORT's C-API LoRA adapters, onnxruntime.md §9). Every graph has three
 * outputs, `base` (W·x), `delta` (what the adapter adds) and `y`, so the delta ratio comes from ORT's
 * own numbers.
 */
import { onnx } from 'onnx-proto';
import { effectParts, isEffectVariant, type EffectVariant } from './effectGraphs.js';
import { FLOAT, INT64, node, valueInfo, type GraphParts } from './graphNodes.js';

export const GRAPH_OPSET = 17;

/**
 * - `linear`: W fed as [out, in] (PyTorch Linear); `linear-wt`: W fed as stored [in, out] (ONNX MatMul
 *   weights, GPT-2 Conv1D).
 * - `dora-linear(-wt)`: the DoRA forward `m/‖W+s·B·A‖ · (W·x + s·B·A·x)` with the magnitude m as input.
 * - `conv`: 2-D conv, A is a conv in→r with the base kernel, B a 1×1 conv r→out.
 * - `embedding`: Gather(W, wids) + s·Gather(Aᵀ, ids)·Bᵀ (wids index the rows of W that are fed).
 */
export type GraphVariant =
  'linear' | 'linear-wt' | 'dora-linear' | 'dora-linear-wt' | 'conv' | 'embedding' | EffectVariant;

export interface ConvAttrs {
  readonly kernel: readonly [number, number];
  /** [top, left, bottom, right], as ONNX `pads` wants them. */
  readonly pads: readonly [number, number, number, number];
}

export interface GraphSpec {
  readonly variant: GraphVariant;
  /** Static attributes of the conv variant (sessions are keyed by them). */
  readonly conv?: ConvAttrs;
}

/** Same-size conv, stride 1, dilation 1, groups 1: all the smoke test can assume from shapes alone. */
export function sameConv(kh: number, kw: number): ConvAttrs {
  const ph = Math.floor(kh / 2);
  const pw = Math.floor(kw / 2);
  return { kernel: [kh, kw], pads: [ph, pw, ph, pw] };
}

/** Key of the session cache: two specs with the same signature build the same graph. */
export function graphSignature(spec: GraphSpec): string {
  if (spec.variant !== 'conv') return spec.variant;
  const c = spec.conv ?? sameConv(1, 1);
  return `conv:k${c.kernel.join('x')}:p${c.pads.join(',')}`;
}

/** s·(x·Aᵀ)·Bᵀ through two Gemms, so neither A nor B is ever transposed in memory. */
function lowRankLinear(out: string): onnx.INodeProto[] {
  return [
    node('Gemm', ['x', 'a'], 'xa', { transB: 1 }),
    node('Gemm', ['xa', 'b'], 'xab', { transB: 1 }),
    node('Mul', ['xab', 's'], out),
  ];
}

function linearParts(wTransposed: boolean): GraphParts {
  return {
    inputs: [
      valueInfo('x', FLOAT, ['batch', 'in']),
      valueInfo('w', FLOAT, wTransposed ? ['in', 'out'] : ['out', 'in']),
      valueInfo('a', FLOAT, ['r', 'in']),
      valueInfo('b', FLOAT, ['out', 'r']),
      valueInfo('s', FLOAT, [1]),
    ],
    outputs: ['base', 'delta', 'y'].map((n) => valueInfo(n, FLOAT, ['batch', 'out'])),
    nodes: [
      node('Gemm', ['x', 'w'], 'base', { transB: wTransposed ? 0 : 1 }),
      ...lowRankLinear('delta'),
      node('Add', ['base', 'delta'], 'y'),
    ],
  };
}

/**
 * PEFT's DoRA forward (onnxruntime.md §14) for a bias-free linear:
 * y = base + (m/‖W+ΔW‖ − 1)·base + (m/‖W+ΔW‖)·s·B·A·x = m/‖W+ΔW‖ · (base + s·B·A·x).
 */
function doraParts(wTransposed: boolean): GraphParts {
  const lin = linearParts(wTransposed);
  const w = wTransposed ? 'w_oi' : 'w';
  return {
    inputs: [...lin.inputs, valueInfo('m', FLOAT, ['out'])],
    outputs: lin.outputs,
    nodes: [
      ...(wTransposed ? [node('Transpose', ['w'], 'w_oi', { perm: [1, 0] })] : []),
      node('Gemm', ['x', w], 'base', { transB: 1 }),
      ...lowRankLinear('lora'),
      node('MatMul', ['b', 'a'], 'ba'),
      node('Mul', ['ba', 's'], 'dw'),
      node('Add', [w, 'dw'], 'w_new'),
      node('ReduceL2', ['w_new'], 'norm', { axes: [1], keepdims: 0 }),
      node('Div', ['m', 'norm'], 'factor'),
      node('Add', ['base', 'lora'], 'sum'),
      node('Mul', ['sum', 'factor'], 'y'),
      node('Sub', ['y', 'base'], 'delta'),
    ],
  };
}

function convParts(c: ConvAttrs): GraphParts {
  const base = { kernel_shape: c.kernel, pads: c.pads, strides: [1, 1], dilations: [1, 1] };
  const one = { kernel_shape: [1, 1], pads: [0, 0, 0, 0], strides: [1, 1], dilations: [1, 1] };
  const out = ['batch', 'out', 'oh', 'ow'];
  return {
    inputs: [
      valueInfo('x', FLOAT, ['batch', 'in', 'h', 'w_']),
      valueInfo('w', FLOAT, ['out', 'in', c.kernel[0], c.kernel[1]]),
      valueInfo('a', FLOAT, ['r', 'in', c.kernel[0], c.kernel[1]]),
      valueInfo('b', FLOAT, ['out', 'r', 1, 1]),
      valueInfo('s', FLOAT, [1]),
    ],
    outputs: ['base', 'delta', 'y'].map((n) => valueInfo(n, FLOAT, out)),
    nodes: [
      node('Conv', ['x', 'w'], 'base', base),
      node('Conv', ['x', 'a'], 'xa', base),
      node('Conv', ['xa', 'b'], 'xab', one),
      node('Mul', ['xab', 's'], 'delta'),
      node('Add', ['base', 'delta'], 'y'),
    ],
  };
}

/** PEFT embedding LoRA: lora_embedding_A is [r, vocab], lora_embedding_B is [dim, r]. */
function embeddingParts(): GraphParts {
  return {
    inputs: [
      valueInfo('ids', INT64, ['batch']),
      // W is gathered by its own index: the check feeds only the rows it needs (a 128k-token table is
      // 2 GB as float32), numbered 0…batch-1, while A is gathered by the real token ids.
      valueInfo('wids', INT64, ['batch']),
      valueInfo('w', FLOAT, ['rows', 'dim']),
      valueInfo('a', FLOAT, ['r', 'vocab']),
      valueInfo('b', FLOAT, ['dim', 'r']),
      valueInfo('s', FLOAT, [1]),
    ],
    outputs: ['base', 'delta', 'y'].map((n) => valueInfo(n, FLOAT, ['batch', 'dim'])),
    nodes: [
      node('Gather', ['w', 'wids'], 'base', { axis: 0 }),
      node('Gather', ['a', 'ids'], 'a_cols', { axis: 1 }),
      node('Transpose', ['a_cols'], 'a_rows', { perm: [1, 0] }),
      node('Gemm', ['a_rows', 'b'], 'ab', { transB: 1 }),
      node('Mul', ['ab', 's'], 'delta'),
      node('Add', ['base', 'delta'], 'y'),
    ],
  };
}

function partsOf(spec: GraphSpec): GraphParts {
  if (isEffectVariant(spec.variant)) return effectParts(spec.variant);
  switch (spec.variant) {
    case 'linear':
      return linearParts(false);
    case 'linear-wt':
      return linearParts(true);
    case 'dora-linear':
      return doraParts(false);
    case 'dora-linear-wt':
      return doraParts(true);
    case 'conv':
      return convParts(spec.conv ?? sameConv(1, 1));
    case 'embedding':
      return embeddingParts();
  }
}

/** The serialized ModelProto of one variant. */
export function buildModuleGraph(spec: GraphSpec): Uint8Array {
  const p = partsOf(spec);
  const model: onnx.IModelProto = {
    irVersion: 8,
    producerName: 'lora-lens',
    opsetImport: [{ domain: '', version: GRAPH_OPSET }],
    graph: {
      name: `lora_${graphSignature(spec).replace(/[^a-z0-9]+/gi, '_')}`,
      node: p.nodes,
      input: p.inputs,
      output: p.outputs,
    },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}
