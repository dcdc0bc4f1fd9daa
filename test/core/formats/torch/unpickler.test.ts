import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CheckpointError,
  MemoryByteSource,
  type ReaderErrorCode,
} from '../../../../src/core/formats/index.js';
import { openTorch, unpickle, PICKLE_LIMITS } from '../../../../src/core/formats/torch/index.js';
import { flattenCheckpoint } from '../../../../src/core/formats/torch/flattenCheckpoint.js';
import {
  PyBytes,
  PyDict,
  PySet,
  PyTuple,
  type PickleValue,
} from '../../../../src/core/formats/torch/pickleValues.js';
import { P, dataPkl, dictOps, pickle, tensorOps } from './pickleBuilder.js';
import { torchZip } from './torchZipBuilder.js';

const noStorage = () => {
  throw new Error('no persistent ids expected');
};
const load = (bytes: Uint8Array): PickleValue =>
  unpickle(bytes, { record: 'test.pkl', persistentLoad: noStorage }).value;

function refuses(
  bytes: Uint8Array,
  code: ReaderErrorCode,
  part?: RegExp | string,
): CheckpointError {
  try {
    load(bytes);
  } catch (e) {
    assert.ok(e instanceof CheckpointError, String(e));
    assert.equal(e.code, code, e.message);
    if (part instanceof RegExp) assert.match(e.message, part);
    else if (part) assert.ok(e.message.includes(part), e.message);
    return e;
  }
  assert.fail(`expected ${code}`);
}

async function openRefuses(
  file: Uint8Array,
  code: ReaderErrorCode,
  part?: string,
): Promise<CheckpointError> {
  try {
    await openTorch(new MemoryByteSource(file, 'test.pt'));
  } catch (e) {
    assert.ok(e instanceof CheckpointError, String(e));
    assert.equal(e.code, code, e.message);
    if (part) assert.ok(e.message.includes(part), e.message);
    return e;
  }
  assert.fail(`expected ${code}`);
}

describe('unpickler: values', () => {
  it('reads numbers, strings, containers and the memo', () => {
    const v = load(
      pickle(
        P.proto(2),
        P.emptyDict,
        P.binput(0),
        P.mark,
        P.str('i'),
        P.int(300),
        P.str('neg'),
        [0x4a, 0xff, 0xff, 0xff, 0xff], // BININT -1
        P.str('big'),
        P.long1(-(2n ** 70n)),
        P.str('small_long'),
        P.long1(-5n),
        P.str('f'),
        P.float(-0.375),
        P.str('t'),
        P.mark,
        P.none,
        P.true,
        P.false,
        P.tuple,
        P.str('l'),
        P.emptyList,
        P.mark,
        P.int(1),
        P.int(2),
        P.appends,
        P.str('again'),
        P.binget(0),
        P.setitems,
        P.stop,
      ),
    );
    assert.ok(v instanceof PyDict);
    assert.equal(v.map.get('i'), 300);
    assert.equal(v.map.get('neg'), -1);
    assert.equal(v.map.get('big'), -(2n ** 70n));
    assert.equal(v.map.get('small_long'), -5);
    assert.equal(v.map.get('f'), -0.375);
    const t = v.map.get('t');
    assert.ok(t instanceof PyTuple);
    assert.deepEqual(t.items, [null, true, false]);
    assert.deepEqual(v.map.get('l'), [1, 2]);
    assert.equal(v.map.get('again'), v, 'BINGET returns the memoized object itself');
  });

  it('reads protocol 4/5 opcodes: FRAME, SHORT_BINUNICODE, MEMOIZE, sets, bytes', () => {
    const body = pickle(
      P.emptyDict,
      P.memoize,
      P.mark,
      P.shortStr('s'),
      P.emptySet,
      P.mark,
      P.int(1),
      P.additems,
      P.shortStr('fs'),
      P.mark,
      P.int(2),
      P.frozenset,
      P.shortStr('b'),
      P.shortBytes(3),
      P.shortStr('d'),
      P.mark,
      P.shortStr('k'),
      P.int(9),
      P.dict,
      P.shortStr('x'),
      P.mark,
      P.int(4),
      P.list,
      P.setitems,
      P.stop,
    );
    const v = load(pickle(P.proto(4), P.frame(body.byteLength), body));
    assert.ok(v instanceof PyDict);
    const s = v.map.get('s');
    assert.ok(s instanceof PySet && !s.frozen);
    assert.deepEqual(s.items, [1]);
    const fs = v.map.get('fs');
    assert.ok(fs instanceof PySet && fs.frozen);
    assert.ok(v.map.get('b') instanceof PyBytes);
    assert.equal((v.map.get('d') as PyDict).map.get('k'), 9);
    assert.deepEqual(v.map.get('x'), [4]);
  });

  it('keeps "__proto__" and "constructor" keys as plain entries', () => {
    const v = load(
      pickle(
        P.proto(2),
        dictOps([
          ['__proto__', P.int(1)],
          ['constructor', P.int(2)],
        ]),
        P.stop,
      ),
    );
    const flat = flattenCheckpoint(v);
    assert.equal(Object.getPrototypeOf(flat.values), null);
    assert.equal(flat.values['__proto__'], 1);
    assert.equal(flat.values['constructor'], 2);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });

  it('resolves allowlisted globals to inert values (OrderedDict, set, complex, _codecs.encode, device)', () => {
    const v = load(
      pickle(
        P.proto(2),
        dictOps([
          ['od', [...P.global('collections', 'OrderedDict'), ...P.emptyTuple, ...P.reduce]],
          [
            'set',
            [
              ...P.global('__builtin__', 'set'),
              ...P.emptyList,
              ...P.int(3),
              ...P.append,
              ...P.tuple1,
              ...P.reduce,
            ],
          ],
          [
            'c',
            [
              ...P.global('builtins', 'complex'),
              ...P.float(1),
              ...P.float(2),
              ...P.tuple2,
              ...P.reduce,
            ],
          ],
          [
            'b',
            [
              ...P.global('_codecs', 'encode'),
              ...P.str('abc'),
              ...P.str('latin1'),
              ...P.tuple2,
              ...P.reduce,
            ],
          ],
          [
            'dev',
            [
              ...P.global('torch', 'device'),
              ...P.str('cuda'),
              ...P.int(1),
              ...P.tuple2,
              ...P.reduce,
            ],
          ],
          ['dtype', P.global('torch', 'bfloat16')],
        ]),
        P.stop,
      ),
    );
    const flat = flattenCheckpoint(v);
    assert.deepEqual(JSON.parse(JSON.stringify(flat.values)), {
      od: {},
      set: [3],
      c: { real: 1, imag: 2 },
      b: '<3 bytes>',
      dev: 'cuda:1',
      dtype: 'torch.bfloat16',
    });
  });
});

describe('unpickler: refusals', () => {
  it('refuses every code-running or unneeded opcode by name', () => {
    const cases: [string, number[]][] = [
      ['INST', [...P.mark, 0x69, ...Buffer.from('os\nsystem\n')]],
      ['OBJ', [...P.mark, ...P.global('collections', 'OrderedDict'), 0x6f]],
      ['EXT1', [0x82, 1]],
      ['EXT2', [0x83, 1, 0]],
      ['EXT4', [0x84, 1, 0, 0, 0]],
      ['NEWOBJ_EX', [0x92]],
      ['PERSID', [0x50, ...Buffer.from('0\n')]],
      ['INT', [0x49, ...Buffer.from('1\n')]],
      ['STRING', [0x53, ...Buffer.from("'a'\n")]],
      ['GET', [0x67, ...Buffer.from('0\n')]],
      ['POP', [...P.none, 0x30]],
      ['DUP', [...P.none, 0x32]],
      ['NEXT_BUFFER', [0x97]],
    ];
    for (const [name, ops] of cases) {
      const e = refuses(pickle(P.proto(2), ops, P.stop), 'ForbiddenOpcode', name);
      assert.equal(e.subject, name);
    }
  });

  it('refuses globals outside the allowlist, with the blocked-module wording for os/sys/posix/nt', () => {
    for (const [m, n, full] of [
      ['os', 'system', 'os.system'],
      ['nt', 'system', 'nt.system'],
      ['sys', 'modules', 'sys.modules'],
      ['os.path', 'join', 'os.path.join'],
    ]) {
      const e = refuses(
        pickle(P.proto(2), P.global(m as string, n as string), P.stop),
        'ForbiddenGlobal',
        'always blocked',
      );
      assert.equal(e.subject, full);
    }
    for (const full of [
      'builtins.eval',
      'builtins.getattr',
      'subprocess.Popen',
      'torch.load',
      'numpy.core.multiarray._reconstruct',
      'torch._C._nn',
    ]) {
      const dot = full.lastIndexOf('.');
      const e = refuses(
        pickle(P.proto(2), P.global(full.slice(0, dot), full.slice(dot + 1)), P.stop),
        'ForbiddenGlobal',
        full,
      );
      assert.equal(e.subject, full);
    }
    // Names that are also Object.prototype members resolve to nothing special.
    for (const [m, n] of [
      ['constructor', 'x'],
      ['torch', 'constructor'],
      ['torch', '__proto__'],
      ['__proto__', 'toString'],
    ] as const) {
      const e = refuses(
        pickle(P.proto(2), P.global(m, n), P.stop),
        'ForbiddenGlobal',
        `"${m}.${n}"`,
      );
      assert.equal(e.subject, `${m}.${n}`);
    }
    // Through STACK_GLOBAL too.
    const e = refuses(
      pickle(P.proto(4), P.shortStr('builtins'), P.shortStr('exec'), P.stackGlobal, P.stop),
      'ForbiddenGlobal',
      'STACK_GLOBAL',
    );
    assert.equal(e.subject, 'builtins.exec');
  });

  it('names torch-allowed rebuilds it cannot describe as unsupported, not as attacks', () => {
    refuses(
      pickle(P.proto(2), P.global('torch._utils', '_rebuild_qtensor'), P.stop),
      'UnsupportedTorchFormat',
      'torch._utils._rebuild_qtensor',
    );
  });

  it('refuses SETITEM/APPEND/BUILD on the wrong target (CVE-2026-24747 class)', () => {
    refuses(
      pickle(P.proto(2), P.emptyList, P.int(0), P.int(1), P.setitem, P.stop),
      'ForbiddenOpcode',
      'SETITEM on a list',
    );
    refuses(
      pickle(P.proto(2), P.emptyList, P.mark, P.int(0), P.int(1), P.setitems, P.stop),
      'ForbiddenOpcode',
      'SETITEMS',
    );
    refuses(
      pickle(P.proto(2), P.emptyDict, P.int(0), P.append, P.stop),
      'ForbiddenOpcode',
      'APPEND on a dict',
    );
    refuses(
      pickle(P.proto(2), P.emptyTuple, P.mark, P.int(0), P.appends, P.stop),
      'ForbiddenOpcode',
      'APPENDS on a tuple',
    );
    refuses(
      pickle(P.proto(2), P.emptyList, P.emptyDict, P.build, P.stop),
      'ForbiddenOpcode',
      'BUILD on a list',
    );
    refuses(
      pickle(P.proto(2), P.global('torch', 'float32'), P.emptyDict, P.build, P.stop),
      'ForbiddenOpcode',
      'BUILD on the global torch.float32',
    );
    // BUILD on an OrderedDict (a state_dict's _metadata) is fine.
    const v = load(
      pickle(
        P.proto(2),
        P.global('collections', 'OrderedDict'),
        P.emptyTuple,
        P.reduce,
        dictOps([['_metadata', P.emptyDict]]),
        P.build,
        P.stop,
      ),
    );
    assert.ok(v instanceof PyDict && v.kind === 'OrderedDict');
  });

  it('refuses calls that are not calls of allowlisted functions', () => {
    refuses(
      pickle(P.proto(2), P.global('torch', 'FloatStorage'), P.emptyTuple, P.reduce, P.stop),
      'InvalidPickle',
      'not callable',
    );
    refuses(
      pickle(P.proto(2), P.str('x'), P.emptyTuple, P.reduce, P.stop),
      'InvalidPickle',
      'not callable',
    );
    refuses(
      pickle(P.proto(2), P.global('collections', 'OrderedDict'), P.emptyList, P.reduce, P.stop),
      'InvalidPickle',
      'as arguments',
    );
    refuses(
      pickle(
        P.proto(2),
        P.global('torch._utils', '_rebuild_tensor_v2'),
        P.emptyTuple,
        P.newobj,
        P.stop,
      ),
      'InvalidPickle',
      'not a class',
    );
    refuses(
      pickle(
        P.proto(2),
        P.global('torch._utils', '_rebuild_tensor_v2'),
        P.emptyTuple,
        P.reduce,
        P.stop,
      ),
      'InvalidPickle',
      'must be a storage',
    );
  });

  it('refuses structural damage with named errors', () => {
    refuses(pickle(P.proto(2), P.str('x')), 'Truncated', 'without a STOP');
    refuses(pickle(P.proto(2), [0x58, 0xff, 0xff, 0xff, 0x7f, 0x41], P.stop), 'Truncated', 'needs');
    refuses(pickle(P.proto(2), [0x8b, 0xff, 0xff, 0xff, 0x7f]), 'LimitExceeded', 'integer');
    refuses(pickle(P.proto(2), P.binget(3), P.stop), 'InvalidPickle', 'memo key 3');
    refuses(pickle(P.proto(2), P.tuple1, P.stop), 'InvalidPickle', 'underflow');
    refuses(pickle(P.proto(2), P.mark, P.tuple1, P.stop), 'InvalidPickle', 'underflow');
    refuses(pickle(P.proto(2), P.tuple, P.stop), 'InvalidPickle', 'MARK');
    refuses(pickle(P.proto(2), P.mark, P.int(1), P.dict, P.stop), 'InvalidPickle', 'odd');
    refuses(pickle(P.proto(2), P.stop), 'InvalidPickle', 'empty stack');
    refuses(pickle(P.proto(6), P.none, P.stop), 'InvalidPickle', 'protocol 6');
    refuses(pickle(P.proto(2), [0xff], P.stop), 'InvalidPickle', 'unknown opcode 0xff');
    refuses(
      pickle(P.proto(2), [0x63, ...Buffer.from('torch'.repeat(400))]),
      'InvalidPickle',
      'newline',
    );
    refuses(
      pickle(P.proto(4), P.int(1), P.int(2), P.stackGlobal, P.stop),
      'InvalidPickle',
      'STACK_GLOBAL',
    );
  });

  it('caps nested MARKs', () => {
    const marks = new Array<number>(PICKLE_LIMITS.maxMarkDepth + 1).fill(0x28);
    refuses(pickle(P.proto(2), marks, P.stop), 'LimitExceeded', 'MARK');
  });

  it('refuses containers that contain themselves, or nest without end, when flattened', () => {
    // l = []; l.append(l)
    const v = load(pickle(P.proto(2), P.emptyList, P.binput(0), P.binget(0), P.append, P.stop));
    assert.throws(
      () => flattenCheckpoint(v),
      (e: unknown) => e instanceof CheckpointError && e.code === 'LimitExceeded',
    );
    // Each level shares the previous one twice: 2^40 paths from 80 bytes.
    const ops: number[][] = [P.emptyList, P.binput(0)];
    for (let i = 1; i <= 40; i++)
      ops.push(P.mark, P.binget(i - 1), P.binget(i - 1), P.list, P.binput(i));
    const bomb = load(pickle(P.proto(2), ...ops, P.stop));
    assert.throws(
      () => flattenCheckpoint(bomb),
      (e: unknown) => e instanceof CheckpointError && e.code === 'LimitExceeded',
    );
  });
});

describe('unpickler: persistent ids and tensors in an archive', () => {
  const f32 = (values: number[]) => new Uint8Array(Float32Array.from(values).buffer);

  it('reads a v2 tensor, a Parameter and a _rebuild_from_type_v2 tensor', async () => {
    const t = tensorOps({ key: '0', numel: 4, shape: [2, 2] });
    const param = [
      ...P.global('torch._utils', '_rebuild_parameter'),
      ...tensorOps({ key: '0', numel: 4, shape: [4] }),
      ...P.true,
      ...P.global('collections', 'OrderedDict'),
      ...P.emptyTuple,
      ...P.reduce,
      ...P.tuple3,
      ...P.reduce,
    ];
    const fromType = [
      ...P.global('torch._tensor', '_rebuild_from_type_v2'),
      ...P.mark,
      ...P.global('torch._utils', '_rebuild_tensor_v2'),
      ...P.global('torch', 'Tensor'),
      ...P.mark,
      ...tensorOps({ key: '0', numel: 4, shape: [1] }).slice(
        P.global('torch._utils', '_rebuild_tensor_v2').length + 1,
        -2,
      ),
      ...P.tuple,
      ...P.emptyDict,
      ...P.tuple,
      ...P.reduce,
    ];
    const file = torchZip(
      dataPkl(
        dictOps([
          ['t', t],
          ['p', param],
          ['s', fromType],
        ]),
      ),
      { '0': f32([1, 2, 3, 4]) },
    );
    const ckpt = await openTorch(new MemoryByteSource(file, 'x.pt'));
    assert.deepEqual(
      ckpt.tensors.map((x) => [x.name, x.shape]),
      [
        ['t', [2, 2]],
        ['p', [4]],
        ['s', [1]],
      ],
    );
    assert.deepEqual(
      [...new Float32Array((await ckpt.readTensorBytes(ckpt.tensor('p'))).slice().buffer)],
      [1, 2, 3, 4],
    );
  });

  it('refuses malformed persistent ids', async () => {
    const pid = (items: number[]) =>
      dataPkl(dictOps([['w', [...P.mark, ...items, ...P.tuple, ...P.binpersid]]]));
    await openRefuses(torchZip(pid([...P.str('module')]), {}), 'InvalidPickle', '"storage"');
    await openRefuses(
      torchZip(
        pid([
          ...P.str('storage'),
          ...P.str('FloatStorage'),
          ...P.str('0'),
          ...P.str('cpu'),
          ...P.int(1),
        ]),
        {},
      ),
      'InvalidPickle',
      'storage class',
    );
    await openRefuses(
      torchZip(
        pid([
          ...P.str('storage'),
          ...P.global('torch', 'FloatStorage'),
          ...P.int(0),
          ...P.str('cpu'),
          ...P.int(1),
        ]),
        {},
      ),
      'InvalidPickle',
      'key',
    );
    await openRefuses(
      torchZip(
        pid([
          ...P.str('storage'),
          ...P.global('torch', 'FloatStorage'),
          ...P.str('0'),
          ...P.str('cpu'),
        ]),
        {},
      ),
      'InvalidPickle',
      '5 parts',
    );
  });

  it('checks storage sizes and tensor extents, naming the tensor', async () => {
    const one = (spec: Parameters<typeof tensorOps>[0], storage: Uint8Array) =>
      torchZip(dataPkl(dictOps([['layer.w', tensorOps(spec)]])), { '0': storage });
    let e = await openRefuses(
      one({ key: '0', numel: 4, shape: [4] }, f32([1, 2])),
      'StorageMismatch',
      'layer.w',
    );
    assert.equal(e.subject, 'layer.w');
    e = await openRefuses(
      one({ key: '0', numel: 4, shape: [2, 2], stride: [3, 1] }, f32([1, 2, 3, 4])),
      'StorageMismatch',
      'reaches byte 20',
    );
    await openRefuses(
      one({ key: '0', numel: 4, shape: [2], offset: 3 }, f32([1, 2, 3, 4])),
      'StorageMismatch',
      'layer.w',
    );
    await openRefuses(
      one({ key: '1', numel: 4, shape: [4] }, f32([1, 2, 3, 4])),
      'StorageMismatch',
      'not in the archive',
    );
    await openRefuses(
      one({ key: '0', numel: 1, shape: [2 ** 30, 2 ** 30, 2 ** 30], stride: [0, 0, 0] }, f32([1])),
      'LimitExceeded',
      'layer.w',
    );
    // A v3 tensor checks its extent in bytes of its own dtype against an UntypedStorage in bytes.
    await openRefuses(
      one({ key: '0', numel: 3, shape: [2], v3Dtype: 'uint16' }, new Uint8Array(3)),
      'StorageMismatch',
      'reaches byte 4',
    );
    // Two persistent ids for one key must agree.
    const twice = dictOps([
      ['a', tensorOps({ key: '0', numel: 4, shape: [4] })],
      ['b', tensorOps({ key: '0', numel: 2, shape: [2] })],
    ]);
    await openRefuses(
      torchZip(dataPkl(twice), { '0': f32([1, 2, 3, 4]) }),
      'StorageMismatch',
      'declared twice',
    );
  });

  it('warns about a storage record larger than declared, and renames duplicate names', async () => {
    const obj = [
      ...P.emptyDict,
      ...P.mark,
      ...P.str('a.b'),
      ...tensorOps({ key: '0', numel: 2, shape: [2] }),
      ...P.str('a'),
      ...dictOps([['b', tensorOps({ key: '0', numel: 2, shape: [1], offset: 1 })]]),
      ...P.setitems,
    ];
    const ckpt = await openTorch(
      new MemoryByteSource(torchZip(dataPkl(obj), { '0': f32([5, 6, 7]) }), 'x.pt'),
    );
    assert.deepEqual(
      ckpt.tensors.map((t) => t.name),
      ['a.b', 'a.b#2'],
    );
    assert.ok(ckpt.warnings?.some((w) => w.includes('more than the 8')));
    assert.ok(ckpt.warnings?.some((w) => w.includes('a.b#2')));
  });
});
