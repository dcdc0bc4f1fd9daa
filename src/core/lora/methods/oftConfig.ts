/**
 * What PEFT's OFT reads from adapter_config.json, and how it sizes its blocks: PEFT ≥ 0.14 sets
 * exactly one of `r` (blocks per layer) and `oft_block_size`, and silently adjusts one that does not
 * divide in_features (OFTLayer.adjust_oft_parameters), so the stored shape is what it settled on.
 */
import type { PlainObject } from '../checkpointFacts.js';
import { configBool, configNumber, settingBool, settingNumber } from './rotations.js';
import type { NeumannSeries } from './rotations.js';
import type { MethodSettings } from './types.js';

export interface OftSettings {
  /** null when there is no config (the shapes decide). */
  readonly r: number | null;
  readonly blockSize: number | null;
  readonly blockShare: boolean | null;
  readonly coft: boolean;
  readonly eps: number;
  readonly useCayleyNeumann: boolean;
  readonly neumannTerms: number;
  readonly series: NeumannSeries;
}

/** Major·1000 + minor of a `peft_version` like "0.21.0" or "0.18.0.dev0@abc"; null if unreadable. */
function versionOf(v: unknown): number | null {
  if (typeof v !== 'string') return null;
  const m = /^(\d+)\.(\d+)/.exec(v);
  return m ? Number(m[1]) * 1000 + Number(m[2]) : null;
}

/**
 * PEFT 0.18 changed the Cayley–Neumann series; configs gained `peft_version` in the same release, so
 * a config with `use_cayley_neumann` but no version was written by 0.15–0.17.
 */
function seriesOf(cfg: PlainObject | null): NeumannSeries {
  if (!cfg) return 'peft-0.18';
  const v = versionOf(cfg['peft_version']);
  if (v !== null) return v < 18 ? 'peft-0.15' : 'peft-0.18';
  return 'use_cayley_neumann' in cfg ? 'peft-0.15' : 'peft-0.18';
}

/** PEFT 0.21's OFTConfig fields, with its defaults. */
export function oftSettings(cfg: PlainObject | null): MethodSettings {
  return {
    r: cfg ? configNumber(cfg, 'r', 0) : null,
    oft_block_size: cfg ? configNumber(cfg, 'oft_block_size', 32) : null,
    block_share: cfg ? configBool(cfg, 'block_share', false) : null,
    coft: configBool(cfg, 'coft', false),
    eps: configNumber(cfg, 'eps', 6e-5),
    use_cayley_neumann: configBool(cfg, 'use_cayley_neumann', true),
    num_cayley_neumann_terms: configNumber(cfg, 'num_cayley_neumann_terms', 5),
    cayley_neumann_series: seriesOf(cfg),
  };
}

export function readOftSettings(s: MethodSettings | undefined): OftSettings {
  const nullable = (k: string): number | null =>
    typeof s?.[k] === 'number' ? (s[k] as number) : null;
  return {
    r: nullable('r'),
    blockSize: nullable('oft_block_size'),
    blockShare: typeof s?.['block_share'] === 'boolean' ? (s['block_share'] as boolean) : null,
    coft: settingBool(s, 'coft', false),
    eps: settingNumber(s, 'eps', 6e-5),
    useCayleyNeumann: settingBool(s, 'use_cayley_neumann', true),
    neumannTerms: settingNumber(s, 'num_cayley_neumann_terms', 5),
    series: s?.['cayley_neumann_series'] === 'peft-0.15' ? 'peft-0.15' : 'peft-0.18',
  };
}

/** OFTLayer.adjust_oft_parameters: the divisor of `n` nearest to `p` (ties go down). */
export function adjustToDivisor(n: number, p: number): number {
  if (p >= n) return n;
  let higher = p;
  while (higher <= n && n % higher !== 0) higher++;
  let lower = p;
  while (lower > 1 && n % lower !== 0) lower--;
  return p - lower <= higher - p ? lower : higher;
}

/**
 * The block size PEFT derives for `inK` inputs from the config, or a sentence saying why the
 * config cannot size the blocks; null when there is no config to check.
 */
export function configBlockSize(inK: number, s: OftSettings): number | string | null {
  if (s.r === null && s.blockSize === null) return null;
  const r = s.r ?? 0;
  const bs = s.blockSize ?? 0;
  if ((r === 0) === (bs === 0))
    return `adapter_config sets r = ${r} and oft_block_size = ${bs}; PEFT needs exactly one of them non-zero`;
  if (!Number.isInteger(r) || !Number.isInteger(bs) || r < 0 || bs < 0)
    return `adapter_config r = ${r} / oft_block_size = ${bs} are not block counts`;
  if (r === 0) return inK % bs !== 0 || bs > inK ? adjustToDivisor(inK, bs) : bs;
  const blocks = inK % r !== 0 || r > inK ? adjustToDivisor(inK, r) : r;
  return inK / blocks;
}

/** A sentence when the config's block size disagrees with the stored one over `inK` inputs. */
export function blockSizeProblem(inK: number, stored: number, s: OftSettings): string | null {
  const want = configBlockSize(inK, s);
  if (want === null || want === stored) return null;
  if (typeof want === 'string') return want;
  const asked = s.r ? `r = ${s.r}` : `oft_block_size = ${s.blockSize ?? 0}`;
  const adjusted = (s.r ? inK / want !== s.r : want !== s.blockSize)
    ? ` (PEFT adjusts ${asked} to fit ${inK} inputs)`
    : '';
  return `adapter_config ${asked} gives blocks of ${want} over ${inK} inputs${adjusted}, but oft_R holds blocks of ${stored}`;
}
