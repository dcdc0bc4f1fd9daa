import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CheckpointError, openPath, type Checkpoint } from '../../../../src/core/formats/index.js';
import { analyzeLora, type LoraAnalysis } from '../../../../src/core/lora/index.js';
import {
  checkpointIdentity,
  identityMatches,
  MAPPING_SCHEMA_ID,
  overridesFrom,
  parseMappingFile,
  readMappingFile,
  toMappingFile,
  writeMappingFile,
} from '../../../../src/core/mapping/export/mappingFile.js';
import { openMappedPair } from '../../../../src/core/mapping/mappedPair.js';
import type { MappingFile } from '../../../../src/core/mapping/types.js';
import { buildSafetensors, type TensorSpec } from '../../../helpers/safetensorsBuilder.js';
import { ADAPTER, BASE, handMapping } from './helpers.js';

/** A validator for the JSON Schema subset schemas/mapping.schema.json uses. Returns the errors. */
type Schema = Record<string, unknown>;
function validate(schema: Schema, value: unknown, root: Schema = schema, at = '$'): string[] {
  if (typeof schema.$ref === 'string') {
    const path = schema.$ref.replace(/^#\//, '').split('/');
    let s: unknown = root;
    for (const p of path) s = (s as Schema)[p];
    return validate(s as Schema, value, root, at);
  }
  const errors: string[] = [];
  const known = new Set([
    '$schema',
    '$id',
    '$defs',
    'title',
    'description',
    'type',
    'const',
    'enum',
    'required',
    'properties',
    'additionalProperties',
    'items',
    'oneOf',
    'pattern',
    'minimum',
    'maximum',
  ]);
  for (const k of Object.keys(schema))
    if (!known.has(k)) errors.push(`${at}: keyword ${k} unsupported`);
  const typeOf = (v: unknown) =>
    v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v;
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    const t = typeOf(value);
    if (!types.some((x) => x === t || (x === 'number' && t === 'integer')))
      return [`${at}: ${t} is not ${types.join('|')}`];
  }
  if ('const' in schema && schema.const !== value)
    errors.push(`${at}: not ${String(schema.const)}`);
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) errors.push(`${at}: not in enum`);
  if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern).test(value as string))
    errors.push(`${at}: does not match ${schema.pattern}`);
  if (typeof schema.minimum === 'number' && (value as number) < schema.minimum)
    errors.push(`${at}: below minimum`);
  if (typeof schema.maximum === 'number' && (value as number) > schema.maximum)
    errors.push(`${at}: above maximum`);
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    for (const r of (schema.required as string[] | undefined) ?? [])
      if (!(r in o)) errors.push(`${at}: missing ${r}`);
    const props = (schema.properties as Record<string, Schema> | undefined) ?? {};
    for (const [k, v] of Object.entries(o)) {
      if (props[k]) errors.push(...validate(props[k], v, root, `${at}.${k}`));
      else if (schema.additionalProperties === false) errors.push(`${at}: extra property ${k}`);
    }
  }
  if (Array.isArray(value) && schema.items)
    value.forEach((v, i) =>
      errors.push(...validate(schema.items as Schema, v, root, `${at}[${i}]`)),
    );
  if (Array.isArray(schema.oneOf)) {
    const ok = (schema.oneOf as Schema[]).filter((s) => validate(s, value, root, at).length === 0);
    if (ok.length !== 1) errors.push(`${at}: matches ${ok.length} of oneOf`);
  }
  return errors;
}

describe('mapping file', () => {
  let dir = '';
  let adapter: Checkpoint;
  let base: Checkpoint;
  let analysis: LoraAnalysis;
  let schema: Schema;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lora-lens-mapfile-'));
    adapter = await openPath(ADAPTER);
    base = await openPath(BASE);
    analysis = await analyzeLora(adapter);
    schema = JSON.parse(await readFile('schemas/mapping.schema.json', 'utf8')) as Schema;
  });
  after(async () => {
    await adapter.close();
    await base.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('identifies a file by the SHA-256 of its header bytes', async () => {
    const id = await checkpointIdentity(base, BASE);
    const bytes = await readFile(BASE);
    const n = Number(bytes.readBigUInt64LE(0));
    assert.equal(id.size, bytes.length);
    assert.equal(id.format, 'safetensors');
    assert.equal(
      id.headerSha256,
      createHash('sha256')
        .update(bytes.subarray(0, 8 + n))
        .digest('hex'),
    );
    // A folder hashes its tensor table instead: stable, 64 hex digits.
    const folder = await checkpointIdentity(adapter, ADAPTER);
    assert.match(folder.headerSha256, /^[0-9a-f]{64}$/);
    assert.deepEqual(await checkpointIdentity(adapter, ADAPTER), folder);
    assert.ok(identityMatches(id, await checkpointIdentity(base, BASE)));
    assert.ok(!identityMatches(id, folder));
  });

  it('hashes a table with no header file as the canonical JSON of its tensors and metadata', async () => {
    // Over one hashing piece (4,096 tensors), with names that need escaping and tensors in shards.
    const tensors = Array.from({ length: 9000 }, (_, i) => ({
      name: i % 7 === 0 ? `layers.${i}."q\\proj"\n.é` : `layers.${i}.weight`,
      dtype: i % 2 ? 'F16' : 'BF16',
      shape: i % 3 ? [i, 4] : [],
      offset: i * 8,
      byteLength: 8,
      ...(i % 5 ? { file: `model-${i % 3}.safetensors` } : {}),
    }));
    const metadata = { z: '1', a: 'two "quoted"' };
    const ckpt = { tensors, metadata, fileSize: 1, format: 'sharded-safetensors' };
    const id = await checkpointIdentity(ckpt as unknown as Checkpoint, join(dir, 'not-a-file'));
    const canonical = JSON.stringify({
      tensors: tensors.map((t) => [
        t.name,
        t.dtype,
        t.shape,
        t.offset,
        t.byteLength,
        t.file ?? null,
      ]),
      metadata: [
        ['a', metadata.a],
        ['z', metadata.z],
      ],
    });
    assert.equal(id.headerSha256, createHash('sha256').update(canonical).digest('hex'));
  });

  it('identifies a shard index by the index and every shard header', async () => {
    // BASE split into two shards (same tensors, same bytes) behind a model.safetensors.index.json.
    const folder = join(dir, 'sharded-base');
    await mkdir(folder, { recursive: true });
    const specs: TensorSpec[] = [];
    for (const t of base.tensors)
      specs.push({
        name: t.name,
        dtype: t.dtype,
        shape: [...t.shape],
        data: await base.readTensorBytes(t),
      });
    const half = Math.ceil(specs.length / 2);
    const parts = [specs.slice(0, half), specs.slice(half)];
    const files = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    const writeShard = (i: number, metadata?: Record<string, string>, bump = 0) => {
      const bytes = buildSafetensors(parts[i] as TensorSpec[], metadata);
      if (bump) bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ bump;
      return writeFile(join(folder, files[i] as string), bytes);
    };
    await writeShard(0);
    await writeShard(1);
    const weightMap: Record<string, string> = {};
    parts.forEach((p, i) => p.forEach((t) => (weightMap[t.name] = files[i] as string)));
    const index = join(folder, 'model.safetensors.index.json');
    await writeFile(index, JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const identify = async () => {
      const c = await openPath(index);
      try {
        assert.equal(c.format, 'sharded-safetensors');
        return await checkpointIdentity(c, index);
      } finally {
        await c.close();
      }
    };

    const first = await identify();
    assert.equal(first.size, (await readFile(index)).length);
    assert.match(first.headerSha256, /^[0-9a-f]{64}$/);
    // More than the index file alone: the shards' headers are in it.
    assert.notEqual(
      first.headerSha256,
      createHash('sha256')
        .update(await readFile(index))
        .digest('hex'),
    );
    assert.deepEqual(await identify(), first, 'nothing changed, same identity');

    // Rewriting tensor data in place (same headers) keeps it; no tensor bytes are hashed.
    await writeShard(1, undefined, 0xff);
    assert.deepEqual(await identify(), first);

    // A mapping file made for the sharded base verifies against it…
    const pairFor = (mappingPath?: string) =>
      openMappedPair({
        adapterPath: ADAPTER,
        basePath: index,
        ...(mappingPath ? { mappingPath } : {}),
      });
    const made = await pairFor();
    const mappingPath = join(dir, 'sharded-mapping.json');
    try {
      const ids = await made.identities();
      assert.equal(ids.base.headerSha256, first.headerSha256);
      await writeMappingFile(mappingPath, toMappingFile(made.mapping, ids.adapter, ids.base));
    } finally {
      await made.close();
    }
    const same = await pairFor(mappingPath);
    await same.close();
    assert.deepEqual(same.warnings, []);

    // …and changing only the second shard's header changes the identity, which the check reports.
    await writeShard(1, { format: 'pt' });
    const changed = await identify();
    assert.notEqual(changed.headerSha256, first.headerSha256);
    assert.ok(!identityMatches(first, changed));
    const stale = await pairFor(mappingPath);
    await stale.close();
    assert.equal(stale.warnings.length, 1);
    assert.match(stale.warnings[0] as string, /made for base .*whose header differs/);
  });

  it('round-trips through the file and conforms to the schema', async () => {
    const result = handMapping(analysis, base);
    const file = toMappingFile(
      result,
      await checkpointIdentity(adapter, ADAPTER),
      await checkpointIdentity(base, BASE),
    );
    assert.equal(file.$schema, MAPPING_SCHEMA_ID);
    assert.equal(schema.$id, MAPPING_SCHEMA_ID);
    const path = join(dir, 'm.json');
    await writeMappingFile(path, file);
    const text = await readFile(path, 'utf8');
    assert.ok(text.endsWith('}\n') && text.includes('\n  "version": 1,'));
    assert.deepEqual(validate(schema, JSON.parse(text)), []);
    assert.deepEqual(await readMappingFile(path), file);
    assert.equal(file.mappings.length, 8);
  });

  it('accepts user overrides (bare or full) and turns them into MappingOverride[]', async () => {
    const result = handMapping(analysis, base);
    const file = toMappingFile(
      result,
      await checkpointIdentity(adapter, ADAPTER),
      await checkpointIdentity(base, BASE),
    );
    const [first, second, ...rest] = file.mappings;
    const edited = {
      ...file,
      mappings: [
        { module: first?.module, source: 'user', target: null },
        { ...second, source: 'user', target: 'model.layers.1.mlp.up_proj.weight' },
        {
          module: rest[0]?.module,
          source: 'user',
          target: 'model.layers.0.mlp.gate_up.weight',
          slice: { axis: 0, start: 0, end: 32 },
          transposed: false,
        },
        ...rest.slice(1),
      ],
    };
    assert.deepEqual(validate(schema, edited), []);
    const path = join(dir, 'edited.json');
    await writeFile(path, JSON.stringify(edited));
    const read = await readMappingFile(path);
    const user = overridesFrom(read);
    assert.deepEqual(user, [
      { module: first?.module, target: null },
      {
        module: second?.module,
        target: 'model.layers.1.mlp.up_proj.weight',
        slice: null,
        transposed: false,
      },
      {
        module: rest[0]?.module,
        target: 'model.layers.0.mlp.gate_up.weight',
        slice: { axis: 0, start: 0, end: 32 },
        transposed: false,
      },
    ]);
    const all = overridesFrom(read, { all: true });
    assert.equal(all.length, 8);
    assert.deepEqual(
      all.map((o) => o.module),
      read.mappings.map((m) => m.module),
    );
  });

  it('refuses invalid files with InvalidConfig naming the field, as the schema does', async () => {
    const good = toMappingFile(
      handMapping(analysis, base),
      await checkpointIdentity(adapter, ADAPTER),
      await checkpointIdentity(base, BASE),
    );
    const cases: [string, (f: Record<string, unknown>) => unknown][] = [
      ['version', (f) => ({ ...f, version: 2 })],
      [
        'base.headerSha256',
        (f) => ({ ...f, base: { ...(f.base as object), headerSha256: 'XYZ' } }),
      ],
      [
        'mappings[0].level',
        (f) => ({ ...f, mappings: [{ ...(f.mappings as object[])[0], level: 'sure' }] }),
      ],
      [
        'mappings[0].extra',
        (f) => ({ ...f, mappings: [{ ...(f.mappings as object[])[0], extra: 1 }] }),
      ],
      [
        'mappings[0].slice',
        (f) => ({
          ...f,
          mappings: [{ ...(f.mappings as object[])[0], slice: { axis: 2, start: 0, end: 1 } }],
        }),
      ],
      ['conflicts', (f) => ({ ...f, conflicts: {} })],
      ['(root).more', (f) => ({ ...f, more: true })],
    ];
    for (const [where, mutate] of cases) {
      const bad = mutate(JSON.parse(JSON.stringify(good)) as Record<string, unknown>);
      assert.notDeepEqual(validate(schema, bad), [], `schema accepts ${where}`);
      assert.throws(
        () => parseMappingFile(bad),
        (e: unknown) =>
          e instanceof CheckpointError && e.code === 'InvalidConfig' && e.message.includes(where),
        where,
      );
    }
    const dup = { ...good, mappings: [good.mappings[0], good.mappings[0]] } as MappingFile;
    assert.throws(() => parseMappingFile(dup), /appears twice/);
    const notJson = join(dir, 'bad.json');
    await writeFile(notJson, '{');
    await assert.rejects(readMappingFile(notJson), { code: 'InvalidConfig' });
    await assert.rejects(readMappingFile(join(dir, 'missing.json')), { code: 'FileNotFound' });
  });
});
