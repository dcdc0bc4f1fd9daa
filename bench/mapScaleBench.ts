/**
 * Mapping at scale (issue 15, goal 4): `map` of a 10,000-module PEFT adapter onto a base of
 * 1,000,000 parameters, goal < 2 s. The base is a wide, deep MoE-shaped model: 1,000 layers, each
 * with attention (q/k/v/o), two norms, a router and 331 experts × gate/up/down (1,000 tensors a
 * layer, four shapes). The adapter targets q/k/v/o of every layer and gate/up/down of two experts a
 * layer. Baseline, measured in the same run: the exact-name join, i.e. building a Map of the base's
 * tensor names and looking up `<module>.weight` for every module (the floor any mapper pays).
 */
import {
  summarizeDtypes,
  type CheckpointInfo,
  type TensorInfo,
} from '../src/core/formats/checkpoint.js';
import { analyzeLoraSync, type LoraAnalysis } from '../src/core/lora/index.js';
import { mapAdapter } from '../src/core/mapping/index.js';

const GOAL_MS = 2000;
const LAYERS = Number(process.env.MAP_SCALE_LAYERS ?? 1000);
const EXPERTS = 331;
const ADAPTED_EXPERTS = 2;
const HIDDEN = 64;
const FFN = 32;

type Spec = readonly [string, readonly number[]];

/** The tensors of one layer, in checkpoint order. */
function layerSpecs(): Spec[] {
  const out: Spec[] = [
    ['self_attn.q_proj', [HIDDEN, HIDDEN]],
    ['self_attn.k_proj', [HIDDEN / 2, HIDDEN]],
    ['self_attn.v_proj', [HIDDEN / 2, HIDDEN]],
    ['self_attn.o_proj', [HIDDEN, HIDDEN]],
    ['input_layernorm', [HIDDEN]],
    ['post_attention_layernorm', [HIDDEN]],
    ['mlp.gate', [EXPERTS, HIDDEN]],
  ];
  for (let e = 0; e < EXPERTS; e++) {
    out.push([`mlp.experts.${e}.gate_proj`, [FFN, HIDDEN]]);
    out.push([`mlp.experts.${e}.up_proj`, [FFN, HIDDEN]]);
    out.push([`mlp.experts.${e}.down_proj`, [HIDDEN, FFN]]);
  }
  return out;
}

function info(entries: Iterable<Spec>): CheckpointInfo {
  let offset = 0;
  const tensors: TensorInfo[] = [];
  for (const [name, shape] of entries) {
    const parameterCount = shape.reduce((a, b) => a * b, 1);
    tensors.push({
      name,
      dtype: 'F16',
      shape,
      offset,
      byteLength: parameterCount * 2,
      parameterCount,
    });
    offset += parameterCount * 2;
  }
  return {
    format: 'safetensors',
    name: 'bench',
    fileSize: offset,
    headerByteLength: 0,
    tensors,
    metadata: Object.create(null) as Record<string, string>,
    parameterCount: tensors.reduce((a, t) => a + t.parameterCount, 0),
    dataBytes: offset,
    dtypes: summarizeDtypes(tensors),
  };
}

export interface ScaleCase {
  readonly base: CheckpointInfo;
  readonly adapter: { readonly analysis: LoraAnalysis; readonly info: CheckpointInfo };
  /** Module name → the base parameter it must map to. */
  readonly expected: ReadonlyMap<string, string>;
}

export function scaleCase(layers = LAYERS): ScaleCase {
  const specs = layerSpecs();
  const base: Spec[] = [['model.embed_tokens.weight', [1000, HIDDEN]]];
  const adapter: Spec[] = [];
  const expected = new Map<string, string>();
  for (let l = 0; l < layers; l++) {
    for (const [k, shape] of specs) {
      const name = `model.layers.${l}.${k}.weight`;
      base.push([name, shape]);
      const expert = /^mlp\.experts\.(\d+)\./.exec(k);
      const adapted = k.startsWith('self_attn.') || (expert && Number(expert[1]) < ADAPTED_EXPERTS);
      const [out = 0, inF = 0] = shape;
      if (!adapted) continue;
      const mod = `base_model.model.model.layers.${l}.${k}`;
      adapter.push([`${mod}.lora_A.weight`, [8, inF]]);
      adapter.push([`${mod}.lora_B.weight`, [out, 8]]);
      expected.set(mod, name);
    }
  }
  base.push(['model.norm.weight', [HIDDEN]], ['lm_head.weight', [1000, HIDDEN]]);
  const adapterInfo = info(adapter);
  return {
    base: info(base),
    adapter: { analysis: analyzeLoraSync(adapterInfo), info: adapterInfo },
    expected,
  };
}

/** The floor: a Map of the base's names, then one lookup per module. */
function exactJoin(c: ScaleCase): number {
  const names = new Map<string, number>();
  c.base.tensors.forEach((t, i) => names.set(t.name, i));
  let hits = 0;
  for (const m of c.adapter.analysis.modules) {
    const path = m.name.replace(/^base_model\.model\./, '');
    if (names.has(`${path}.weight`)) hits++;
  }
  return hits;
}

function time(fn: () => unknown): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

export function benchMapScale(rounds = Number(process.env.MAP_SCALE_ROUNDS ?? 3)): string[] {
  const c = scaleCase();
  const modules = c.adapter.analysis.modules.length;
  const ours: number[] = [];
  const floor: number[] = [];
  let correct = 0;
  for (let i = 0; i < rounds; i++) {
    floor.push(time(() => exactJoin(c)));
    let r: ReturnType<typeof mapAdapter> | undefined;
    ours.push(time(() => (r = mapAdapter(c.adapter, c.base))));
    if (i === 0 && r) {
      for (const m of r.mappings) if (c.expected.get(m.module) === m.target) correct++;
    }
  }
  const o = median(ours);
  const f = median(floor);
  const n = (x: number): string => x.toLocaleString('en-US');
  return [
    `map at scale: ${n(modules)} modules onto ${n(c.base.tensors.length)} parameters, median of ${rounds}`,
    `  baseline (exact-name join: Map of base names + one lookup per module)  ${f.toFixed(1)} ms`,
    `  lora-lens mapAdapter                                                 ${o.toFixed(1)} ms  (${correct}/${n(c.expected.size)} correct)`,
    `  ratio to baseline ${(o / f).toFixed(1)}×; goal < ${n(GOAL_MS)} ms: ${o < GOAL_MS ? 'met' : 'NOT met'}`,
  ];
}

// The guard holds under tsx; bundled as ESM (bench/run.ts) `module` is not defined.
if (typeof module !== 'undefined' && require.main === module) {
  for (const l of benchMapScale()) console.log(l);
}
