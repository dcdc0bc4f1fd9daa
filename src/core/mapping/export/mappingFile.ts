/**
 * The mapping file: a MappingResult plus the identities of the two checkpoints it was computed for.
 * schemas/mapping.schema.json describes exactly what `toMappingFile` writes and `readMappingFile` accepts.
 */
import { createHash } from 'node:crypto';
import { open, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeJsonAtomically } from '../../export/atomicFile.js';
import type { Checkpoint } from '../../formats/checkpoint.js';
import { CheckpointError } from '../../formats/errors.js';
import { shardHeaders } from '../../formats/sharded.js';
import {
  MAPPING_FILE_VERSION,
  type CheckpointIdentity,
  type ConfidenceLevel,
  type MappingCandidate,
  type MappingConflict,
  type MappingEntry,
  type MappingFile,
  type MappingOverride,
  type MappingResult,
  type ShapeCheck,
  type TargetSlice,
} from '../types.js';

/** `$schema` of every mapping file we write (the committed schema's `$id`). */
export const MAPPING_SCHEMA_ID = 'https://lora-lens.dev/schemas/mapping.schema.json';

/** Largest mapping file `readMappingFile` reads (a few thousand modules fit easily). */
const MAX_MAPPING_FILE_BYTES = 64 << 20;

/**
 * Identity of a checkpoint: path, size, format and a SHA-256 of its header.
 *
 * - A local **file** (safetensors, GGUF, ONNX, torch zip): the SHA-256 of its first
 *   `headerByteLength` bytes, i.e. what the reader parsed to describe the tensors (safetensors: the
 *   8-byte length prefix plus the JSON header; GGUF: everything before the tensor data; ONNX: the bytes
 *   the reader read). Changing any tensor name, dtype, shape or offset changes it; rewriting weights in
 *   place does not.
 * - A local **shard index** (`model.safetensors.index.json`): the SHA-256 of the whole index file, then,
 *   for each shard in file order, its name, its header's length and its header bytes (the same first
 *   bytes as for a single file). Changing one shard's header changes it; no tensor data is read. `size`
 *   is the index file's.
 * - A **folder or `hf:` repo**, whose header is spread over several files or not on disk: the SHA-256
 *   of a canonical JSON of what the headers say (tensors in file order with dtype, shape, byte offset,
 *   byte length and shard file, then the string metadata with sorted keys). Same property: it changes
 *   when the tensor table changes.
 */
export async function checkpointIdentity(
  ckpt: Checkpoint,
  path: string,
): Promise<CheckpointIdentity> {
  let size = ckpt.fileSize;
  let hash: string | undefined;
  const info = await stat(path).catch(() => undefined);
  if (info?.isFile()) {
    size = info.size;
    const shards = shardHeaders(ckpt);
    if (shards) {
      const h = createHash('sha256').update(await readHead(path, info.size));
      const folder = dirname(path);
      for (const shard of [...shards].sort((a, b) => (a.file < b.file ? -1 : 1))) {
        const bytes = await readHead(join(folder, shard.file), shard.headerByteLength).catch(
          () => undefined,
        );
        h.update(`\0${shard.file}\0${bytes ? bytes.length : 'missing'}\0`);
        if (bytes) h.update(bytes);
      }
      hash = h.digest('hex');
    } else {
      const bytes = await readHead(path, Math.min(ckpt.headerByteLength, info.size));
      hash = createHash('sha256').update(bytes).digest('hex');
    }
  }
  hash ??= tableHash(ckpt);
  return { path, size, headerSha256: hash, format: ckpt.format };
}

/** Up to the first `n` bytes of a file (fewer where it is shorter). */
async function readHead(path: string, n: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const bytes = Buffer.alloc(n);
    let done = 0;
    while (done < n) {
      const { bytesRead } = await handle.read(bytes, done, n - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return bytes.subarray(0, done);
  } finally {
    await handle.close();
  }
}

/**
 * SHA-256 of `JSON.stringify({ tensors: [[name, dtype, shape, offset, byteLength, file ?? null], …],
 * metadata: [[key, value], …] })`, fed to the hash in pieces: the same bytes without a 1M-element
 * array of arrays and one string of about 100 MB.
 */
function tableHash(ckpt: Checkpoint): string {
  const h = createHash('sha256');
  const CHUNK = 4096;
  const { tensors } = ckpt;
  h.update('{"tensors":[');
  for (let start = 0; start < tensors.length; start += CHUNK) {
    const rows = tensors
      .slice(start, start + CHUNK)
      .map((t) => [t.name, t.dtype, t.shape, t.offset, t.byteLength, t.file ?? null]);
    // The rows without their brackets, joined to the last piece by a comma.
    const piece = JSON.stringify(rows);
    h.update(start === 0 ? piece.slice(1, -1) : `,${piece.slice(1, -1)}`);
  }
  const meta = Object.keys(ckpt.metadata)
    .sort()
    .map((k) => [k, ckpt.metadata[k]]);
  h.update(`],"metadata":${JSON.stringify(meta)}}`);
  return h.digest('hex');
}

/** The file form of a mapping result. Entries are copied field by field (nothing else leaks in). */
export function toMappingFile(
  result: MappingResult,
  adapter: CheckpointIdentity,
  base: CheckpointIdentity,
): MappingFile {
  return {
    $schema: MAPPING_SCHEMA_ID,
    version: MAPPING_FILE_VERSION,
    adapter: identity(adapter),
    base: identity(base),
    mappings: result.mappings.map(entryOut),
    unmatchedAdapter: [...result.unmatchedAdapter],
    unusedBase: [...result.unusedBase],
    conflicts: result.conflicts.map((c) => ({
      module: c.module,
      target: c.target,
      reason: c.reason,
    })),
  };
}

function identity(i: CheckpointIdentity): CheckpointIdentity {
  return { path: i.path, size: i.size, headerSha256: i.headerSha256, format: i.format };
}

function candidateOut(c: MappingCandidate): MappingCandidate {
  return {
    target: c.target,
    confidence: c.confidence,
    reason: c.reason,
    shapeCheck: c.shapeCheck,
    transposed: c.transposed,
    slice: c.slice ? { axis: c.slice.axis, start: c.slice.start, end: c.slice.end } : null,
  };
}

function entryOut(e: MappingEntry): MappingEntry {
  return {
    module: e.module,
    ...candidateOut(e),
    level: e.level,
    source: e.source,
    alternatives: e.alternatives.map(candidateOut),
  };
}

/** Writes the file atomically as pretty JSON with a final newline. */
export async function writeMappingFile(
  path: string,
  file: MappingFile,
  options: { protect?: readonly string[] } = {},
): Promise<void> {
  await writeJsonAtomically(path, file, options);
}

/** Reads and validates a mapping file. Every rule it breaks is an `InvalidConfig` error naming the field. */
export async function readMappingFile(path: string): Promise<MappingFile> {
  let text: string;
  try {
    const info = await stat(path);
    if (info.size > MAX_MAPPING_FILE_BYTES)
      throw new CheckpointError(
        'InvalidConfig',
        `mapping file ${path} is ${info.size} bytes, over the ${MAX_MAPPING_FILE_BYTES}-byte limit`,
        path,
      );
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof CheckpointError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new CheckpointError(
      code === 'ENOENT' ? 'FileNotFound' : 'IoError',
      `cannot read mapping file ${path}: ${(e as Error).message}`,
      path,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(
      'InvalidConfig',
      `mapping file ${path} is not valid JSON: ${(e as Error).message}`,
      path,
    );
  }
  return parseMappingFile(json, path);
}

/** Validates a parsed mapping file (the rules of schemas/mapping.schema.json). */
export function parseMappingFile(json: unknown, label = 'mapping file'): MappingFile {
  const fail = (where: string, what: string): never => {
    throw new CheckpointError('InvalidConfig', `${label}: ${where} ${what}`, where);
  };
  const obj = (v: unknown, where: string): Record<string, unknown> =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : fail(where, 'must be an object');
  const str = (v: unknown, where: string): string =>
    typeof v === 'string' ? v : fail(where, 'must be a string');
  const num = (v: unknown, where: string): number =>
    typeof v === 'number' && Number.isFinite(v) ? v : fail(where, 'must be a number');
  const bool = (v: unknown, where: string): boolean =>
    typeof v === 'boolean' ? v : fail(where, 'must be true or false');
  const arr = (v: unknown, where: string): unknown[] =>
    Array.isArray(v) ? v : fail(where, 'must be an array');
  const only = (o: Record<string, unknown>, where: string, allowed: readonly string[]) => {
    for (const k of Object.keys(o))
      if (!allowed.includes(k)) fail(`${where}.${k}`, 'is not a known field');
  };
  const oneOf = <T extends string>(v: unknown, where: string, values: readonly T[]): T =>
    typeof v === 'string' && (values as readonly string[]).includes(v)
      ? (v as T)
      : fail(where, `must be one of ${values.join(', ')}`);

  const root = obj(json, '(root)');
  only(root, '(root)', [
    '$schema',
    'version',
    'adapter',
    'base',
    'mappings',
    'unmatchedAdapter',
    'unusedBase',
    'conflicts',
  ]);
  const schema = str(root.$schema, '$schema');
  if (root.version !== MAPPING_FILE_VERSION)
    fail('version', `must be ${MAPPING_FILE_VERSION} (got ${JSON.stringify(root.version)})`);

  const ident = (v: unknown, where: string): CheckpointIdentity => {
    const o = obj(v, where);
    only(o, where, ['path', 'size', 'headerSha256', 'format']);
    const size = num(o.size, `${where}.size`);
    if (!Number.isInteger(size) || size < 0) fail(`${where}.size`, 'must be a whole number ≥ 0');
    const sha = str(o.headerSha256, `${where}.headerSha256`);
    if (!/^[0-9a-f]{64}$/.test(sha))
      fail(`${where}.headerSha256`, 'must be 64 lower-case hex digits');
    return {
      path: str(o.path, `${where}.path`),
      size,
      headerSha256: sha,
      format: str(o.format, `${where}.format`),
    };
  };
  const slice = (v: unknown, where: string): TargetSlice | null => {
    if (v === null) return null;
    const o = obj(v, where);
    only(o, where, ['axis', 'start', 'end']);
    const axis = o.axis;
    if (axis !== 0 && axis !== 1) fail(`${where}.axis`, 'must be 0 or 1');
    const start = num(o.start, `${where}.start`);
    const end = num(o.end, `${where}.end`);
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end <= start)
      fail(where, 'must have whole numbers 0 ≤ start < end');
    return { axis: axis as 0 | 1, start, end };
  };
  const SHAPE_CHECKS: readonly ShapeCheck[] = [
    'exact',
    'transposed',
    'conv-reshape',
    'slice',
    'mismatch',
    'unknown',
  ];
  const LEVELS: readonly ConfidenceLevel[] = ['high', 'medium', 'low'];
  const candidate = (o: Record<string, unknown>, where: string): MappingCandidate => {
    const confidence = num(o.confidence, `${where}.confidence`);
    if (confidence < 0 || confidence > 1) fail(`${where}.confidence`, 'must be between 0 and 1');
    return {
      target: str(o.target, `${where}.target`),
      confidence,
      reason: str(o.reason, `${where}.reason`),
      shapeCheck: oneOf(o.shapeCheck, `${where}.shapeCheck`, SHAPE_CHECKS),
      transposed: bool(o.transposed, `${where}.transposed`),
      slice: slice(o.slice, `${where}.slice`),
    };
  };
  const CANDIDATE_KEYS = ['target', 'confidence', 'reason', 'shapeCheck', 'transposed', 'slice'];

  const mappings = arr(root.mappings, 'mappings').map((v, i) => {
    const where = `mappings[${i}]`;
    const o = obj(v, where);
    const module = str(o.module, `${where}.module`);
    const source = oneOf(o.source, `${where}.source`, ['matcher', 'user'] as const);
    // A user entry may be a bare override (target, optional slice/transposed) or a full entry.
    if (source === 'user' && !('confidence' in o)) {
      only(o, where, ['module', 'source', 'target', 'slice', 'transposed']);
      const target = o.target === null ? null : str(o.target, `${where}.target`);
      const out: MappingOverride & { source: 'user' } = {
        module,
        source,
        target,
        ...('slice' in o ? { slice: slice(o.slice, `${where}.slice`) } : {}),
        ...('transposed' in o ? { transposed: bool(o.transposed, `${where}.transposed`) } : {}),
      };
      return out;
    }
    only(o, where, ['module', 'source', 'level', 'alternatives', ...CANDIDATE_KEYS]);
    const entry: MappingEntry = {
      module,
      ...candidate(o, where),
      level: oneOf(o.level, `${where}.level`, LEVELS),
      source,
      alternatives: arr(o.alternatives, `${where}.alternatives`).map((a, j) => {
        const w = `${where}.alternatives[${j}]`;
        const ao = obj(a, w);
        only(ao, w, CANDIDATE_KEYS);
        return candidate(ao, w);
      }),
    };
    return entry;
  });
  const seen = new Set<string>();
  mappings.forEach((m, i) => {
    if (seen.has(m.module)) fail(`mappings[${i}].module`, `"${m.module}" appears twice`);
    seen.add(m.module);
  });
  const strings = (v: unknown, where: string) =>
    arr(v, where).map((s, i) => str(s, `${where}[${i}]`));
  const conflicts: MappingConflict[] = arr(root.conflicts, 'conflicts').map((v, i) => {
    const where = `conflicts[${i}]`;
    const o = obj(v, where);
    only(o, where, ['module', 'target', 'reason']);
    return {
      module: str(o.module, `${where}.module`),
      target: o.target === null ? null : str(o.target, `${where}.target`),
      reason: str(o.reason, `${where}.reason`),
    };
  });
  return {
    $schema: schema,
    version: MAPPING_FILE_VERSION,
    adapter: ident(root.adapter, 'adapter'),
    base: ident(root.base, 'base'),
    mappings,
    unmatchedAdapter: strings(root.unmatchedAdapter, 'unmatchedAdapter'),
    unusedBase: strings(root.unusedBase, 'unusedBase'),
    conflicts,
  };
}

/**
 * The overrides a mapping file carries into the matcher.
 *
 * - Entries with `source: 'user'` always become overrides (accept / reject / re-target).
 * - With `{ all: true }` (what `--mapping` does on the CLI), matcher entries become overrides too, so
 *   a reviewed file is replayed exactly instead of being re-guessed (the matcher then only decides the
 *   modules the file does not mention). Modules listed in `unmatchedAdapter` are not turned into
 *   rejections: against another base they may find a target.
 */
export function overridesFrom(
  file: MappingFile,
  options: { all?: boolean } = {},
): MappingOverride[] {
  const out: MappingOverride[] = [];
  for (const m of file.mappings) {
    if (m.source !== 'user' && !options.all) continue;
    out.push({
      module: m.module,
      target: m.target,
      ...(m.slice !== undefined ? { slice: m.slice } : {}),
      ...(m.transposed !== undefined ? { transposed: m.transposed } : {}),
    });
  }
  return out;
}

/** Whether a file's recorded identity still describes a checkpoint (same header hash and size). */
export function identityMatches(recorded: CheckpointIdentity, now: CheckpointIdentity): boolean {
  return recorded.headerSha256 === now.headerSha256 && recorded.size === now.size;
}
