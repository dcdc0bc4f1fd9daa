/**
 * Writes torch-like zip archives for tests and the bench: records padded to 64 bytes like
 * PyTorchStreamWriter, optionally ZIP64 everywhere or DEFLATEd. A record may be given by size
 * only: its bytes are zeros that are never materialized, so the bench can lay out a 1 GB file
 * as a few header chunks plus a sparse tail.
 */
import { deflateRawSync } from 'node:zlib';

export interface ZipRecord {
  readonly name: string;
  /** The content; or `size` zero bytes (STORED only). */
  readonly data?: Uint8Array;
  readonly size?: number;
  readonly deflate?: boolean;
}

export interface ZipOptions {
  readonly zip64?: boolean;
  readonly align?: number;
  readonly comment?: string;
}

export interface ZipLayout {
  readonly size: number;
  /** Every non-zero byte of the file. */
  readonly chunks: readonly { readonly offset: number; readonly bytes: Uint8Array }[];
  /** Absolute data offset of each record. */
  readonly dataStarts: ReadonlyMap<string, number>;
}

function le(bytes: number, value: number): number[] {
  const out: number[] = [];
  let v = value;
  for (let i = 0; i < bytes; i++) {
    out.push(v % 256);
    v = Math.floor(v / 256);
  }
  return out;
}

export function layoutZip(records: readonly ZipRecord[], options: ZipOptions = {}): ZipLayout {
  const { zip64 = false, align = 64 } = options;
  const chunks: { offset: number; bytes: Uint8Array }[] = [];
  const dataStarts = new Map<string, number>();
  const central: number[][] = [];
  let pos = 0;
  const emit = (bytes: Uint8Array | number[]) => {
    const b = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes);
    if (b.byteLength > 0) chunks.push({ offset: pos, bytes: b });
    pos += b.byteLength;
  };
  for (const r of records) {
    const name = [...Buffer.from(r.name, 'utf8')];
    const raw = r.data;
    const size = raw ? raw.byteLength : (r.size ?? 0);
    const method = r.deflate ? 8 : 0;
    if (method === 8 && !raw) throw new Error('a DEFLATE record needs its data');
    const payload = method === 8 && raw ? new Uint8Array(deflateRawSync(raw)) : raw;
    const csize = payload ? payload.byteLength : size;
    const offset = pos;
    let extra: number[] = zip64 ? [1, 0, 16, 0, ...le(8, size), ...le(8, csize)] : [];
    if (align > 0 && method === 0) {
      const pad = (align - ((offset + 30 + name.length + extra.length + 4) % align)) % align;
      extra = [...extra, 0x46, 0x42, ...le(2, pad), ...new Array<number>(pad).fill(0x5a)];
    }
    const big = 0xffffffff;
    emit([
      ...le(4, 0x04034b50),
      ...le(2, zip64 ? 45 : 20),
      ...le(2, 0x0800),
      ...le(2, method),
      ...le(4, 0), // time, date
      ...le(4, 0), // crc (not checked by the reader under test)
      ...le(4, zip64 ? big : csize),
      ...le(4, zip64 ? big : size),
      ...le(2, name.length),
      ...le(2, extra.length),
      ...name,
      ...extra,
    ]);
    dataStarts.set(r.name, pos);
    if (payload) emit(payload);
    else pos += size;
    const cdExtra = zip64 ? [1, 0, 24, 0, ...le(8, size), ...le(8, csize), ...le(8, offset)] : [];
    central.push([
      ...le(4, 0x02014b50),
      ...le(2, zip64 ? 45 : 20),
      ...le(2, zip64 ? 45 : 20),
      ...le(2, 0x0800),
      ...le(2, method),
      ...le(4, 0),
      ...le(4, 0),
      ...le(4, zip64 ? big : csize),
      ...le(4, zip64 ? big : size),
      ...le(2, name.length),
      ...le(2, cdExtra.length),
      ...le(2, 0),
      ...le(2, 0),
      ...le(2, 0),
      ...le(4, 0),
      ...le(4, zip64 ? big : offset),
      ...name,
      ...cdExtra,
    ]);
  }
  const cdStart = pos;
  for (const c of central) emit(c);
  const cdSize = pos - cdStart;
  const n = records.length;
  const comment = [...Buffer.from(options.comment ?? '', 'utf8')];
  if (zip64) {
    const z64 = pos;
    emit([
      ...le(4, 0x06064b50),
      ...le(8, 44),
      ...le(2, 45),
      ...le(2, 45),
      ...le(4, 0),
      ...le(4, 0),
      ...le(8, n),
      ...le(8, n),
      ...le(8, cdSize),
      ...le(8, cdStart),
    ]);
    emit([...le(4, 0x07064b50), ...le(4, 0), ...le(8, z64), ...le(4, 1)]);
  }
  emit([
    ...le(4, 0x06054b50),
    ...le(2, 0),
    ...le(2, 0),
    ...le(2, zip64 ? 0xffff : n),
    ...le(2, zip64 ? 0xffff : n),
    ...le(4, zip64 ? 0xffffffff : cdSize),
    ...le(4, zip64 ? 0xffffffff : cdStart),
    ...le(2, comment.length),
    ...comment,
  ]);
  return { size: pos, chunks, dataStarts };
}

/** The whole file in memory. */
export function materialize(layout: ZipLayout): Uint8Array {
  const out = new Uint8Array(layout.size);
  for (const c of layout.chunks) out.set(c.bytes, c.offset);
  return out;
}

/** The records torch.save writes around data.pkl and the storages. */
export function torchRecords(
  pkl: Uint8Array,
  storages: Readonly<Record<string, Uint8Array | number>>,
  options: { folder?: string; deflate?: readonly string[]; byteorder?: string } = {},
): ZipRecord[] {
  const folder = options.folder ?? 'archive';
  const deflate = new Set(options.deflate ?? []);
  const text = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
  const records: ZipRecord[] = [
    { name: `${folder}/data.pkl`, data: pkl, deflate: deflate.has('data.pkl') },
    { name: `${folder}/.format_version`, data: text('1') },
    { name: `${folder}/.storage_alignment`, data: text('64') },
    { name: `${folder}/byteorder`, data: text(options.byteorder ?? 'little') },
  ];
  for (const [key, s] of Object.entries(storages)) {
    const rel = `data/${key}`;
    records.push(
      typeof s === 'number'
        ? { name: `${folder}/${rel}`, size: s }
        : { name: `${folder}/${rel}`, data: s, deflate: deflate.has(rel) },
    );
  }
  records.push({ name: `${folder}/version`, data: text('3\n') });
  return records;
}

/** A torch zip in memory, in one call. */
export function torchZip(
  pkl: Uint8Array,
  storages: Readonly<Record<string, Uint8Array | number>>,
  options: {
    folder?: string;
    deflate?: readonly string[];
    zip64?: boolean;
    byteorder?: string;
  } = {},
): Uint8Array {
  return materialize(layoutZip(torchRecords(pkl, storages, options), { zip64: options.zip64 }));
}
