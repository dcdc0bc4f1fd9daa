/**
 * The order in which a transformers model lists its modules (`named_modules()`), recovered from module
 * paths alone: TinyLoRA ties its trained vectors to modules by that order, and the adapter does not
 * record it (safetensors sorts its keys). Numbered blocks sort by number; siblings sort by the order
 * their architecture defines them, when the naming says which architecture it is. Anything else is
 * reported as uncertain, never guessed silently.
 */
import type { PlainObject } from '../checkpointFacts.js';

interface NamingScheme {
  readonly name: string;
  /** transformers model folders (`transformers.models.<x>.modeling_<x>`) that use this naming. */
  readonly archs: readonly string[];
  /** Leaf names only this naming uses: seeing one identifies it. */
  readonly marks: readonly string[];
  /** Sibling names in definition order; two names are ordered by the first sequence holding both. */
  readonly sequences: readonly (readonly string[])[];
}

const SCHEMES: readonly NamingScheme[] = [
  {
    name: 'Llama',
    archs: [
      'llama',
      'mistral',
      'qwen2',
      'qwen3',
      'gemma',
      'gemma2',
      'olmo',
      'olmo2',
      'granite',
      'phi3',
    ],
    marks: ['o_proj', 'gate_proj', 'up_proj', 'down_proj', 'qkv_proj', 'gate_up_proj'],
    sequences: [
      ['model', 'lm_head'],
      ['embed_tokens', 'layers', 'norm'],
      ['self_attn', 'mlp'],
      ['q_proj', 'k_proj', 'v_proj', 'qkv_proj', 'o_proj'],
      ['gate_proj', 'up_proj', 'gate_up_proj', 'down_proj'],
    ],
  },
  {
    name: 'OPT',
    archs: ['opt'],
    marks: ['out_proj', 'fc1', 'fc2'],
    sequences: [
      ['model', 'lm_head'],
      ['embed_tokens', 'embed_positions', 'project_out', 'project_in', 'layers'],
      ['self_attn', 'fc1', 'fc2'],
      ['k_proj', 'v_proj', 'q_proj', 'out_proj'],
    ],
  },
  {
    name: 'GPT-2',
    archs: ['gpt2'],
    marks: ['c_attn', 'c_fc'],
    sequences: [
      ['transformer', 'lm_head'],
      ['wte', 'wpe', 'h'],
      ['attn', 'mlp'],
      ['c_attn', 'c_fc', 'c_proj'],
    ],
  },
];

export interface ModuleOrder {
  /** The paths in model order (as far as it is known). */
  readonly order: readonly string[];
  /** The naming the order follows, null when none was recognised. */
  readonly scheme: string | null;
  /** A pair whose order the naming does not decide, when there is one. */
  readonly undecided: readonly [string, string] | null;
}

/** `transformers.models.llama.modeling_llama` in the config's auto_mapping → `llama`. */
function archOf(cfg: PlainObject | null): string | null {
  const am = cfg?.['auto_mapping'];
  if (!am || typeof am !== 'object' || Array.isArray(am)) return null;
  const lib = (am as PlainObject)['parent_library'];
  const m = typeof lib === 'string' ? /^transformers\.models\.([\w]+)\./.exec(lib) : null;
  return m?.[1] ?? null;
}

function schemeFor(paths: readonly string[], cfg: PlainObject | null): NamingScheme | null {
  const arch = archOf(cfg);
  if (arch) return SCHEMES.find((s) => s.archs.includes(arch)) ?? null;
  const names = new Set(paths.flatMap((p) => p.split('.')));
  const hits = SCHEMES.filter((s) => s.marks.some((n) => names.has(n)));
  return hits.length === 1 ? (hits[0] ?? null) : null;
}

const NUMBER = /^\d+$/;

/** Module paths (no `base_model.model.`) in the order the model would list them. */
export function moduleOrder(paths: readonly string[], cfg: PlainObject | null): ModuleOrder {
  const scheme = schemeFor(paths, cfg);
  let undecided: [string, string] | null = null;
  const compare = (x: string, y: string): number => {
    const a = x.split('.');
    const b = y.split('.');
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const p = a[i] as string;
      const q = b[i] as string;
      if (p === q) continue;
      if (NUMBER.test(p) && NUMBER.test(q)) return Number(p) - Number(q);
      const seq = scheme?.sequences.find((s) => s.includes(p) && s.includes(q));
      if (seq) return seq.indexOf(p) - seq.indexOf(q);
      undecided ??= [x, y];
      return p < q ? -1 : 1;
    }
    // A parent comes before its children (named_modules walks depth first).
    return a.length - b.length;
  };
  const order = [...paths].sort(compare);
  return { order, scheme: scheme?.name ?? null, undecided };
}
