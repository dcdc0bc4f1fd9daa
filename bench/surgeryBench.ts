/**
 * Surgery speed: `resize` of a Llama-7B-shaped PEFT adapter (32 layers × q/k/v/o 4096×4096 and
 * gate/up/down 4096↔11008, r = 64, random F16 factors, ~320 MB, generated into a temp folder) to
 * r = 16 on the CPU, goal < 10 s. Two baselines from the same run: reading the adapter's bytes
 * once and writing the output's (the floor any resize pays), and the first step of the
 * full-matrix route (kohya's): forming each out×in ΔW, timed on one 4096×4096 module and scaled
 * to all 224, before any SVD.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { denseOf } from '../src/core/surgery/lowRank.js';
import { resizeAdapter } from '../src/core/surgery/resize.js';

const LAYERS = Number(process.env.SURGERY_BENCH_LAYERS ?? 32);
const RANK = 64;
const GOAL_S = 10;
const KINDS: readonly [string, string, number, number][] = [
  ['self_attn', 'q_proj', 4096, 4096],
  ['self_attn', 'k_proj', 4096, 4096],
  ['self_attn', 'v_proj', 4096, 4096],
  ['self_attn', 'o_proj', 4096, 4096],
  ['mlp', 'gate_proj', 11008, 4096],
  ['mlp', 'up_proj', 11008, 4096],
  ['mlp', 'down_proj', 4096, 11008],
];

/** Random F16 bits with exponents 2⁻⁸ … 2⁻¹ (never Inf/NaN), xorshift-fast. */
function randomHalves(n: number, seed: number): Uint8Array {
  const out = new Uint16Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const u = x >>> 0;
    out[i] = (u & 0x8000) | ((7 + (u % 7)) << 10) | ((u >>> 8) & 0x3ff);
  }
  return new Uint8Array(out.buffer);
}

async function makeAdapter(dir: string): Promise<number> {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const parts: { shape: [number, number]; seed: number }[] = [];
  let offset = 0;
  let seed = 1;
  for (let l = 0; l < LAYERS; l++)
    for (const [block, name, out, inn] of KINDS) {
      const p = `base_model.model.model.layers.${l}.${block}.${name}`;
      for (const [part, shape] of [
        ['lora_A', [RANK, inn]],
        ['lora_B', [out, RANK]],
      ] as const) {
        const bytes = shape[0] * shape[1] * 2;
        header[`${p}.${part}.weight`] = {
          dtype: 'F16',
          shape,
          data_offsets: [offset, offset + bytes],
        };
        parts.push({ shape: [shape[0], shape[1]], seed: seed++ });
        offset += bytes;
      }
    }
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - (text.length % 8)) % 8);
  const fh = await open(join(dir, 'adapter_model.safetensors'), 'w');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(text.length));
  await fh.write(prefix);
  await fh.write(Buffer.from(text));
  for (const p of parts) await fh.write(randomHalves(p.shape[0] * p.shape[1], p.seed));
  await fh.close();
  await writeFile(
    join(dir, 'adapter_config.json'),
    JSON.stringify({
      peft_type: 'LORA',
      r: RANK,
      lora_alpha: 128,
      target_modules: KINDS.map((k) => k[1]),
    }),
  );
  return 8 + text.length + offset;
}

async function readAll(path: string): Promise<void> {
  const fh = await open(path, 'r');
  const buf = Buffer.allocUnsafe(8 << 20);
  while ((await fh.read(buf, 0, buf.length, null)).bytesRead > 0);
  await fh.close();
}

export async function benchSurgery(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'lora-lens-surgery-bench-'));
  try {
    const src = join(dir, 'src');
    await import('node:fs/promises').then((f) => f.mkdir(src));
    const bytes = await makeAdapter(src);
    let t = performance.now();
    await readAll(join(src, 'adapter_model.safetensors'));
    const readS = (performance.now() - t) / 1000;

    t = performance.now();
    const cpu = process.cpuUsage();
    const r = await resizeAdapter(src, join(dir, 'out'), { rule: { kind: 'rank', rank: 16 } });
    const resizeS = (performance.now() - t) / 1000;
    const used = process.cpuUsage(cpu);
    // On a shared machine the wall time includes waiting for a core; the CPU time does not.
    const cpuS = (used.user + used.system) / 1e6;
    const load = (await import('node:os')).loadavg()[0] ?? 0;

    // Naive floor: before any SVD, the full-matrix route (kohya's) must form every out×in ΔW.
    // Timed on one 4096×4096 module, scaled by the elements of all 224.
    const f = {
      out: 4096,
      inK: 4096,
      rank: RANK,
      b: new Float64Array(4096 * RANK).map(() => Math.random() - 0.5),
      a: new Float64Array(RANK * 4096).map(() => Math.random() - 0.5),
      scale: 1,
    };
    t = performance.now();
    denseOf(f);
    const oneS = (performance.now() - t) / 1000;
    const elements = LAYERS * KINDS.reduce((n, [, , o, i]) => n + o * i, 0);
    const naiveS = (oneS * elements) / (4096 * 4096);

    // The I/O floor also writes as many bytes as the output has.
    t = performance.now();
    await writeFile(join(dir, 'floor.bin'), Buffer.alloc(r.totals.fileBytes));
    const ioS = readS + (performance.now() - t) / 1000;

    const goal = resizeS < GOAL_S ? 'met' : 'NOT met';
    return [
      `resize 224×r64 7B-shaped (${(bytes / 2 ** 20).toFixed(0)} MiB F16) → r16: ${resizeS.toFixed(2)} s (goal < ${GOAL_S} s, ${(resizeS / GOAL_S).toFixed(2)}× the goal) ${goal}; CPU ${cpuS.toFixed(2)} s, load average ${load.toFixed(1)}; ${(resizeS / ioS).toFixed(0)}× the time to read its bytes and write the output's (${ioS.toFixed(2)} s, page cache)`,
      `  output rank ${r.totals.rankBefore} → ${r.totals.rankAfter} in all, ${(r.totals.fileBytes / 2 ** 20).toFixed(0)} MiB; forming every dense ΔW alone (the full-matrix route, before its SVD) takes ${naiveS.toFixed(0)} s here (${(naiveS / resizeS).toFixed(1)}× the whole resize)`,
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (typeof module !== 'undefined' && require.main === module)
  void benchSurgery().then((lines) => console.log(lines.join('\n')));
