/**
 * Header-only listing of a ~1 GB torch.save checkpoint against the floor of reading its bytes.
 *
 * The file is written by us, not torch: a STORED zip in torch's layout (64-byte aligned records)
 * whose small data.pkl references 64 storages of F32 [2048, 2048]. The storages are left sparse,
 * so writing it is cheap; reading them back still copies every byte from the kernel, which is the
 * cheapest possible full read (no disk I/O), so the ratio is a conservative one.
 */
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileByteSource } from '../src/core/formats/byteSource.js';
import { openTorch } from '../src/core/formats/torch/index.js';
import { dataPkl, dictOps, tensorOps } from '../test/core/formats/torch/pickleBuilder.js';
import { layoutZip, torchRecords } from '../test/core/formats/torch/torchZipBuilder.js';

const TENSORS = 64;
const SIDE = 2048;
const CHUNK = 8 * 1024 * 1024;
const LIST_ROUNDS = 25;
const READ_ROUNDS = 3;

async function writeCheckpoint(path: string): Promise<number> {
  const numel = SIDE * SIDE;
  const entries = Array.from(
    { length: TENSORS },
    (_, i) =>
      [
        `model.layers.${i}.mlp.up_proj.weight`,
        tensorOps({ key: String(i), numel, shape: [SIDE, SIDE] }),
      ] as const,
  );
  const storages = Object.fromEntries(entries.map((_, i) => [String(i), numel * 4]));
  const layout = layoutZip(torchRecords(dataPkl(dictOps(entries)), storages, { folder: 'bench' }));
  const fh = await open(path, 'w');
  try {
    for (const c of layout.chunks) await fh.write(c.bytes, 0, c.bytes.byteLength, c.offset);
    await fh.truncate(layout.size);
  } finally {
    await fh.close();
  }
  return layout.size;
}

async function list(path: string): Promise<number> {
  const ckpt = await openTorch(await FileByteSource.open(path));
  await ckpt.close();
  return ckpt.tensors.length;
}

async function readAll(path: string): Promise<number> {
  const fh = await open(path, 'r');
  const buf = Buffer.allocUnsafe(CHUNK);
  let total = 0;
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, total);
      if (bytesRead === 0) return total;
      total += bytesRead;
    }
  } finally {
    await fh.close();
  }
}

async function median(rounds: number, fn: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number;
}

export async function benchTorch(): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'lora-lens-torch-bench-'));
  try {
    const path = join(dir, 'sparse-1g.pt');
    const size = await writeCheckpoint(path);
    const tensors = await list(path);
    if (tensors !== TENSORS) throw new Error(`listed ${tensors} tensors, expected ${TENSORS}`);
    const read = await readAll(path);
    if (read !== size) throw new Error(`read ${read} of ${size} bytes`);
    const l = await median(LIST_ROUNDS, () => list(path));
    const r = await median(READ_ROUNDS, () => readAll(path));
    const ratio = r / l;
    return [
      `torch listing: ${TENSORS} tensors in a sparse ${(size / 1e9).toFixed(2)} GB torch.save zip, median of ${LIST_ROUNDS} (reads: ${READ_ROUNDS})`,
      `  read every byte (8 MiB chunks)    ${r.toFixed(1)} ms`,
      `  lora-lens open + close            ${l.toFixed(1)} ms`,
      `  ratio                             ${ratio.toFixed(0)}×  (goal ≥ 20×) ${ratio >= 20 ? 'OK' : 'UNDER'}`,
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
