import type { TensorInfo } from '../formats/checkpoint.js';
import { methodOf } from './methods/registry.js';
import type { MethodId } from './methods/types.js';
import { tensorPart, type PartStyle } from './tensorParts.js';

/** Tensors that share a module prefix (and adapter name), before any shape reasoning. */
export interface RawModule {
  readonly name: string;
  readonly adapter?: string;
  readonly parts: Map<string, TensorInfo>;
  readonly styles: Set<PartStyle>;
}

/** The adapter method that owns a module (methods/registry.ts). */
export type Algorithm = MethodId;

export interface GroupedTensors {
  readonly modules: RawModule[];
  /** Tensors no adapter suffix explains. */
  readonly loose: TensorInfo[];
}

const key = (module: string, adapter: string | undefined): string =>
  adapter ? `${module}\u0000${adapter}` : module;

/** Groups tensors by module, in file order of each module's first tensor. */
export function groupTensors(tensors: readonly TensorInfo[]): GroupedTensors {
  const byKey = new Map<string, RawModule>();
  const loose: TensorInfo[] = [];
  // Indexed: every tensor of a file, once per open, mostly unoptimised (for…of allocates per step).
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i] as TensorInfo;
    // Optimizer moments mirror adapter names (exp_avg of lora_A); they are never adapter tensors.
    const p = t.role === 'optimizer' ? undefined : tensorPart(t.name);
    if (!p) {
      loose.push(t);
      continue;
    }
    const k = key(p.module, p.adapter);
    let m = byKey.get(k);
    if (!m) {
      m = {
        name: p.module,
        parts: new Map(),
        styles: new Set(),
        ...(p.adapter ? { adapter: p.adapter } : {}),
      };
      byKey.set(k, m);
    }
    if (m.parts.has(p.part)) {
      loose.push(t); // a duplicate part cannot belong to the module twice
      continue;
    }
    m.parts.set(p.part, t);
    m.styles.add(p.style);
  }
  claimContextualParts(byKey, loose);
  return { modules: [...byKey.values()], loose };
}

/**
 * Suffixes too generic to match alone: LyCORIS (IA)³ keeps its vector as `x.weight` beside `x.on_input`,
 * and MLX DoRA its magnitude as `x.m` beside `x.lora_a`.
 */
function claimContextualParts(byKey: Map<string, RawModule>, loose: TensorInfo[]): void {
  if (byKey.size === 0) return; // a model: nothing to claim, and no map of its tensors to build
  const looseByName = new Map(loose.map((t, i) => [t.name, i]));
  const claimed = new Set<number>();
  for (const m of byKey.values()) {
    const wanted: [string, string][] = [];
    if (m.parts.has('on_input')) wanted.push([`${m.name}.weight`, 'weight']);
    if (m.styles.has('lower-ab')) wanted.push([`${m.name}.m`, 'magnitude']);
    for (const [name, part] of wanted) {
      const i = looseByName.get(name);
      const t = i === undefined ? undefined : loose[i];
      if (i === undefined || !t || m.parts.has(part)) continue;
      m.parts.set(part, t);
      claimed.add(i);
    }
  }
  if (!claimed.size) return;
  const kept = loose.filter((_, i) => !claimed.has(i));
  loose.length = 0;
  loose.push(...kept);
}

/** The method whose required parts the module has, or undefined (an orphan). */
export function algorithmOf(m: RawModule): Algorithm | undefined {
  return methodOf(m)?.id;
}

/** Which parts an orphan lacks, for the warning. */
export function missingParts(m: RawModule): string {
  const has = (p: string): boolean => m.parts.has(p);
  for (const [part, other] of [
    ['down', 'up'],
    ['up', 'down'],
  ] as const) {
    if (has(part) && !has(other)) {
      const label = partLabel(m, part);
      return `${label} without ${partnerLabel(label)}`;
    }
  }
  const parts = [...m.parts.keys()];
  if (parts.some((p) => p.startsWith('hada_'))) {
    const need = ['hada_w1_a', 'hada_w1_b', 'hada_w2_a', 'hada_w2_b'].filter((p) => !has(p));
    return `LoHa without ${need.join(' + ')}`;
  }
  if (parts.some((p) => p.startsWith('lokr_'))) return 'LoKr without both Kronecker factors';
  return `only ${parts.join(', ')}, no adapter weights`;
}

/** The part's suffix as the file spells it: lora_A, lora_down, lora_embedding_B, down, … */
function partLabel(m: RawModule, part: string): string {
  const t = m.parts.get(part);
  return t ? t.name.slice(m.name.length + 1).replace(/\.weight$/, '') : part;
}

const SWAP: Readonly<Record<string, string>> = {
  lora_A: 'lora_B',
  lora_B: 'lora_A',
  lora_embedding_A: 'lora_embedding_B',
  lora_embedding_B: 'lora_embedding_A',
  lora_down: 'lora_up',
  lora_up: 'lora_down',
  lora_a: 'lora_b',
  lora_b: 'lora_a',
  down: 'up',
  up: 'down',
};

function partnerLabel(label: string): string {
  return label.replace(/lora_embedding_[AB]|lora_(?:down|up|[ABab])|down|up/, (s) => SWAP[s] ?? s);
}
