/**
 * The globals a torch.save checkpoint may name, after torch.load(weights_only=True)'s allowlist
 * (torch/_weights_only_unpickler.py `_get_allowed_globals`). Each maps to a small JavaScript
 * function that builds inert data; nothing is imported or called. Every other global is refused
 * by name when its GLOBAL / STACK_GLOBAL opcode is read, before anything could use it.
 */
import { CheckpointError } from '../errors.js';
import {
  PyBytes,
  PyComplex,
  PyDict,
  PyGlobal,
  PyLabel,
  PySet,
  PyTuple,
  describeValue,
  type CallSite,
  type GlobalDef,
  type PickleValue,
} from './pickleValues.js';
import {
  newParameter,
  rebuildFromTypeV2,
  rebuildParameter,
  rebuildTensorV1,
  rebuildTensorV2,
  rebuildTensorV3,
} from './tensorRebuild.js';
import { storageClassDtype, torchDtype } from './torchDtypes.js';

/** torch blocks these modules outright, whatever the name. */
const BLOCKED_MODULES = new Set(['sys', 'os', 'posix', 'nt']);

/** Python 2 module names that pickle's fix_imports maps (Lib/_compat_pickle.py). */
const PY2_MODULES: Readonly<Record<string, string>> = {
  __builtin__: 'builtins',
  copy_reg: 'copyreg',
};

function bad(fn: string, what: string, at: CallSite): CheckpointError {
  return new CheckpointError(
    'InvalidPickle',
    `invalid call to ${fn} at byte ${at.offset} of ${at.record}: ${what}`,
  );
}

function fn(
  isClass: boolean,
  call: (args: readonly PickleValue[], at: CallSite) => PickleValue,
): GlobalDef {
  return { kind: 'callable', isClass, call };
}

function items(v: PickleValue): readonly PickleValue[] | undefined {
  if (Array.isArray(v)) return v;
  if (v instanceof PyTuple) return v.items;
  if (v instanceof PySet) return v.items;
  return undefined;
}

function makeDict(
  name: string,
  kind: 'OrderedDict' | 'Counter',
  args: readonly PickleValue[],
  at: CallSite,
): PyDict {
  const d = new PyDict(kind);
  const init = args[0];
  if (init === undefined || init === null) return d;
  if (init instanceof PyDict) {
    for (const [k, v] of init.map) d.map.set(k, v);
    return d;
  }
  const pairs = items(init);
  if (!pairs) throw bad(name, `cannot build it from ${describeValue(init)}`, at);
  for (const p of pairs) {
    const kv = items(p);
    if (!kv || kv.length !== 2) throw bad(name, 'its items must be (key, value) pairs', at);
    d.map.set(kv[0] as PickleValue, kv[1] as PickleValue);
  }
  return d;
}

function makeSet(name: string, frozen: boolean, args: readonly PickleValue[], at: CallSite) {
  const s = new PySet(frozen);
  const init = args[0];
  if (init === undefined || init === null) return s;
  const list = items(init);
  if (!list) throw bad(name, `cannot build it from ${describeValue(init)}`, at);
  s.items.push(...list);
  return s;
}

function encodedLength(text: string, encoding: string, at: CallSite): number {
  const enc = encoding.toLowerCase().replace(/[-_]/g, '');
  if (enc === 'latin1' || enc === 'iso88591') {
    for (let i = 0; i < text.length; i++) {
      if (text.charCodeAt(i) > 0xff)
        throw bad('_codecs.encode', 'the text does not fit latin-1', at);
    }
    return text.length;
  }
  if (enc === 'utf8') return Buffer.byteLength(text, 'utf8');
  throw bad('_codecs.encode', `the encoding "${encoding}" is not supported`, at);
}

function toNumber(v: PickleValue): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  return undefined;
}

const CALLABLES: Readonly<Record<string, GlobalDef>> = {
  'collections.OrderedDict': fn(true, (a, at) =>
    makeDict('collections.OrderedDict', 'OrderedDict', a, at),
  ),
  'collections.Counter': fn(true, (a, at) => makeDict('collections.Counter', 'Counter', a, at)),
  'builtins.set': fn(true, (a, at) => makeSet('builtins.set', false, a, at)),
  'builtins.frozenset': fn(true, (a, at) => makeSet('builtins.frozenset', true, a, at)),
  'builtins.complex': fn(true, (a, at) => {
    const re = a.length > 0 ? toNumber(a[0] as PickleValue) : 0;
    const im = a.length > 1 ? toNumber(a[1] as PickleValue) : 0;
    if (re === undefined || im === undefined)
      throw bad('builtins.complex', 'the parts must be numbers', at);
    return new PyComplex(re, im);
  }),
  'builtins.bytearray': fn(true, (a, at) => {
    const [src, encoding] = a;
    if (src === undefined) return new PyBytes(0);
    if (src instanceof PyBytes) return src;
    if (typeof src === 'string' && typeof encoding === 'string')
      return new PyBytes(encodedLength(src, encoding, at));
    throw bad('builtins.bytearray', `cannot build it from ${describeValue(src)}`, at);
  }),
  // How protocol 2 pickles bytes: _codecs.encode(text, 'latin1').
  '_codecs.encode': fn(false, (a, at) => {
    const [text, encoding] = a;
    if (typeof text !== 'string')
      throw bad(
        '_codecs.encode',
        `the text must be a string, not ${describeValue(text ?? null)}`,
        at,
      );
    return new PyBytes(encodedLength(text, typeof encoding === 'string' ? encoding : 'utf-8', at));
  }),
  'torch.Size': fn(true, (a, at) => {
    const dims = items(a[0] ?? []);
    if (!dims) throw bad('torch.Size', 'the sizes must be a tuple', at);
    return new PyTuple(dims);
  }),
  'torch.device': fn(true, (a, at) => {
    const [type, idx] = a;
    if (typeof type !== 'string') throw bad('torch.device', 'the device type must be a string', at);
    if (idx === undefined || idx === null) return new PyLabel(type);
    if (typeof idx !== 'number') throw bad('torch.device', 'the device index must be a number', at);
    return new PyLabel(`${type}:${idx}`);
  }),
  'torch.serialization._get_layout': fn(false, (a) => new PyLabel(String(a[0] ?? 'layout'))),
  'torch._utils._rebuild_tensor': fn(false, rebuildTensorV1),
  'torch._utils._rebuild_tensor_v2': fn(false, rebuildTensorV2),
  'torch._utils._rebuild_tensor_v3': fn(false, rebuildTensorV3),
  'torch._utils._rebuild_parameter': fn(false, rebuildParameter),
  'torch._utils._rebuild_parameter_with_state': fn(false, rebuildParameter),
  'torch._tensor._rebuild_from_type_v2': fn(false, rebuildFromTypeV2),
  'torch.nn.parameter.Parameter': fn(true, newParameter),
  'torch.Tensor': fn(true, (_a, at) => {
    throw new CheckpointError(
      'UnsupportedTorchFormat',
      `unsupported: a bare torch.Tensor() object at byte ${at.offset} of ${at.record}`,
    );
  }),
};

/** Quantization schemes: allowed by torch as plain values. */
const LABELS = new Set([
  'torch.per_tensor_affine',
  'torch.per_channel_affine',
  'torch.per_tensor_symmetric',
  'torch.per_channel_symmetric',
  'torch.per_channel_affine_float_qparams',
]);

/** Allowed by torch.load(weights_only=True), but not something LoRA Lens can describe. */
function isUnsupportedTorchRebuild(module: string, name: string): boolean {
  return (module === 'torch._utils' || module === 'torch._tensor') && name.startsWith('_rebuild_');
}

/**
 * The global `module.name`, or a ForbiddenGlobal error naming it. `how` and `offset` say which
 * opcode asked, for the message.
 */
export function resolveGlobal(
  rawModule: string,
  name: string,
  how: 'GLOBAL' | 'STACK_GLOBAL',
  at: CallSite,
): PyGlobal {
  const module = Object.hasOwn(PY2_MODULES, rawModule)
    ? (PY2_MODULES[rawModule] as string)
    : rawModule;
  const full = `${module}.${name}`;
  const where = `${how} at byte ${at.offset} of ${at.record}`;
  const topModule = module.split('.')[0] ?? module;
  if (BLOCKED_MODULES.has(topModule)) {
    throw new CheckpointError(
      'ForbiddenGlobal',
      `forbidden global "${full}" (${where}): module ${topModule} is always blocked; LoRA Lens never imports or calls anything from a checkpoint`,
      full,
    );
  }
  const callable = Object.prototype.hasOwnProperty.call(CALLABLES, full)
    ? CALLABLES[full]
    : undefined;
  if (callable) return new PyGlobal(module, name, callable);
  if (module === 'torch') {
    const dtype = torchDtype(name);
    if (dtype) return new PyGlobal(module, name, { kind: 'dtype', dtype });
  }
  const storage = storageClassDtype(module, name);
  if (storage) return new PyGlobal(module, name, { kind: 'storage', dtype: storage });
  if (LABELS.has(full)) return new PyGlobal(module, name, { kind: 'label' });
  if (isUnsupportedTorchRebuild(module, name)) {
    throw new CheckpointError(
      'UnsupportedTorchFormat',
      `unsupported: ${full} (${where}) is allowed by torch.load(weights_only=True), but LoRA Lens cannot describe what it builds (quantized, sparse, meta or subclass tensors)`,
      full,
    );
  }
  throw new CheckpointError(
    'ForbiddenGlobal',
    `forbidden global "${full}" (${where}): only globals that torch.load(weights_only=True) allows are resolved, and LoRA Lens never calls anything from a checkpoint`,
    full,
  );
}
