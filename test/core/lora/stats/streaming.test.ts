import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openPath } from '../../../../src/core/formats/index.js';
import { computeAllStats, computeModuleStats } from '../../../../src/core/lora/stats/index.js';
import { REPO } from '../loraTestInfo.js';
import {
  analyzeCheckpoint,
  assertClose,
  denseLowRankNorm,
  loggedCheckpoint,
  memAdapter,
  moduleNamed,
  seeded,
  type MemTensor,
} from './statsKit.js';

const P = 'base_model.model.model.layers.0.self_attn.q_proj';
const PEFT_CONFIG = { 'adapter_config.json': { peft_type: 'LORA', r: 2, lora_alpha: 4 } };

/** A PEFT pair A [2, 6], B [4, 2] with the given values (seeded when omitted). */
function peftPair(a?: number[], b?: number[], extra: MemTensor[] = []): MemTensor[] {
  return [
    { name: `${P}.lora_A.weight`, shape: [2, 6], values: a ?? seeded(12, 1) },
    { name: `${P}.lora_B.weight`, shape: [4, 2], values: b ?? seeded(8, 2) },
    ...extra,
  ];
}

describe('LoRA stats: streaming, bad values, cancellation', () => {
  it('any chunk size gives the same result; no read is larger than the chunk', async () => {
    const ckpt0 = await openPath(join(REPO, 'test/fixtures/lora/peft-embedding'));
    const analysis = await analyzeCheckpoint(ckpt0);
    const reference = await computeAllStats(ckpt0, analysis);
    for (const chunk of [1, 3, 7, 100, 1000]) {
      const { ckpt, log } = loggedCheckpoint(ckpt0);
      const stats = await computeAllStats(ckpt, analysis, { chunkElements: chunk });
      stats.forEach((s, i) => {
        const r = reference[i];
        assertClose(s.normUnscaled, r?.normUnscaled ?? NaN, 1e-12, `chunk ${chunk} ${s.module}`);
        assert.deepEqual(s.maxAbs, r?.maxAbs);
        assert.deepEqual(s.spectrum?.rank, r?.spectrum?.rank);
      });
      assert.equal(log.wholeReads, 0);
      // A [m, r] factor is read in whole rows: a chunk below r still reads r (= 4) at a time.
      const limit = Math.max(chunk, 4);
      assert.ok(log.maxCount <= limit, `chunk ${chunk}: a read of ${log.maxCount} elements`);
    }
    await ckpt0.close();
  });

  it('a tensor that is not one byte range (torch view) is read whole, once', async () => {
    const ckpt0 = await openPath(join(REPO, 'samples/tiny-llama-lora'));
    const analysis = await analyzeCheckpoint(ckpt0);
    const m = analysis.modules[0];
    assert.ok(m);
    const plain = await computeModuleStats(ckpt0, m);
    const { ckpt, log } = loggedCheckpoint(ckpt0, { strided: true });
    const s = await computeModuleStats(ckpt, m, { chunkElements: 5 });
    assert.equal(s.normUnscaled, plain.normUnscaled);
    assert.deepEqual([log.calls, log.wholeReads], [2, 2]);
    await ckpt0.close();
  });

  it('torch training checkpoint: streamed through the torch reader; no adapter_config, no scale', async () => {
    const ckpt = await openPath(join(REPO, 'test/fixtures/lora/training-checkpoint.ckpt'));
    const analysis = await analyzeCheckpoint(ckpt);
    const stats = await computeAllStats(ckpt, analysis, { chunkElements: 16 });
    assert.equal(stats.length, 4);
    for (const [i, s] of stats.entries()) {
      const m = analysis.modules[i];
      assert.ok(m);
      assert.deepEqual([s.error, s.norm, s.effectiveScale], [undefined, null, null]);
      assertClose(s.normUnscaled, await denseLowRankNorm(ckpt, m), 1e-9, s.module);
      assert.equal(s.normNote, 'scale unknown: only normUnscaled');
    }
    await ckpt.close();
  });

  it('NaN / Inf are counted per part; the norm is then null with where they are', async () => {
    const a = seeded(12, 1);
    a[3] = NaN;
    a[7] = NaN;
    const b = seeded(8, 2);
    b[0] = Infinity;
    b[5] = -Infinity;
    const { ckpt, analysis } = await memAdapter(peftPair(a, b), { configs: PEFT_CONFIG });
    const s = await computeModuleStats(ckpt, moduleNamed(analysis, P));
    assert.deepEqual([s.nanCount, s.infCount, s.norm, s.normUnscaled], [2, 2, null, null]);
    assert.equal(s.normNote, 'non-finite values (down: 2 NaN, 0 Inf; up: 0 NaN, 2 Inf)');
    assert.deepEqual([s.parts['down']?.nanCount, s.parts['up']?.infCount], [2, 2]);
    assert.ok(Number.isFinite(s.maxAbs['up']));
    assert.equal(s.spectrum, undefined);
    // Plain JSON: nothing turns into null on the way to the webview.
    assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
  });

  it('a NaN beside the factors (a DoRA magnitude) is counted but leaves the norm alone', async () => {
    const magnitude = seeded(4, 3);
    magnitude[1] = NaN;
    const { ckpt, analysis } = await memAdapter(
      peftPair(undefined, undefined, [
        { name: `${P}.lora_magnitude_vector`, shape: [4], values: magnitude },
      ]),
      { configs: PEFT_CONFIG },
    );
    const s = await computeModuleStats(ckpt, moduleNamed(analysis, P));
    assert.equal(s.nanCount, 1);
    assert.ok((s.norm ?? 0) > 0);
    assert.equal(s.dora?.part, 'magnitude');
  });

  it('zeroB: every element of B exactly 0 (−0 too); one tiny value is a trained B', async () => {
    const zeros = [0, -0, 0, 0, 0, 0, 0, 0];
    const untrained = await memAdapter(peftPair(undefined, zeros), { configs: PEFT_CONFIG });
    const s = await computeModuleStats(untrained.ckpt, moduleNamed(untrained.analysis, P));
    assert.deepEqual([s.zeroB, s.norm, s.parts['up']?.zeroCount], [true, 0, 8]);
    const tiny = [...zeros];
    tiny[6] = 1e-30;
    const trained = await memAdapter(peftPair(undefined, tiny), { configs: PEFT_CONFIG });
    const t = await computeModuleStats(trained.ckpt, moduleNamed(trained.analysis, P));
    assert.equal(t.zeroB, false);
    assert.ok((t.norm ?? 0) > 0);
  });

  it('zeroB for a PEFT embedding means lora_embedding_A (the factor PEFT zeroes there)', async () => {
    const e = 'base_model.model.model.embed_tokens';
    const { ckpt, analysis } = await memAdapter(
      [
        { name: `${e}.lora_embedding_A`, shape: [2, 10], values: new Array<number>(20).fill(0) },
        { name: `${e}.lora_embedding_B`, shape: [4, 2], values: seeded(8, 5) },
      ],
      { configs: PEFT_CONFIG },
    );
    const s = await computeModuleStats(ckpt, moduleNamed(analysis, e));
    assert.deepEqual([s.kind, s.zeroB, s.norm], ['embedding', true, 0]);
  });

  it('rank actually used: two equal columns of B leave rank r − 1', async () => {
    const b = seeded(8, 2);
    for (let row = 0; row < 4; row++) b[row * 2 + 1] = b[row * 2] as number;
    const { ckpt, analysis } = await memAdapter(peftPair(undefined, b), { configs: PEFT_CONFIG });
    const s = await computeModuleStats(ckpt, moduleNamed(analysis, P));
    assert.equal(s.spectrum?.rank, 1);
    assertClose(s.spectrum?.stableRank, 1, 1e-9, 'stable rank');
  });

  it('an undecodable dtype (packed F4) gives an error and null norms, not a throw', async () => {
    const { ckpt, analysis } = await memAdapter(peftPair(), { configs: PEFT_CONFIG });
    const info = ckpt.tensor(`${P}.lora_A.weight`);
    const { ckpt: f4 } = loggedCheckpoint(ckpt);
    const m = moduleNamed(analysis, P);
    const tensor = f4.tensor;
    f4.tensor = (name) => (name === info.name ? { ...tensor(name), dtype: 'F4' } : tensor(name));
    const s = await computeModuleStats(f4, m);
    assert.equal(s.norm, null);
    assert.match(s.error ?? '', /F4 values cannot be decoded/);
  });

  it('cancellation: an aborted signal rejects before, between and inside modules', async () => {
    const ckpt0 = await openPath(join(REPO, 'samples/tiny-llama-lora'));
    const analysis = await analyzeCheckpoint(ckpt0);
    const before = new AbortController();
    before.abort();
    await assert.rejects(computeAllStats(ckpt0, analysis, { signal: before.signal }), {
      name: 'AbortError',
    });

    const between = new AbortController();
    let progressed = 0;
    await assert.rejects(
      computeAllStats(ckpt0, analysis, {
        signal: between.signal,
        onProgress: () => {
          progressed++;
          between.abort(new Error('user cancelled'));
        },
      }),
      /user cancelled/,
    );
    assert.equal(progressed, 1);

    const inside = new AbortController();
    const { ckpt, log } = loggedCheckpoint(ckpt0, {
      onRead: (l) => (l.calls === 3 ? inside.abort() : undefined),
    });
    await assert.rejects(
      computeAllStats(ckpt, analysis, { signal: inside.signal, chunkElements: 8 }),
      { name: 'AbortError' },
    );
    assert.equal(log.calls, 3, 'no read after the abort');
    await ckpt0.close();
  });

  it('concurrency: results in analysis order, the same as one at a time', async () => {
    const ckpt = await openPath(join(REPO, 'samples/tiny-llama-lora'));
    const analysis = await analyzeCheckpoint(ckpt);
    const one = await computeAllStats(ckpt, analysis);
    const seen: number[] = [];
    const four = await computeAllStats(ckpt, analysis, {
      concurrency: 4,
      onProgress: (p) => seen.push(p.done),
    });
    await ckpt.close();
    assert.deepEqual(
      four.map((s) => [s.module, s.norm]),
      one.map((s) => [s.module, s.norm]),
    );
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8]);
  });
});
