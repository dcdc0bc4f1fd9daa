/**
 * Every adapter method LoRA Lens knows, in the order they claim modules: the first whose `recognise`
 * says yes owns a module. Specific methods come before the generic pair (AdaLoRA before LoRA).
 */
import type { RawModule } from '../moduleGrouping.js';
import { adalora } from './adalora.js';
import { vera } from './vera.js';
import { fourierft } from './fourierft.js';
import { vblora } from './vblora.js';
import { randlora } from './randlora.js';
import { tinylora } from './tinylora.js';
import { c3a } from './c3a.js';
import { waveft } from './waveft.js';
import { hra } from './hra.js';
import { miss } from './miss.js';
import { lntuning } from './lntuning.js';
import { boft } from './boft.js';
import { full } from './full.js';
import { ia3 } from './ia3.js';
import { loha } from './loha.js';
import { lokr } from './lokr.js';
import { lora } from './lora.js';
import { norm } from './norm.js';
import { oft } from './oft.js';
import type { AdapterMethod, MethodId, MethodPartRule } from './types.js';

export const METHODS: readonly AdapterMethod[] = [
  adalora,
  tinylora,
  lora,
  loha,
  lokr,
  ia3,
  boft,
  oft,
  hra,
  miss,
  vera,
  vblora,
  randlora,
  fourierft,
  c3a,
  waveft,
  lntuning,
  full,
  norm,
];

const BY_ID: ReadonlyMap<MethodId, AdapterMethod> = new Map(METHODS.map((m) => [m.id, m]));

/** The method that owns the module, or undefined (an orphan). */
export function methodOf(raw: RawModule): AdapterMethod | undefined {
  return METHODS.find((m) => m.recognise(raw));
}

export function methodById(id: MethodId): AdapterMethod {
  const m = BY_ID.get(id);
  if (!m) throw new Error(`no adapter method ${id}`);
  return m;
}

/** The methods' own tensor-name suffixes, in registry order (tensorParts tries them after its own). */
export const METHOD_PART_RULES: readonly MethodPartRule[] = METHODS.flatMap((m) => m.parts ?? []);

/** One cheap test for every method's names; null when no method adds rules. */
export const METHOD_HINT: RegExp | null = (() => {
  const hints = METHODS.flatMap((m) => (m.hint ? [m.hint] : []));
  return hints.length ? new RegExp(hints.join('|')) : null;
})();
