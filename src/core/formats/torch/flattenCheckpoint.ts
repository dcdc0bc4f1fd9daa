/**
 * Turns the unpickled object into named tensors and plain values. Names are dotted paths through
 * the nested dicts and lists (state_dict keys stay as they are: "model.layers.0.q_proj.weight");
 * tensors under optimizer or scheduler state get the role 'optimizer'. The walk is iterative with
 * caps on depth and visits, so neither a deep nor a self-referencing pickle can hang or overflow it.
 *
 * scripts/fixtures/torch/generate.py mirrors these rules in Python for the expected test facts.
 */
import type { PlainValue, TensorRole } from '../checkpoint.js';
import { CheckpointError } from '../errors.js';
import {
  PyBytes,
  PyComplex,
  PyDict,
  PyGlobal,
  PyLabel,
  PySet,
  PyTuple,
  TorchStorage,
  TorchTensor,
  type PickleValue,
} from './pickleValues.js';

export const FLATTEN_LIMITS = {
  maxDepth: 256,
  /** Containers and values visited: a pickle can share one list many times over. */
  maxVisits: 5_000_000,
  maxValues: 10_000,
  maxStringLength: 1_000,
  maxListItems: 256,
} as const;

/** Top-level-or-nested keys whose tensors are optimizer or LR-scheduler state. */
const OPTIMIZER_KEYS = new Set([
  'optimizer',
  'optimizers',
  'optimizer_states',
  'optimizer_state_dict',
  'optim',
  'optim_state',
  'lr_scheduler',
  'lr_schedulers',
  'scheduler',
  'schedulers',
  'scheduler_state_dict',
  'lr_scheduler_state_dict',
]);
/** Lightning's trainer state: metrics and counters, not weights. */
const OTHER_KEYS = new Set(['callbacks', 'loops']);

export interface FoundTensor {
  readonly name: string;
  readonly tensor: TorchTensor;
  readonly role: TensorRole;
}

export interface Flattened {
  /** In pickle (depth-first) order. */
  readonly tensors: FoundTensor[];
  readonly values: Record<string, PlainValue>;
  readonly warnings: string[];
}

type PathKey = PickleValue;

function keyText(k: PathKey): string {
  if (typeof k === 'string') return k;
  if (typeof k === 'number' || typeof k === 'bigint') return String(k);
  if (typeof k === 'boolean') return k ? 'True' : 'False';
  if (k === null) return 'None';
  if (k instanceof PyTuple) return `(${k.items.map(keyText).join(', ')})`;
  if (k instanceof PyLabel) return k.text;
  if (k instanceof PyGlobal) return k.fullName;
  return '?';
}

function nameOf(path: readonly PathKey[]): string {
  return path.length === 0 ? '(root)' : path.map(keyText).join('.');
}

function roleOf(path: readonly PathKey[]): TensorRole {
  const parents = path.slice(0, -1);
  if (parents.some((k) => typeof k === 'string' && OPTIMIZER_KEYS.has(k))) return 'optimizer';
  if (parents.some((k) => typeof k === 'string' && OTHER_KEYS.has(k))) return 'other';
  return 'weight';
}

function isContainer(v: PickleValue): boolean {
  return (
    Array.isArray(v) ||
    v instanceof PyTuple ||
    v instanceof PyDict ||
    v instanceof PySet ||
    v instanceof TorchTensor
  );
}

function plainNumber(n: number): PlainValue {
  if (Number.isNaN(n)) return 'nan';
  if (n === Infinity) return 'inf';
  if (n === -Infinity) return '-inf';
  return n;
}

/** A value that is not a container, as JSON-friendly data. */
export function plainScalar(v: PickleValue): PlainValue {
  if (v === null || typeof v === 'boolean') return v;
  if (typeof v === 'number') return plainNumber(v);
  if (typeof v === 'bigint') return String(v);
  if (typeof v === 'string') {
    return v.length <= FLATTEN_LIMITS.maxStringLength
      ? v
      : v.slice(0, FLATTEN_LIMITS.maxStringLength) + '…';
  }
  if (v instanceof PyBytes) return `<${v.length} bytes>`;
  if (v instanceof PyComplex) return { real: plainNumber(v.real), imag: plainNumber(v.imag) };
  if (v instanceof PyLabel) return v.text;
  if (v instanceof PyGlobal) return v.fullName;
  if (v instanceof TorchStorage) return `<storage data/${v.key}>`;
  return `<${typeof v}>`;
}

function childrenOf(v: PickleValue): readonly PickleValue[] | undefined {
  if (Array.isArray(v)) return v;
  if (v instanceof PyTuple) return v.items;
  if (v instanceof PySet) return v.items;
  return undefined;
}

interface Frame {
  readonly value: PickleValue;
  readonly path: readonly PathKey[];
}

export function flattenCheckpoint(root: PickleValue): Flattened {
  const tensors: FoundTensor[] = [];
  const values = Object.create(null) as Record<string, PlainValue>;
  const warnings: string[] = [];
  let valueCount = 0;
  let visits = 0;

  const put = (path: readonly PathKey[], v: PlainValue) => {
    if (valueCount === FLATTEN_LIMITS.maxValues) {
      warnings.push(
        `only the first ${FLATTEN_LIMITS.maxValues.toLocaleString('en-US')} plain values are listed`,
      );
    }
    valueCount++;
    if (valueCount > FLATTEN_LIMITS.maxValues) return;
    // defineProperty keeps a "__proto__" path an ordinary key.
    Object.defineProperty(values, nameOf(path), {
      value: v,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  };

  // Depth first in pickle order: children are pushed in reverse.
  const stack: Frame[] = [{ value: root, path: [] }];
  while (stack.length > 0) {
    const { value, path } = stack.pop() as Frame;
    if (++visits > FLATTEN_LIMITS.maxVisits) {
      throw new CheckpointError(
        'LimitExceeded',
        `the checkpoint object has more than ${FLATTEN_LIMITS.maxVisits.toLocaleString('en-US')} parts (containers shared many times over?)`,
      );
    }
    if (path.length > FLATTEN_LIMITS.maxDepth) {
      throw new CheckpointError(
        'LimitExceeded',
        `the checkpoint object nests deeper than ${FLATTEN_LIMITS.maxDepth} levels at "${nameOf(path.slice(0, 8))}…" (or contains itself)`,
      );
    }
    if (value instanceof TorchTensor) {
      tensors.push({ name: nameOf(path), tensor: value, role: roleOf(path) });
      continue;
    }
    if (value instanceof PyDict) {
      if (value.map.size === 0) {
        if (path.length > 0) put(path, {});
        continue;
      }
      const entries = [...value.map];
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, v] = entries[i] as [PickleValue, PickleValue];
        stack.push({ value: v, path: [...path, k] });
      }
      continue;
    }
    const items = childrenOf(value);
    if (items) {
      if (!items.some(isContainer)) {
        const shown: PlainValue[] = items.slice(0, FLATTEN_LIMITS.maxListItems).map(plainScalar);
        if (items.length > FLATTEN_LIMITS.maxListItems)
          shown.push(`… ${items.length - FLATTEN_LIMITS.maxListItems} more`);
        put(path, shown);
        continue;
      }
      for (let i = items.length - 1; i >= 0; i--)
        stack.push({ value: items[i] as PickleValue, path: [...path, i] });
      continue;
    }
    put(path, plainScalar(value));
  }
  return { tensors, values, warnings };
}
