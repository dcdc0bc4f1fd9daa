import type { TensorInfo } from '../checkpoint.js';

/**
 * What every scheme's pass over the names would look for first, gathered in one pass per tensor list:
 * the distinct last name segments (`weight`, `qweight`, `SCB`, …) and the distinct dtypes. A scheme
 * whose tensors end in segments the list does not hold skips its own pass; most checkpoints hold no
 * quantized weight, so their names are read once here instead of once per scheme.
 */
export interface NameIndex {
  /** The text after each name's last '.' (the whole name when it has none). */
  readonly lastSegments: ReadonlySet<string>;
  readonly dtypes: ReadonlySet<string>;
}

const cache = new WeakMap<readonly TensorInfo[], NameIndex>();

export function nameIndex(tensors: readonly TensorInfo[]): NameIndex {
  let index = cache.get(tensors);
  if (index === undefined) {
    index = build(tensors);
    cache.set(tensors, index);
  }
  return index;
}

function build(tensors: readonly TensorInfo[]): NameIndex {
  const lastSegments = new Set<string>();
  const dtypes = new Set<string>();
  // Neighbours mostly share their last segment and dtype: a match with the previous one is no slice.
  let prev = '\u0000';
  let prevDtype = '\u0000';
  // Indexed: one pass per open over every tensor, often unoptimised, where for…of allocates per step.
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i] as TensorInfo;
    const name = t.name;
    const at = name.length - prev.length;
    if (!(at >= 0 && name.endsWith(prev) && (at === 0 || name.charCodeAt(at - 1) === 0x2e))) {
      prev = name.slice(name.lastIndexOf('.') + 1);
      lastSegments.add(prev);
    }
    if (t.dtype !== prevDtype) {
      prevDtype = t.dtype;
      dtypes.add(prevDtype);
    }
  }
  return { lastSegments, dtypes };
}

/**
 * Whether some name may end with `suffix` (false only when none can). A suffix with a '.' ends a name
 * only if its text after the last '.' is that name's last segment; one without a '.' may end any.
 */
export function mayEndWith(tensors: readonly TensorInfo[], suffix: string): boolean {
  const dot = suffix.lastIndexOf('.');
  return dot < 0 || nameIndex(tensors).lastSegments.has(suffix.slice(dot + 1));
}

/** Whether some name's last segment starts with `head` (false only when none does). */
export function someLastSegmentStarts(tensors: readonly TensorInfo[], head: string): boolean {
  for (const s of nameIndex(tensors).lastSegments) if (s.startsWith(head)) return true;
  return false;
}
