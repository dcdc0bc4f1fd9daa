/**
 * Candidate base parameters for one adapter module, each with its rule, shape fit and confidence.
 * Lookups are by structural key (hash), by layer-index bucket (fuzzy fallback) and through the
 * base's module trie, so a module costs a handful of comparisons, not one per base parameter.
 */
import type { LoraModule } from '../lora/types.js';
import { resolveFlat, type BaseIndex, type BaseParam } from './baseIndex.js';
import { describeFit, fitShape, fusedKindOf, FITS, type ShapeFit } from './shapes.js';
import { canonicalName, unflatten, type CanonicalName } from './normalize.js';
import { scorePair, tokenSimilarity, type MatchRule } from './score.js';
import { FLAT_WRAPPERS, FUSED_PARENT, KOHYA_PREFIX } from './synonyms.js';
import { explainRule } from './explain.js';

export interface Candidate {
  readonly param: BaseParam;
  readonly rule: MatchRule;
  readonly confidence: number;
  readonly fit: ShapeFit;
  /** One claimable unit: the parameter, or one row range of a fused parameter. */
  readonly column: string;
  /** Built on demand: only the chosen candidates and their alternatives are ever explained. */
  readonly reason: () => string;
}

export interface ModuleName {
  readonly canon: CanonicalName;
  /** The flattened kohya path (prefix stripped), when the name was flattened. */
  readonly flat: string | null;
}

/** Canonical name of an adapter module; kohya `_` names are un-flattened with the base's vocabulary. */
export function moduleName(m: LoraModule, index: BaseIndex): ModuleName {
  let target = m.target;
  let flat: string | null = null;
  const prefixed = KOHYA_PREFIX.exec(target);
  if (prefixed || (!target.includes('.') && target.includes('_') && !index.vocab.has(target))) {
    flat = prefixed ? target.slice(prefixed[0].length) : target;
    for (let again = true; again;) {
      again = false;
      for (const w of FLAT_WRAPPERS)
        if (flat.startsWith(w)) {
          flat = flat.slice(w.length);
          again = true;
        }
    }
    target = unflatten(flat, index.vocab);
    // kohya's SDXL/Flux trainers number the text encoders: lora_te1_ / lora_te2_.
    const te = prefixed ? /^lora_te(\d)_$/.exec(prefixed[0]) : null;
    if (te) target = `${te[1] === '1' ? 'text_encoder' : `text_encoder_${te[1]}`}.${target}`;
  }
  return { canon: canonicalName(target, index.unet), flat };
}

const partOfRole = (role: string): string => role.slice(1);

/** Below `high`: the rows fit, but applied as they are they would patch the wrong half. */
const SWAPPED_HALVES_CONFIDENCE = 0.75;
const SWAPPED_HALVES =
  "halves swapped: diffusers' AdaLayerNormContinuous holds (scale, shift), the original (shift, scale): the two row halves of B must be exchanged";

/** diffusers AdaLayerNormContinuous (2 halves) against the BFL / SAI spelling of the same linear. */
function halvesSwapped(module: CanonicalName, p: BaseParam): boolean {
  const [rows, cols] = p.shape;
  return (
    module.diffusersAdaNorm !== p.canon.diffusersAdaNorm &&
    rows !== undefined &&
    cols !== undefined &&
    rows === 2 * cols
  );
}

export function findCandidates(
  m: LoraModule,
  name: ModuleName,
  index: BaseIndex,
  limit: number,
): Candidate[] {
  const { canon } = name;
  const found = new Map<string, Candidate>();
  const add = (
    p: BaseParam,
    rule: MatchRule,
    part: string | null,
    extra: { similarity?: number; ambiguity?: number } = {},
  ): void => {
    // Two text encoders of one checkpoint never stand in for each other.
    if (canon.component && p.canon.component && canon.component !== p.canon.component) return;
    const leaf = p.canon.segments[p.canon.segments.length - 1] ?? '';
    const fusedKind = part ? fusedKindOf(leaf, p.canon.role) : null;
    if (part && !fusedKind) return;
    const fit = fitShape(
      m,
      p.shape,
      p.storedTransposed,
      fusedKind && part ? { kind: fusedKind, part } : null,
    );
    const swapped = halvesSwapped(canon, p);
    const score = scorePair({
      rule,
      shape: fit.check,
      roles: [canon.role, p.canon.role],
      ...extra,
    });
    const confidence = swapped ? Math.min(score, SWAPPED_HALVES_CONFIDENCE) : score;
    const column = fit.slice ? `${p.name}#${fit.slice.start}-${fit.slice.end}` : p.name;
    const prev = found.get(column);
    if (prev && prev.confidence >= confidence) return;
    const facts = { rule, module: canon, param: p, part, flat: name.flat, ...extra };
    found.set(column, {
      param: p,
      rule,
      confidence,
      fit,
      column,
      reason: () =>
        `${explainRule(facts)}; ${describeFit(m, p.shape, fit)}${swapped ? `; ${SWAPPED_HALVES}` : ''}`,
    });
  };

  if (m.kind === 'lntuning')
    for (const p of index.vectors.get(canon.key) ?? [])
      add(p, p.canon.path === canon.path ? 'exact-path' : 'synonym', null);
  if (name.flat !== null) {
    const resolved = resolveFlat(index, name.flat);
    for (const p of resolved) add(p, 'kohya-trie', null, { ambiguity: resolved.length });
  }
  for (const p of index.byKey.get(canon.key) ?? [])
    add(
      p,
      p.canon.path === canon.path && p.canon.part === canon.part ? 'exact-path' : 'synonym',
      null,
    );
  if (canon.part) {
    for (const p of index.byKey.get(canon.wholeKey) ?? [])
      if (p.canon.part === null) add(p, 'fused-part', canon.part);
  } else if (canon.role && FUSED_PARENT[canon.role]) {
    const parent = canon.wholeKey.split('.').slice(0, -1);
    const key = [...parent, FUSED_PARENT[canon.role]].join('.');
    for (const p of index.byKey.get(key) ?? []) add(p, 'fused-role', partOfRole(canon.role));
  }
  for (const p of index.byIndices.get(canon.indices.join(',')) ?? []) {
    const similarity = tokenSimilarity(canon.tokens, p.canon.tokens);
    if (similarity >= 0.3) add(p, 'similar', null, { similarity });
  }
  if (index.anonymous.length > 0) {
    const fitting = index.anonymous.filter((p) =>
      FITS.has(fitShape(m, p.shape, p.storedTransposed, null).check),
    );
    for (const p of fitting) add(p, 'shape-only', null, { ambiguity: fitting.length });
  }
  return [...found.values()].sort((a, b) => b.confidence - a.confidence).slice(0, limit);
}
