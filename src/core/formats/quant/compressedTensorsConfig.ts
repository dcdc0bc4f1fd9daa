/**
 * compressed-tensors' quantization_config: which config group's weight arguments apply to a module.
 * llm-compressor writes `config_groups: {name: {targets, weights: {num_bits, type, symmetric, strategy,
 * group_size, actorder}, format?}}`, a global `format` and a `sparsity_config`. Targets are module
 * names, `re:` regexes (Python re.match: anchored at the start) or class names ("Linear"); LoRA Lens
 * cannot see classes, so a class target matches any quantized module, below names and regexes.
 */
import type { PlainValue } from '../checkpoint.js';
import {
  configBool,
  configInt,
  configString,
  quantMethod,
  type QuantConfig,
} from './intPacking.js';
import { invalid, unsupported } from './partRead.js';

export interface CtArgs {
  readonly numBits: number;
  readonly type: string;
  readonly symmetric: boolean;
  readonly strategy: 'group' | 'channel' | 'tensor';
  /** Set for strategy "group": a positive integer. */
  readonly groupSize?: number;
  readonly actorder?: string;
  /** A per-group format, overriding the global one. */
  readonly format?: string;
}

interface CtGroup {
  readonly name: string;
  readonly targets: readonly string[];
  readonly weights: QuantConfig;
  readonly format?: string;
}

export interface CtSettings {
  readonly fromConfig: boolean;
  readonly format?: string;
  /** A sparsity compression format other than dense, when there is one. */
  readonly sparsity?: string;
  readonly groups: readonly CtGroup[];
}

function object(v: PlainValue | undefined): QuantConfig | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
}

/** undefined: a config for another method (nothing here is compressed-tensors). */
export function ctSettings(cfg: QuantConfig | undefined): CtSettings | undefined {
  if (!cfg) return { fromConfig: false, groups: [] };
  const method = quantMethod(cfg);
  // Older writers nest the quantization part under compression_config.quantization_config.
  const nested = object(cfg.quantization_config);
  const q = cfg.config_groups === undefined && nested ? nested : cfg;
  if (method !== undefined && method !== 'compressed-tensors' && method !== 'sparseml')
    return undefined;
  const groups: CtGroup[] = [];
  for (const [name, raw] of Object.entries(object(q.config_groups) ?? {})) {
    const g = object(raw);
    const weights = object(g?.weights);
    if (!g || !weights) continue;
    const targets = Array.isArray(g.targets)
      ? g.targets.filter((t): t is string => typeof t === 'string')
      : [];
    const format = configString(g, 'format');
    groups.push({ name, targets, weights, ...(format !== undefined ? { format } : {}) });
  }
  const sparsityFormat = configString(object(cfg.sparsity_config), 'format');
  const format = configString(q, 'format');
  return {
    fromConfig: true,
    groups,
    ...(format !== undefined ? { format } : {}),
    ...(sparsityFormat !== undefined && sparsityFormat !== 'dense'
      ? { sparsity: sparsityFormat }
      : {}),
  };
}

/** 3 an exact module name (or its last parts), 2 a `re:` regex, 1 a class name, 0 no match. */
function matchRank(target: string, module: string): number {
  if (target.startsWith('re:')) {
    try {
      return new RegExp(`^(?:${target.slice(3)})`).test(module) ? 2 : 0;
    } catch {
      return 0; // Python-only regex syntax: not a match we can prove
    }
  }
  if (target === module || module.endsWith(`.${target}`)) return 3;
  return /^[A-Z][A-Za-z0-9_]*$/.test(target) ? 1 : 0;
}

/** The weight arguments that apply to `module`, validated (a named error when they are unusable). */
export function ctArgsFor(module: string, s: CtSettings): CtArgs | undefined {
  let best: CtGroup | undefined;
  let bestRank = 0;
  for (const g of s.groups) {
    for (const t of g.targets) {
      const r = matchRank(t, module);
      if (r > bestRank) {
        best = g;
        bestRank = r;
      }
    }
  }
  if (!best && s.groups.length === 1) best = s.groups[0];
  if (!best) {
    throw invalid(
      `${module} is quantized but matches no target of quantization_config.config_groups (${s.groups.map((g) => g.name).join(', ') || 'none with weights'})`,
      module,
    );
  }
  return parseArgs(best, module);
}

function parseArgs(g: CtGroup, module: string): CtArgs {
  const w = g.weights;
  const where = `config group "${g.name}" (for ${module})`;
  const numBits = configInt(w, 'num_bits');
  if (numBits === undefined || numBits < 1)
    throw invalid(`weights.num_bits of ${where} is ${String(numBits)}`, module);
  const type = (configString(w, 'type') ?? 'int').toLowerCase();
  const symmetric = configBool(w, 'symmetric') ?? true;
  const strategy = (configString(w, 'strategy') ?? 'tensor').toLowerCase();
  const actorderRaw = w.actorder;
  const actorder =
    actorderRaw === true ? 'group' : typeof actorderRaw === 'string' ? actorderRaw : undefined;
  const base = {
    numBits,
    type,
    symmetric,
    ...(actorder !== undefined ? { actorder } : {}),
    ...(g.format !== undefined ? { format: g.format } : {}),
  };
  if (strategy === 'channel' || strategy === 'tensor') return { ...base, strategy };
  if (strategy !== 'group') throw unsupported(`weights.strategy "${strategy}" of ${where}`, module);
  const groupSize = configInt(w, 'group_size');
  if (groupSize === undefined || groupSize < 1)
    throw invalid(
      `weights.group_size of ${where} is ${String(groupSize)}; strategy "group" needs a positive group size`,
      module,
    );
  return { ...base, strategy, groupSize };
}
