/**
 * Two adapters, module by module: settings that changed (rank, alpha, scale, method, shapes) and the
 * tensors of each module pair recorded as renames by their role in the module (down ↔ lora_A, …).
 */
import type { LoraAnalysis, LoraModule } from '../lora/types.js';
import type { KeyMatcher } from './keyDiff.js';
import type { ModulePairing } from './modulePairs.js';
import type { AdapterDiff, FieldChange, ModuleChange } from './types.js';

/** Parts that name the same thing in different families (PEFT's DoRA magnitude, kohya's dora_scale). */
const PART_SYNONYMS: Readonly<Record<string, string>> = {
  magnitude: 'dora_scale',
  dora_scale: 'magnitude',
};

/** Equal up to float rounding (an F32 `.alpha` scalar against a config's JSON number). */
function sameNumber(x: number | null, y: number | null): boolean {
  if (x === null || y === null) return x === y;
  return x === y || Math.abs(x - y) <= 1e-9 * Math.max(Math.abs(x), Math.abs(y));
}

function fieldChanges(a: LoraModule, b: LoraModule): FieldChange[] {
  const out: FieldChange[] = [];
  const num = (field: FieldChange['field'], x: number | null, y: number | null): void => {
    if (!sameNumber(x, y)) out.push({ field, a: x, b: y });
  };
  num('rank', a.rank, b.rank);
  num('alpha', a.alpha, b.alpha);
  num('scale', a.scale, b.scale);
  num('out', a.outFeatures, b.outFeatures);
  num('in', a.inFeatures, b.inFeatures);
  const kernel = (m: LoraModule): string | null => (m.kernel ? m.kernel.join('×') : null);
  if (kernel(a) !== kernel(b)) out.push({ field: 'kernel', a: kernel(a), b: kernel(b) });
  const method = (m: LoraModule): string => m.method?.label ?? m.label;
  if ((a.method?.id ?? a.kind) !== (b.method?.id ?? b.kind))
    out.push({ field: 'method', a: method(a), b: method(b) });
  if ((a.dora !== undefined) !== (b.dora !== undefined))
    out.push({ field: 'dora', a: a.dora !== undefined, b: b.dora !== undefined });
  return out;
}

/**
 * Records every part of every module pair as a rename (when the names differ) and returns the
 * `.alpha` scalars that exist on one side only, by tensor name → module: the other side keeps the
 * alpha in its config, so those keys move a value rather than add or lose one.
 */
export function pairModuleTensors(pairing: ModulePairing, keys: KeyMatcher): Map<string, string> {
  const alphaOf = new Map<string, string>();
  for (const { a, b } of pairing.pairs) {
    const flip =
      a.orientation !== null && b.orientation !== null && a.orientation !== b.orientation;
    for (const [part, nameA] of Object.entries(a.parts)) {
      const nameB = b.parts[part] ?? b.parts[PART_SYNONYMS[part] ?? ''];
      if (nameB !== undefined && nameB !== nameA) keys.pair(nameA, nameB, 'module', a.name, flip);
    }
    const alphaA = a.parts['alpha'];
    const alphaB = b.parts['alpha'];
    if (alphaA !== undefined && alphaB === undefined && keys.isOnlyA(alphaA))
      alphaOf.set(alphaA, a.name);
    if (alphaB !== undefined && alphaA === undefined && keys.isOnlyB(alphaB))
      alphaOf.set(alphaB, b.name);
  }
  return alphaOf;
}

export function adapterDiff(a: LoraAnalysis, b: LoraAnalysis, pairing: ModulePairing): AdapterDiff {
  const changes: ModuleChange[] = [];
  let renamed = 0;
  for (const p of pairing.pairs) {
    if (p.a.name !== p.b.name) renamed++;
    const c = fieldChanges(p.a, p.b);
    if (c.length > 0) changes.push({ a: p.a.name, b: p.b.name, changes: c });
  }
  return {
    familyA: a.family,
    familyB: b.family,
    modulesA: a.modules.length,
    modulesB: b.modules.length,
    pairs: pairing.pairs.map((p) => p.pair),
    renamed,
    onlyA: pairing.onlyA.map((m) => m.name),
    onlyB: pairing.onlyB.map((m) => m.name),
    changes,
    notes: pairing.notes,
  };
}
