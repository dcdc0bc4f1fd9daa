/** Reasons in words: which rule decided a pair, and which naming conventions were applied on the way. */
import type { BaseParam } from './baseIndex.js';
import type { CanonicalName } from './normalize.js';
import type { MatchRule } from './score.js';

export interface RuleFacts {
  readonly rule: MatchRule;
  readonly module: CanonicalName;
  readonly param: BaseParam;
  readonly part: string | null;
  readonly flat: string | null;
  readonly similarity?: number;
  readonly ambiguity?: number;
}

const leaf = (c: CanonicalName): string => c.segments[c.segments.length - 1] ?? c.path;

export function explainRule(f: RuleFacts): string {
  const { module: m, param: p } = f;
  let text: string;
  switch (f.rule) {
    case 'exact-path':
      text = `same module path ${m.path}`;
      break;
    case 'kohya-trie':
      text =
        (f.ambiguity ?? 1) > 1
          ? `kohya name resolves to ${f.ambiguity} base modules; ${p.path} is one`
          : `kohya name resolved against the base's module tree to ${p.path}`;
      break;
    case 'synonym':
      text =
        leaf(m) === leaf(p.canon)
          ? `same module structure (${m.path} ≈ ${p.canon.path})`
          : `same module structure, ${leaf(m)} ≈ ${leaf(p.canon)}`;
      break;
    case 'fused-part':
      text = `${f.part} part of the fused ${p.canon.path}`;
      break;
    case 'fused-role':
      text = `${leaf(m)} is the ${f.part} part of the same layer's fused ${leaf(p.canon)}`;
      break;
    case 'similar':
      text = `same layer indices [${m.indices.join(', ')}], name similarity ${(f.similarity ?? 0).toFixed(2)} (${m.path} ~ ${p.canon.path})`;
      break;
    case 'shape-only':
      text = `anonymous base parameter (no module path): matched by shape only, one of ${f.ambiguity ?? 1} that fit`;
      break;
  }
  const notes = new Set([...m.notes, ...p.canon.notes]);
  if (f.flat !== null && f.rule !== 'kohya-trie') notes.add('kohya name un-flattened');
  if (p.via && p.viaScope)
    notes.add(`ONNX initializer resolved through the exporter's name scope of node ${p.via}`);
  else if (p.via) notes.add(`ONNX initializer resolved through node ${p.via}`);
  return notes.size > 0 ? `${text} (${[...notes].join('; ')})` : text;
}
