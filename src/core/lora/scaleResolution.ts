import { matchPattern, type PeftScaleConfig } from './peftConfig.js';
import type { ScaleInputs } from './scaleInputs.js';
import type { AlphaOrigin, AlphaSource, LoraFamily, LoraModuleKind } from './types.js';

/** What the scale of one module depends on. */
export interface ModuleForScale {
  readonly target: string;
  readonly group?: string;
  readonly kind: LoraModuleKind;
  readonly rank: number | null;
  readonly kernel?: readonly number[];
  /** The module's `.alpha` tensor, if it has one. */
  readonly alphaTensor?: string;
}

/** Values of `.alpha` tensors that were read, and why others could not be. */
export interface AlphaReadings {
  readonly values: ReadonlyMap<string, number>;
  readonly errors: ReadonlyMap<string, string>;
}

export interface ScaleFacts {
  readonly alpha: number | null;
  readonly scale: number | null;
  readonly scaleRule: string;
  readonly alphaOrigin: AlphaOrigin;
  readonly alphaSources: AlphaSource[];
  readonly problems: string[];
  /** "ss_network_alpha 4 vs tensor x.alpha 8 (the tensor wins: …)", when sources disagree. */
  readonly conflict?: string;
}

interface Candidate {
  readonly origin: AlphaOrigin;
  readonly key: string;
  readonly alpha: number | null;
  readonly note?: string;
  /** Config candidates carry PEFT's own rank and formula. */
  readonly config?: { readonly r: number; readonly rKey: string; readonly rsLora: boolean };
  /** Why this source wins when it does. */
  readonly wins: string;
}

const SCALE_FREE: ReadonlySet<LoraModuleKind> = new Set(['ia3', 'oft', 'boft']);
const UNIT_SCALE: ReadonlySet<LoraModuleKind> = new Set(['full', 'norm']);
const BAKED_FAMILIES: ReadonlySet<LoraFamily> = new Set(['bfl', 'xlabs', 'lora-diffusion', 'onnx']);

/** Alphas agree when they are within half-precision rounding of each other. */
function same(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-3 * Math.max(1, Math.abs(a), Math.abs(b));
}

export function resolveScale(
  m: ModuleForScale,
  family: LoraFamily,
  inputs: ScaleInputs,
  readings: AlphaReadings,
  onBadPattern: (pattern: string) => void,
): ScaleFacts {
  const problems: string[] = [];
  const tensor = tensorCandidate(m, readings);
  const configs = configCandidates(m, family, inputs, onBadPattern);
  const kohya = kohyaCandidate(m, inputs);

  if (SCALE_FREE.has(m.kind)) {
    // OFT's stored alpha is its constraint, not a scale; (IA)³ has none.
    const sources = tensor
      ? [source(tensor, false, m.kind === 'ia3' ? undefined : 'OFT constraint')]
      : [];
    return {
      alpha: tensor?.alpha ?? null,
      scale: null,
      scaleRule: 'n/a',
      alphaOrigin: 'not-applicable',
      alphaSources: sources,
      problems,
    };
  }
  // LyCORIS applies a LoKr with two full factors unscaled; PEFT still scales it by alpha / r (config r).
  if (UNIT_SCALE.has(m.kind) || (m.kind === 'lokr' && m.rank === null && family !== 'peft')) {
    const why =
      m.kind === 'lokr' ? '1 (LoKr with two full factors)' : '1 (the delta is added as is)';
    return {
      alpha: null,
      scale: 1,
      scaleRule: why,
      alphaOrigin: 'scale-1',
      alphaSources: tensor ? [source(tensor, false, 'not used by this kind')] : [],
      problems,
    };
  }
  if (family === 'mlx') return mlxScale(m, inputs, problems);

  const ordered = priority(family, tensor, configs, kohya, inputs);
  const all = dedupe([
    ...ordered,
    ...(tensor ? [tensor] : []),
    ...configs,
    ...(kohya ? [kohya] : []),
  ]);
  const winner = ordered.find((c) => c.alpha !== null);

  let alpha: number | null;
  let scale: number | null;
  let scaleRule: string;
  let alphaOrigin: AlphaOrigin;
  let winnerWhy = '';
  if (winner && winner.alpha !== null) {
    alphaOrigin = winner.origin;
    winnerWhy = winner.wins;
    alpha = winner.alpha;
    if (winner.config) {
      const r = winner.config.r;
      if (m.rank !== null && r !== m.rank)
        problems.push(`${winner.config.rKey} = ${r} but the tensors have rank ${m.rank}`);
      scaleRule = winner.config.rsLora ? 'alpha/sqrt(r)' : 'alpha/r';
      scale = winner.config.rsLora ? alpha / Math.sqrt(r) : alpha / r;
    } else {
      scaleRule = 'alpha/rank';
      scale = m.rank ? alpha / m.rank : null;
    }
  } else if (tensor && tensor.alpha === null) {
    alphaOrigin = 'tensor-unread';
    alpha = null;
    scale = null;
    scaleRule = 'alpha/rank';
  } else {
    ({ alpha, scale, scaleRule, alphaOrigin } = fallback(family, m.rank));
  }

  // With more than one source, the winner says why it wins.
  const sources = all.map((c) =>
    c === winner && all.length > 1
      ? source(c, true, `${c.note ? `${c.note}; ` : ''}wins: ${c.wins}`)
      : source(c, c === winner),
  );
  const why = winner ? winnerWhy : fallbackNote(alphaOrigin, family);
  const conflict = conflictText(all, winner, alpha, alphaOrigin, m.rank, why);
  if (alphaOrigin === 'default-rank' || alphaOrigin === 'scale-1' || alphaOrigin === 'unknown')
    sources.push({
      origin: alphaOrigin,
      alpha,
      used: true,
      note: fallbackNote(alphaOrigin, family),
    });
  return {
    alpha,
    scale,
    scaleRule,
    alphaOrigin,
    alphaSources: sources,
    problems,
    ...(conflict ? { conflict } : {}),
  };
}

function source(c: Candidate, used: boolean, note?: string): AlphaSource {
  const n = note ?? c.note;
  return { origin: c.origin, key: c.key, alpha: c.alpha, used, ...(n ? { note: n } : {}) };
}

function dedupe(cs: readonly Candidate[]): Candidate[] {
  return [...new Set(cs)];
}

/** The order in which a family's loaders look for alpha. */
function priority(
  family: LoraFamily,
  tensor: Candidate | undefined,
  configs: readonly Candidate[],
  kohya: Candidate | undefined,
  inputs: ScaleInputs,
): Candidate[] {
  const t = tensor ? [tensor] : [];
  switch (family) {
    case 'peft':
    case 'diffusers':
    case 'unknown':
      return [...configs, ...t];
    case 'kohya':
    case 'lycoris':
      // Loaders read only the tensor; the metadata stands in when the tensor exists but was not read.
      return [...t, ...(tensor && tensor.alpha === null && kohya ? [kohya] : [])];
    case 'gguf':
      return inputs.ggufAlpha ? [ggufCandidate(inputs.ggufAlpha)] : [];
    default:
      return t;
  }
}

function fallback(
  family: LoraFamily,
  rank: number | null,
): Pick<ScaleFacts, 'alpha' | 'scale' | 'scaleRule' | 'alphaOrigin'> {
  if (family === 'kohya' || family === 'lycoris' || family === 'diffusers' || family === 'gguf')
    return {
      alpha: rank,
      scale: rank ? 1 : null,
      scaleRule: 'alpha/rank (alpha = rank)',
      alphaOrigin: 'default-rank',
    };
  if (BAKED_FAMILIES.has(family))
    return { alpha: null, scale: 1, scaleRule: '1', alphaOrigin: 'scale-1' };
  return { alpha: null, scale: null, scaleRule: 'unknown', alphaOrigin: 'unknown' };
}

function fallbackNote(origin: AlphaOrigin, family: LoraFamily): string {
  if (origin === 'default-rank')
    return family === 'gguf'
      ? 'no adapter.lora.alpha (or 0): llama.cpp uses scale 1'
      : 'no alpha stored: loaders use alpha = rank, scale 1';
  if (origin === 'scale-1')
    return family === 'onnx'
      ? 'the exporter multiplies the scale into B'
      : 'no alpha stored: loaders apply B·A unscaled; any training scale is baked into the weights';
  return family === 'peft'
    ? 'PEFT keeps lora_alpha in adapter_config.json, which was not found'
    : 'no alpha source found';
}

function conflictText(
  all: readonly Candidate[],
  winner: Candidate | undefined,
  alpha: number | null,
  origin: AlphaOrigin,
  rank: number | null,
  why: string,
): string | undefined {
  const effective = alpha ?? (origin === 'scale-1' ? rank : null);
  if (effective === null) return undefined;
  const others = all.filter((c) => c !== winner && c.alpha !== null && !same(c.alpha, effective));
  if (!others.length) return undefined;
  const winnerText = winner ? `${winner.key} = ${effective}` : `${origin} ${effective}`;
  const list = others.map((c) => `${c.key} = ${c.alpha}`).join(', ');
  return `${winnerText} vs ${list}; ${why}`;
}

function tensorCandidate(m: ModuleForScale, readings: AlphaReadings): Candidate | undefined {
  const name = m.alphaTensor;
  if (!name) return undefined;
  const wins = 'loaders read the per-module .alpha tensor';
  const value = readings.values.get(name);
  if (value === undefined) {
    const error = readings.errors.get(name);
    return {
      origin: 'tensor-unread',
      key: name,
      alpha: null,
      note: error
        ? `alpha tensor present, value not read: ${error}`
        : 'alpha tensor present, value not read',
      wins,
    };
  }
  // sd-scripts: alpha None or 0 ⇒ alpha = dim (networks/lora.py).
  if (value === 0 && m.rank !== null)
    return {
      origin: 'tensor',
      key: name,
      alpha: m.rank,
      note: 'stored 0: kohya treats it as alpha = rank',
      wins,
    };
  return { origin: 'tensor', key: name, alpha: value, wins };
}

function configFor(m: ModuleForScale, family: LoraFamily, inputs: ScaleInputs): PeftScaleConfig[] {
  const component =
    inputs.diffusers.get(m.group ?? '') ??
    (inputs.diffusers.size === 1 ? [...inputs.diffusers.values()][0] : undefined);
  const list = family === 'diffusers' ? [component, inputs.peft] : [inputs.peft, component];
  return list.filter((c): c is PeftScaleConfig => c !== undefined);
}

function configCandidates(
  m: ModuleForScale,
  family: LoraFamily,
  inputs: ScaleInputs,
  onBadPattern: (pattern: string) => void,
): Candidate[] {
  return configFor(m, family, inputs).map((c) => {
    const rMatch = matchPattern(c.rankPattern, m.target, onBadPattern);
    const aMatch = matchPattern(c.alphaPattern, m.target, onBadPattern);
    const r = rMatch?.value ?? c.r;
    const key = aMatch
      ? `${c.where}: alpha_pattern[${aMatch.pattern}]`
      : `${c.where}: ${c.alphaField}`;
    const rankNote = rMatch ? `r from rank_pattern[${rMatch.pattern}] = ${r}` : `r = ${r}`;
    return {
      origin: aMatch ? 'alpha_pattern' : c.origin,
      key,
      alpha: aMatch?.value ?? c.alpha,
      note: `${rankNote}${c.useRslora ? ', use_rslora' : ''}`,
      config: {
        r,
        rKey: rMatch ? `${c.where}: rank_pattern[${rMatch.pattern}]` : `${c.where}: r`,
        rsLora: c.useRslora,
      },
      wins:
        c.origin === 'adapter_config'
          ? 'PEFT reads adapter_config.json'
          : 'diffusers reads lora_adapter_metadata',
    };
  });
}

function kohyaCandidate(m: ModuleForScale, inputs: ScaleInputs): Candidate | undefined {
  const k = inputs.kohya;
  if (!k) return undefined;
  // sd-scripts trains k×k convs with conv_dim / conv_alpha (conv_alpha defaults to 1 when conv_dim is set).
  const bigConv = m.kind === 'conv' && (m.kernel ?? []).reduce((a, b) => a * b, 1) > 1;
  if (bigConv && k.convDim !== undefined)
    return {
      origin: 'ss_network_alpha',
      key: 'ss_network_args.conv_alpha',
      alpha: k.convAlpha ?? 1,
      note: 'kohya training metadata (k×k conv)',
      wins: 'the metadata stands in for the unread tensor',
    };
  if (k.alpha === undefined) return undefined;
  return {
    origin: 'ss_network_alpha',
    key: 'ss_network_alpha',
    alpha: k.alpha,
    note: 'kohya training metadata',
    wins: 'the metadata stands in for the unread tensor',
  };
}

function ggufCandidate(alpha: number): Candidate {
  return {
    origin: 'gguf',
    key: 'adapter.lora.alpha',
    alpha,
    wins: 'llama.cpp reads adapter.lora.alpha',
  };
}

/**
 * MLX-LM: current versions scale by lora_parameters.scale alone; older mlx-examples used
 * scale · alpha / rank (llms/mlx_lm/tuner/lora.py @2a06af69).
 */
function mlxScale(m: ModuleForScale, inputs: ScaleInputs, problems: string[]): ScaleFacts {
  const c = inputs.mlx;
  const key = 'adapter_config.json: lora_parameters';
  if (c?.rank !== undefined && m.rank !== null && c.rank !== m.rank)
    problems.push(`lora_parameters.rank=${c.rank} but the tensors have rank ${m.rank}`);
  if (c?.alpha !== undefined) {
    const s = c.scale ?? 1;
    return {
      alpha: c.alpha,
      scale: m.rank ? (s * c.alpha) / m.rank : null,
      scaleRule: c.scale !== undefined ? 'scale·alpha/rank' : 'alpha/rank',
      alphaOrigin: 'mlx_config',
      alphaSources: [{ origin: 'mlx_config', key: `${key}.alpha`, alpha: c.alpha, used: true }],
      problems,
    };
  }
  if (c?.scale !== undefined) {
    return {
      alpha: null,
      scale: c.scale,
      scaleRule: 'scale',
      alphaOrigin: 'mlx_config',
      alphaSources: [
        {
          origin: 'mlx_config',
          key: `${key}.scale`,
          alpha: null,
          used: true,
          note: `scale ${c.scale}, no alpha`,
        },
      ],
      problems,
    };
  }
  return {
    alpha: null,
    scale: null,
    scaleRule: 'unknown',
    alphaOrigin: 'unknown',
    alphaSources: [
      {
        origin: 'unknown',
        alpha: null,
        used: true,
        note: 'MLX keeps the scale in adapter_config.json lora_parameters, which was not found',
      },
    ],
    problems,
  };
}
