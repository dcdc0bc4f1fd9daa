/** Small helpers every method's `describe` uses. */
import type { TensorInfo } from '../../formats/checkpoint.js';
import type { RawModule } from '../moduleGrouping.js';
import type { ShapeFacts } from '../moduleShapes.js';
import type { LoraModuleKind, LoraOrientation } from '../types.js';

export const fmt = (shape: readonly number[]): string => `[${shape.join(', ')}]`;
export const at = (shape: readonly number[] | undefined, i: number): number | null =>
  shape?.[i] ?? null;
export const product = (ns: readonly (number | null)[]): number | null =>
  ns.every((n): n is number => n !== null) ? ns.reduce((a, b) => a * b, 1) : null;
export const kernelText = (kernel: readonly number[]): string => kernel.join('×');

export function facts(
  kind: LoraModuleKind,
  label: string,
  rank: number | null,
  orientation: LoraOrientation | null,
  inFeatures: number | null,
  outFeatures: number | null,
  extra: Partial<Pick<ShapeFacts, 'kernel' | 'problems'>> = {},
): ShapeFacts {
  return { kind, label, rank, orientation, inFeatures, outFeatures, problems: [], ...extra };
}

/** The part getter every describe starts with. */
export const partOf =
  (m: RawModule) =>
  (p: string): TensorInfo | undefined =>
    m.parts.get(p);

/** True when the module has every one of these parts. */
export const hasAll = (m: RawModule, parts: readonly string[]): boolean =>
  parts.every((p) => m.parts.has(p));

/** PEFT's optional adapter-name segment (`.default`) as a named group, for MethodPartRule regexes. */
export const ADAPTER_NAME = String.raw`(?:\.(?<adapter>[A-Za-z_][\w-]*))?`;

/** A PEFT suffix rule `<module>.<prefix><name>[.<adapter>][.weight]` → part `<name>`. */
export function peftSuffix(prefix: string, names: readonly string[], weight = false): RegExp {
  return new RegExp(
    String.raw`^(.*)\.${prefix}(${names.join('|')})${ADAPTER_NAME}${weight ? String.raw`(?:\.weight)?` : ''}$`,
  );
}
