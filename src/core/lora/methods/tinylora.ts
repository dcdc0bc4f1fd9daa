/**
 * TinyLoRA (PEFT `tinylora_A` [r, in], `tinylora_B` [out, r]: the frozen truncated SVD of the base
 * weight; `tinylora_P` [u, r, r]: fixed random projections): ΔW = B·R·A with R = Σᵢ v[i]·P[i], v [u] one
 * of the global `base_model.tinylora_v.<g>`. PEFT numbers the n targeted modules in model order and
 * gives module j the group min(⌊j / size⌋, G − 1), G = max(1, round(n·(1 − weight_tying))), size =
 * max(1, ⌊n / G⌋); the order is not in the file, so moduleOrder.ts recovers it from the names.
 */
import type { PlainObject } from '../checkpointFacts.js';
import { moduleOrder } from './moduleOrder.js';
import { ADAPTER_NAME, facts, fmt, partOf } from './shapeHelpers.js';
import {
  boolSetting,
  invalid,
  numberSetting,
  partName,
  projectionsMissing,
  projectionsMissingError,
  sharedName,
} from './peftSettings.js';
import { matmul } from './linalg.js';
import type { AdapterMethod, DescribeContext, MethodSettings } from './types.js';
import type { TensorInfo } from '../../formats/checkpoint.js';

const A = 'tinylora_A';
const B = 'tinylora_B';
const P = 'tinylora_P';
/** PEFT 0.21's TinyLoraConfig defaults. */
const DEFAULTS = { r: 2, u: 64, weight_tying: 0, projection_seed: 42, save_projection: true };
const PART_RE = new RegExp(String.raw`^(.*)\.(tinylora_[ABP])${ADAPTER_NAME}$`);
const V_RE = /^base_model\.tinylora_v\.(\d+)$/;

/** Python's round(): halves go to the even neighbour. */
function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d !== 0.5) return Math.round(x);
  return f % 2 === 0 ? f : f + 1;
}

interface Grouping {
  /** Module name (as in the file) → its v group, null when the order is not known. */
  readonly groups: ReadonlyMap<string, number | null>;
  readonly count: number;
  readonly scheme: string | null;
  readonly problem: string | null;
}

const GROUPINGS = new WeakMap<ReadonlyMap<string, TensorInfo>, Grouping>();

function grouping(ctx: DescribeContext, weightTying: number): Grouping {
  const hit = GROUPINGS.get(ctx.tensors);
  if (hit) return hit;
  const modules = [...ctx.tensors.keys()].flatMap((n) => {
    const m = PART_RE.exec(n);
    return m?.[2] === A && m[1] ? [m[1]] : [];
  });
  const path = (name: string): string => name.replace(/^base_model\.model\./, '');
  const byPath = new Map(modules.map((n) => [path(n), n]));
  const n = modules.length;
  const count = Math.max(1, pyRound(n * (1 - weightTying)));
  const size = Math.max(1, Math.floor(n / count));
  const { order, scheme, undecided } = moduleOrder([...byPath.keys()], ctx.config);
  const known = count === 1 || undecided === null;
  const groups = new Map<string, number | null>();
  order.forEach((p, j) => {
    groups.set(byPath.get(p) as string, known ? Math.min(Math.floor(j / size), count - 1) : null);
  });
  const problem = known
    ? null
    : `TinyLoRA gives each v group to modules in the model's module order, which the adapter does not record, and LoRA Lens cannot tell whether ${undecided?.[0]} comes before ${undecided?.[1]} (weight_tying = ${weightTying}: ${count} groups of v for ${n} modules)`;
  const g = { groups, count, scheme, problem };
  GROUPINGS.set(ctx.tensors, g);
  return g;
}

function vCount(tensors: ReadonlyMap<string, TensorInfo>): number {
  let c = 0;
  for (const n of tensors.keys()) if (V_RE.test(n)) c++;
  return c;
}

function readSettings(cfg: PlainObject | null, problems: string[]) {
  return {
    r: numberSetting(cfg, 'r', DEFAULTS.r, problems, true),
    u: numberSetting(cfg, 'u', DEFAULTS.u, problems, true),
    weightTying: numberSetting(cfg, 'weight_tying', DEFAULTS.weight_tying, problems),
    seed: numberSetting(cfg, 'projection_seed', DEFAULTS.projection_seed, problems, true),
    save: boolSetting(cfg, 'save_projection', DEFAULTS.save_projection, problems),
  };
}

export const tinylora: AdapterMethod = {
  id: 'tinylora',
  label: 'TinyLoRA',
  peftType: 'TINYLORA',
  parts: [{ re: PART_RE, part: (m) => m[2] ?? '' }],
  hint: String.raw`\.tinylora_[ABP]`,
  recognise: (m) => m.parts.has(A) && m.parts.has(B),
  describe(raw, ctx) {
    const part = partOf(raw);
    const a = part(A)?.shape ?? [];
    const b = part(B)?.shape ?? [];
    const p = part(P)?.shape;
    const problems: string[] = [];
    const s = readSettings(ctx.config, problems);
    const ok = a.length === 2 && b.length === 2 && a[0] === b[1];
    if (!ok) problems.push(`${A} ${fmt(a)} and ${B} ${fmt(b)} do not share a rank`);
    const rank = ok ? (a[0] ?? null) : null;
    if (!p) problems.push(projectionsMissing(P, 'projection_seed', s.seed, s.save));
    else if (p.length !== 3 || p[1] !== rank || p[2] !== rank)
      problems.push(`${P} ${fmt(p)} is not [u, ${rank ?? 'r'}, ${rank ?? 'r'}]`);
    else if (ctx.config && s.u !== null && p[0] !== s.u)
      problems.push(`adapter_config u = ${s.u} but ${P} ${fmt(p)} holds ${p[0]}`);
    if (s.weightTying !== null && (s.weightTying < 0 || s.weightTying > 1))
      problems.push(`weight_tying ${s.weightTying} is not between 0 and 1`);

    const g = s.weightTying === null ? null : grouping(ctx, s.weightTying);
    const group = g?.groups.get(raw.name) ?? null;
    if (g?.problem) problems.push(g.problem);
    const saved = vCount(ctx.tensors);
    if (g && saved !== g.count)
      problems.push(
        `the file has ${saved} tinylora_v vectors, weight_tying = ${s.weightTying} gives ${g.count} groups`,
      );
    const vName = group === null ? undefined : `base_model.tinylora_v.${group}`;
    const v = vName ? ctx.tensors.get(vName) : undefined;
    if (vName && !v) problems.push(`${vName} (this module's v group) is not in the file`);
    else if (v && p && (v.shape.length !== 1 || v.shape[0] !== p[0]))
      problems.push(`${vName} ${fmt(v.shape)} does not match ${P} ${fmt(p)}`);

    const settings: MethodSettings = {
      r: s.r,
      u: s.u,
      weight_tying: s.weightTying,
      projection_seed: s.seed,
      save_projection: s.save,
      v_group: group,
      module_order: g?.scheme ?? null,
    };
    const kind = raw.name.endsWith('embed_tokens') ? 'TinyLoRA embedding' : 'TinyLoRA';
    return {
      ...facts(
        'tinylora',
        `${kind} (v group ${group ?? '?'})`,
        rank,
        null,
        ok ? (a[1] ?? null) : null,
        ok ? (b[0] ?? null) : null,
        {
          problems,
        },
      ),
      settings,
      ...(v && vName ? { shared: { tinylora_v: vName } } : {}),
      scale: { value: 1, rule: '1 (TinyLoRA has no scale)' },
    };
  },
  async effect(m, io) {
    const settings = m.method?.settings;
    if (!m.parts[P]) {
      throw projectionsMissingError(m, `TinyLoRA needs ${P}`, 'projection_seed');
    }
    if (typeof settings?.['v_group'] !== 'number')
      throw invalid(
        m,
        "TinyLoRA cannot tell which tinylora_v this module uses: the model's module order is not known",
      );
    const vName = sharedName(m, 'tinylora_v', `tinylora_v.${settings['v_group']}`);
    const [r = 0, inF = 0] = io.tensor(partName(m, A)).shape;
    const [out = 0] = io.tensor(partName(m, B)).shape;
    const [u = 0] = io.tensor(partName(m, P)).shape;
    const [wOut = out, wIn = inF] = io.weightShape;
    if (wOut !== out || wIn !== inF || io.weightShape.length > 2)
      throw invalid(
        m,
        `TinyLoRA A [${r}, ${inF}] / B [${out}, ${r}] do not fit the layer [${io.weightShape.join(', ')}]`,
      );
    const v = await io.read(vName);
    if (v.length !== u)
      throw invalid(m, `${vName} holds ${v.length} values, ${P} ${u} projections`);
    const proj = await io.read(partName(m, P));
    const rMat = new Float64Array(r * r);
    for (let i = 0; i < u; i++) {
      const vi = v[i] as number;
      for (let k = 0; k < r * r; k++)
        rMat[k] = (rMat[k] as number) + vi * (proj[i * r * r + k] as number);
    }
    // ΔW = (B·R)·A: the frozen SVD factor A stays as is, R folds into B.
    const b = matmul(await io.read(partName(m, B)), rMat, out, r, r);
    return { kind: 'low-rank', a: await io.read(partName(m, A)), b, rank: r, scale: 1 };
  },
};
