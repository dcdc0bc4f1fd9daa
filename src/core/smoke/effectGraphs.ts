/**
 * Graphs for the methods whose forward is not a LoRA pair (methods/*.ts effects), each in the
 * method's own form: the input rotated before W (OFT, BOFT, HRA), outputs or inputs scaled ((IA)³), a
 * dense ΔW beside W (LoHa, LoKr, FourierFT, C3A, …), a trained copy instead of W (LNTuning,
 * modules_to_save). Low-rank effects (VeRA, AdaLoRA, RandLoRA, VB-LoRA) use the `linear` graph.
 * Every graph has the outputs `base`, `delta` and `y`, like the LoRA ones.
 */
import { FLOAT, node, valueInfo, type GraphParts } from './graphNodes.js';

export type EffectVariant =
  | 'effect-delta'
  | 'effect-rotate'
  | 'effect-scale-out'
  | 'effect-scale-in'
  | 'effect-replace'
  | 'effect-vector';

const VARIANTS: ReadonlySet<string> = new Set<EffectVariant>([
  'effect-delta',
  'effect-rotate',
  'effect-scale-out',
  'effect-scale-in',
  'effect-replace',
  'effect-vector',
]);

export function isEffectVariant(v: string): v is EffectVariant {
  return VARIANTS.has(v);
}

const x = valueInfo('x', FLOAT, ['batch', 'in']);
const w = valueInfo('w', FLOAT, ['out', 'in']);
const outputs = (dims: readonly string[]) =>
  ['base', 'delta', 'y'].map((n) => valueInfo(n, FLOAT, dims));
const baseNode = node('Gemm', ['x', 'w'], 'base', { transB: 1 });

export function effectParts(v: EffectVariant): GraphParts {
  switch (v) {
    case 'effect-delta':
      return {
        inputs: [x, w, valueInfo('d', FLOAT, ['out', 'in'])],
        outputs: outputs(['batch', 'out']),
        nodes: [
          baseNode,
          node('Gemm', ['x', 'd'], 'delta', { transB: 1 }),
          node('Add', ['base', 'delta'], 'y'),
        ],
      };
    case 'effect-rotate':
      // W′ = diag(so)·W·M, so y = so ⊙ W·(M·x): the input is rotated first, as PEFT's forward does.
      return {
        inputs: [x, w, valueInfo('m', FLOAT, ['in', 'in']), valueInfo('so', FLOAT, ['out'])],
        outputs: outputs(['batch', 'out']),
        nodes: [
          baseNode,
          node('Gemm', ['x', 'm'], 'xr', { transB: 1 }),
          node('Gemm', ['xr', 'w'], 'yr', { transB: 1 }),
          node('Mul', ['yr', 'so'], 'y'),
          node('Sub', ['y', 'base'], 'delta'),
        ],
      };
    case 'effect-scale-out':
      return {
        inputs: [x, w, valueInfo('l', FLOAT, ['out'])],
        outputs: outputs(['batch', 'out']),
        nodes: [baseNode, node('Mul', ['base', 'l'], 'y'), node('Sub', ['y', 'base'], 'delta')],
      };
    case 'effect-scale-in':
      return {
        inputs: [x, w, valueInfo('l', FLOAT, ['in'])],
        outputs: outputs(['batch', 'out']),
        nodes: [
          baseNode,
          node('Mul', ['x', 'l'], 'xs'),
          node('Gemm', ['xs', 'w'], 'y', { transB: 1 }),
          node('Sub', ['y', 'base'], 'delta'),
        ],
      };
    case 'effect-replace':
      return {
        inputs: [x, w, valueInfo('w2', FLOAT, ['out', 'in'])],
        outputs: outputs(['batch', 'out']),
        nodes: [
          baseNode,
          node('Gemm', ['x', 'w2'], 'y', { transB: 1 }),
          node('Sub', ['y', 'base'], 'delta'),
        ],
      };
    case 'effect-vector':
      // A norm's weight (LNTuning, LyCORIS norm diffs): y = x ⊙ w′ against base = x ⊙ w.
      return {
        inputs: [
          valueInfo('x', FLOAT, ['batch', 'n']),
          valueInfo('w', FLOAT, ['n']),
          valueInfo('w2', FLOAT, ['n']),
        ],
        outputs: outputs(['batch', 'n']),
        nodes: [
          node('Mul', ['x', 'w'], 'base'),
          node('Mul', ['x', 'w2'], 'y'),
          node('Sub', ['y', 'base'], 'delta'),
        ],
      };
  }
}
