/**
 * A restricted pickle interpreter that executes nothing. It reads the opcodes torch.save writes
 * (protocols 2–5), builds inert values (pickleValues.ts), resolves globals only through the
 * weights_only allowlist (allowedGlobals.ts), and refuses code-running or unneeded opcodes by
 * name. It is one loop over the bytes with an explicit stack: no recursion, so no depth the file
 * controls can overflow ours; memo, stack and mark depth are capped.
 */
import { CheckpointError } from '../errors.js';
import { resolveGlobal } from './allowedGlobals.js';
import { FORBIDDEN_OPCODES, OP, OPCODE_NAMES } from './pickleOpcodes.js';
import {
  PyBytes,
  PyDict,
  PyGlobal,
  PySet,
  PyTuple,
  TorchTensor,
  describeValue,
  type CallSite,
  type PickleValue,
} from './pickleValues.js';

export const PICKLE_LIMITS = {
  maxMemoEntries: 4_000_000,
  maxStackDepth: 4_000_000,
  maxMarkDepth: 10_000,
  /** LONG1/LONG4 payloads: checkpoints only hold small integers. */
  maxLongBytes: 1024,
  maxLineLength: 1024,
} as const;

export interface UnpickleOptions {
  /** The record name, for messages ("archive/data.pkl"). */
  readonly record: string;
  /** BINPERSID: torch's ("storage", storage_type, key, location, numel) tuples. */
  persistentLoad(pid: PickleValue, at: CallSite): PickleValue;
}

export interface UnpickleResult {
  readonly value: PickleValue;
  /** From the PROTO opcode; 0 when there is none. */
  readonly protocol: number;
}

const utf8 = new TextDecoder('utf-8');

export function unpickle(data: Uint8Array, options: UnpickleOptions): UnpickleResult {
  const { record } = options;
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const end = data.byteLength;
  const stack: PickleValue[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PickleValue>();
  let protocol = 0;
  let pos = 0;
  let opStart = 0;

  const site = (): CallSite => ({ offset: opStart, record });
  const invalid = (what: string) =>
    new CheckpointError('InvalidPickle', `invalid pickle: ${what} at byte ${opStart} of ${record}`);
  const need = (n: number): number => {
    if (n > end - pos) {
      throw new CheckpointError(
        'Truncated',
        `${record} ends (${end} bytes) inside the opcode at byte ${opStart}, which needs ${n} more bytes`,
      );
    }
    const at = pos;
    pos += n;
    return at;
  };
  const u8 = () => data[need(1)] as number;
  const u16 = () => dv.getUint16(need(2), true);
  const u32 = () => dv.getUint32(need(4), true);
  const i32 = () => dv.getInt32(need(4), true);
  const u64 = (): number => {
    const at = need(8);
    const lo = dv.getUint32(at, true);
    const hi = dv.getUint32(at + 4, true);
    // Anything over 2^53 is longer than any record we read anyway.
    return hi >= 0x200000 ? Number.MAX_SAFE_INTEGER : hi * 0x1_0000_0000 + lo;
  };
  const bytes = (n: number): Uint8Array => {
    const at = need(n);
    return data.subarray(at, at + n);
  };
  const line = (): string => {
    const limit = Math.min(end, pos + PICKLE_LIMITS.maxLineLength);
    for (let i = pos; i < limit; i++) {
      if (data[i] === 0x0a) {
        const text = utf8.decode(data.subarray(pos, i));
        pos = i + 1;
        return text;
      }
    }
    throw invalid('a GLOBAL name without its newline');
  };

  const push = (v: PickleValue) => {
    if (stack.length >= PICKLE_LIMITS.maxStackDepth) {
      throw new CheckpointError(
        'LimitExceeded',
        `the pickle stack of ${record} grew past ${PICKLE_LIMITS.maxStackDepth.toLocaleString('en-US')} values`,
      );
    }
    stack.push(v);
  };
  const pop = (): PickleValue => {
    if (stack.length === 0 || stack.length === marks[marks.length - 1])
      throw invalid('stack underflow');
    return stack.pop() as PickleValue;
  };
  const top = (): PickleValue => {
    if (stack.length === 0) throw invalid('stack underflow');
    return stack[stack.length - 1] as PickleValue;
  };
  const popMark = (): PickleValue[] => {
    const m = marks.pop();
    if (m === undefined) throw invalid('an opcode that needs a MARK, with none on the stack');
    return stack.splice(m);
  };
  const put = (key: number) => {
    if (!memo.has(key) && memo.size >= PICKLE_LIMITS.maxMemoEntries) {
      throw new CheckpointError(
        'LimitExceeded',
        `the pickle memo of ${record} grew past ${PICKLE_LIMITS.maxMemoEntries.toLocaleString('en-US')} entries`,
      );
    }
    memo.set(key, top());
  };
  const get = (key: number) => {
    const v = memo.get(key);
    if (v === undefined) throw invalid(`memo key ${key} is read before it is written`);
    push(v);
  };
  const forbiddenTarget = (op: string, target: PickleValue, allowed: string) =>
    new CheckpointError(
      'ForbiddenOpcode',
      `${op} on ${describeValue(target)} at byte ${opStart} of ${record} is not allowed: only ${allowed}`,
      op,
    );
  const dictTarget = (op: string): PyDict => {
    const d = top();
    if (!(d instanceof PyDict)) throw forbiddenTarget(op, d, 'dicts take items');
    return d;
  };
  const listTarget = (op: string): PickleValue[] => {
    const l = top();
    if (!Array.isArray(l)) throw forbiddenTarget(op, l, 'lists take appends');
    return l;
  };
  const setPairs = (d: PyDict, items: readonly PickleValue[]) => {
    if (items.length % 2 !== 0) throw invalid('an odd number of dict items');
    for (let i = 0; i < items.length; i += 2)
      d.map.set(items[i] as PickleValue, items[i + 1] as PickleValue);
  };
  const callable = (op: string, f: PickleValue): PyGlobal => {
    if (!(f instanceof PyGlobal))
      throw invalid(`${op} on ${describeValue(f)}, which is not callable`);
    if (f.def.kind !== 'callable') throw invalid(`${op} on ${f.fullName}, which is not callable`);
    return f;
  };
  const long = (n: number): number | bigint => {
    if (n > PICKLE_LIMITS.maxLongBytes) {
      throw new CheckpointError(
        'LimitExceeded',
        `an integer of ${n} bytes at byte ${opStart} of ${record} (at most ${PICKLE_LIMITS.maxLongBytes})`,
      );
    }
    const b = bytes(n);
    if (n === 0) return 0;
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i] as number);
    if ((b[n - 1] as number) & 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(v)
      : v;
  };

  while (pos < end) {
    opStart = pos;
    const op = data[pos++] as number;
    switch (op) {
      case OP.PROTO: {
        const p = u8();
        if (p > 5) throw invalid(`pickle protocol ${p} (at most 5 exists)`);
        if (protocol === 0) protocol = p;
        break;
      }
      case OP.FRAME: {
        const n = u64();
        if (n > end - pos) need(n);
        break;
      }
      case OP.STOP: {
        if (stack.length === 0) throw invalid('STOP with an empty stack');
        return { value: stack[stack.length - 1] as PickleValue, protocol };
      }
      case OP.MARK:
        if (marks.length >= PICKLE_LIMITS.maxMarkDepth) {
          throw new CheckpointError(
            'LimitExceeded',
            `more than ${PICKLE_LIMITS.maxMarkDepth.toLocaleString('en-US')} nested MARKs in ${record}`,
          );
        }
        marks.push(stack.length);
        break;

      // Constants and numbers.
      case OP.NONE:
        push(null);
        break;
      case OP.NEWTRUE:
        push(true);
        break;
      case OP.NEWFALSE:
        push(false);
        break;
      case OP.BININT:
        push(i32());
        break;
      case OP.BININT1:
        push(u8());
        break;
      case OP.BININT2:
        push(u16());
        break;
      case OP.LONG1:
        push(long(u8()));
        break;
      case OP.LONG4: {
        const n = i32();
        if (n < 0) throw invalid('a negative LONG4 length');
        push(long(n));
        break;
      }
      case OP.BINFLOAT:
        push(dv.getFloat64(need(8), false));
        break;

      // Strings and bytes: lengths are bounded by the record, which was read whole.
      case OP.BINUNICODE:
        push(utf8.decode(bytes(u32())));
        break;
      case OP.SHORT_BINUNICODE:
        push(utf8.decode(bytes(u8())));
        break;
      case OP.BINUNICODE8:
        push(utf8.decode(bytes(u64())));
        break;
      case OP.SHORT_BINSTRING:
        push(utf8.decode(bytes(u8())));
        break;
      case OP.BINSTRING: {
        const n = i32();
        if (n < 0) throw invalid('a negative BINSTRING length');
        push(utf8.decode(bytes(n)));
        break;
      }
      case OP.SHORT_BINBYTES:
        push(new PyBytes(bytes(u8()).byteLength));
        break;
      case OP.BINBYTES:
        push(new PyBytes(bytes(u32()).byteLength));
        break;
      case OP.BINBYTES8:
      case OP.BYTEARRAY8:
        push(new PyBytes(bytes(u64()).byteLength));
        break;

      // Containers.
      case OP.EMPTY_DICT:
        push(new PyDict('dict'));
        break;
      case OP.EMPTY_LIST:
        push([]);
        break;
      case OP.EMPTY_TUPLE:
        push(new PyTuple([]));
        break;
      case OP.EMPTY_SET:
        push(new PySet(false));
        break;
      case OP.DICT: {
        const d = new PyDict('dict');
        setPairs(d, popMark());
        push(d);
        break;
      }
      case OP.LIST:
        push(popMark());
        break;
      case OP.TUPLE:
        push(new PyTuple(popMark()));
        break;
      case OP.TUPLE1:
        push(new PyTuple([pop()]));
        break;
      case OP.TUPLE2: {
        const b = pop();
        push(new PyTuple([pop(), b]));
        break;
      }
      case OP.TUPLE3: {
        const c = pop();
        const b = pop();
        push(new PyTuple([pop(), b, c]));
        break;
      }
      case OP.FROZENSET: {
        const s = new PySet(true);
        s.items.push(...popMark());
        push(s);
        break;
      }
      case OP.APPEND: {
        const v = pop();
        listTarget('APPEND').push(v);
        break;
      }
      case OP.APPENDS: {
        const items = popMark();
        const l = listTarget('APPENDS');
        for (const v of items) l.push(v);
        break;
      }
      case OP.SETITEM: {
        const v = pop();
        const k = pop();
        dictTarget('SETITEM').map.set(k, v);
        break;
      }
      case OP.SETITEMS: {
        const items = popMark();
        setPairs(dictTarget('SETITEMS'), items);
        break;
      }
      case OP.ADDITEMS: {
        const items = popMark();
        const s = top();
        if (!(s instanceof PySet) || s.frozen)
          throw forbiddenTarget('ADDITEMS', s, 'sets take items');
        s.items.push(...items);
        break;
      }

      // Memo.
      case OP.BINPUT:
        put(u8());
        break;
      case OP.LONG_BINPUT:
        put(u32());
        break;
      case OP.MEMOIZE:
        put(memo.size);
        break;
      case OP.BINGET:
        get(u8());
        break;
      case OP.LONG_BINGET:
        get(u32());
        break;

      // Globals and calls: only through the allowlist, and only to build inert data.
      case OP.GLOBAL: {
        const module = line();
        const name = line();
        push(resolveGlobal(module, name, 'GLOBAL', site()));
        break;
      }
      case OP.STACK_GLOBAL: {
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string')
          throw invalid('STACK_GLOBAL with a module or name that is not a string');
        push(resolveGlobal(module, name, 'STACK_GLOBAL', site()));
        break;
      }
      case OP.REDUCE: {
        const args = pop();
        const f = callable('REDUCE', pop());
        if (!(args instanceof PyTuple))
          throw invalid(`REDUCE with ${describeValue(args)} as arguments`);
        if (f.def.kind === 'callable') push(f.def.call(args.items, site()));
        break;
      }
      case OP.NEWOBJ: {
        const args = pop();
        const cls = callable('NEWOBJ', pop());
        if (!(args instanceof PyTuple))
          throw invalid(`NEWOBJ with ${describeValue(args)} as arguments`);
        if (cls.def.kind === 'callable') {
          if (!cls.def.isClass) throw invalid(`NEWOBJ on ${cls.fullName}, which is not a class`);
          push(cls.def.call(args.items, site()));
        }
        break;
      }
      case OP.BUILD: {
        const state = pop();
        const target = top();
        // OrderedDict attributes (a state_dict's _metadata) and tensor/Parameter state: accepted
        // and ignored. Anything else would mean calling __setstate__ on some object.
        if (target instanceof PyDict) {
          if (state !== null && !(state instanceof PyDict) && !(state instanceof PyTuple))
            throw invalid(`BUILD with ${describeValue(state)} as the state of a dict`);
        } else if (!(target instanceof TorchTensor)) {
          throw forbiddenTarget(
            'BUILD',
            target,
            'dicts, OrderedDicts, tensors and Parameters can be built',
          );
        }
        break;
      }
      case OP.BINPERSID: {
        const pid = pop();
        push(options.persistentLoad(pid, site()));
        break;
      }

      default: {
        const name = OPCODE_NAMES.get(op);
        const why = FORBIDDEN_OPCODES.get(op);
        if (name !== undefined && why !== undefined) {
          throw new CheckpointError(
            'ForbiddenOpcode',
            `forbidden pickle opcode ${name} (0x${op.toString(16).padStart(2, '0')}) at byte ${opStart} of ${record}: ${why}`,
            name,
          );
        }
        throw invalid(`unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
      }
    }
  }
  throw new CheckpointError('Truncated', `${record} ends without a STOP opcode (truncated?)`);
}
