/**
 * The dispatcher over every recogniser: each LLM and diffusion fixture comes out as exactly its own
 * parts (no recogniser claims another family's file), the main part first; what nobody claims is
 * "unknown" with only the figures its names and shapes determine; a throwing recogniser is dropped.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { factsFrom } from '../../../src/core/model/facts.js';
import { recognizeModel, RECOGNIZERS } from '../../../src/core/model/recognize.js';
import type { Recognizer } from '../../../src/core/model/recognizer.js';

interface Part {
  prefix: string;
  family: string;
  variant: string | null;
  kind: string;
  parameterCount: number;
}
interface Fixture {
  config?: Record<string, unknown>;
  tensors: Record<string, number[]>;
  expected: Part | Part[];
}

function load(dir: string): [string, Fixture][] {
  const d = join('test', 'fixtures', 'model', dir);
  return readdirSync(d)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => [f, JSON.parse(readFileSync(join(d, f), 'utf8')) as Fixture]);
}

const facts = (tensors: Record<string, number[]>, config: Record<string, unknown> | null = null) =>
  factsFrom(
    Object.entries(tensors).map(([name, shape]) => ({ name, shape })),
    config,
    {},
    'safetensors',
  );

const MAIN_ORDER = [
  'diffusion-transformer',
  'diffusion-unet',
  'causal-lm',
  'encoder-decoder',
  'encoder',
  'text-encoder',
  'vae',
];

describe('recognizeModel over all recognisers', () => {
  for (const [file, fx] of [...load('llm'), ...load('diffusion')])
    it(`${file}: its own parts and nothing else, the main part first`, () => {
      const expected = Array.isArray(fx.expected) ? fx.expected : [fx.expected];
      const arch = recognizeModel(facts(fx.tensors, fx.config ?? null));
      const got = arch.components.map((c) => `${c.prefix}|${c.family}|${c.kind}`).sort();
      assert.deepEqual(got, expected.map((e) => `${e.prefix}|${e.family}|${e.kind}`).sort());
      const main = [...expected].sort(
        (a, b) =>
          MAIN_ORDER.indexOf(a.kind) - MAIN_ORDER.indexOf(b.kind) ||
          b.parameterCount - a.parameterCount,
      )[0];
      assert.equal(arch.family, main?.family);
      assert.equal(arch.components[0]?.prefix, main?.prefix);
      assert.equal(arch.variant, main?.variant);
    });

  it('a model nobody knows: "unknown", layers, width and vocabulary from shapes, the rest undetermined', () => {
    const t: Record<string, number[]> = { 'tok.embed_tokens.weight': [100, 64] };
    for (let i = 0; i < 3; i++) {
      t[`trunk.blocks.${i}.pre_norm.weight`] = [64];
      t[`trunk.blocks.${i}.mix.weight`] = [192, 64];
      t[`trunk.blocks.${i}.out.weight`] = [64, 192];
    }
    const arch = recognizeModel(facts(t, { model_type: 'zebra' }));
    assert.equal(arch.family, 'unknown');
    assert.equal(arch.kind, 'unknown');
    assert.equal(arch.dims.numLayers, 3);
    assert.equal(arch.dims.hiddenSize, 64);
    assert.equal(arch.dims.vocabSize, 100);
    assert.equal(arch.dims.numAttentionHeads, null);
    assert.match(arch.undetermined.numAttentionHeads ?? '', /not determined/);
    assert.equal(arch.components[0]?.parameterCount, 100 * 64 + 3 * (64 + 2 * 192 * 64));
    assert.ok(arch.evidence.some((e) => /3 repeated blocks trunk\.blocks\.0–2/.test(e.claim)));
    assert.ok(arch.evidence.some((e) => /model_type "zebra"/.test(e.claim)));
  });

  it('norms of two widths leave the width undetermined rather than guessed', () => {
    const t: Record<string, number[]> = {};
    for (let i = 0; i < 2; i++) {
      t[`b.${i}.norm_a.weight`] = [64];
      t[`b.${i}.norm_b.weight`] = [32];
    }
    const arch = recognizeModel(facts(t));
    assert.equal(arch.dims.hiddenSize, null);
    assert.match(arch.undetermined.hiddenSize ?? '', /2 different widths/);
  });

  it('an empty file and a recogniser that throws still give an answer', () => {
    assert.equal(recognizeModel(facts({})).family, 'unknown');
    const boom: Recognizer = {
      id: 'boom',
      recognize: () => {
        throw new Error('bug');
      },
    };
    const [file, fx] = load('llm').find(([f]) => f === 'llama-3.1-8b.json') ?? [];
    assert.ok(file && fx);
    const arch = recognizeModel(facts(fx.tensors), [boom, ...RECOGNIZERS]);
    assert.equal(arch.family, 'llama');
  });

  it('1M hostile names (deep, numbered) end as a bounded unknown', () => {
    const tensors: { name: string; shape: number[] }[] = [];
    for (let i = 0; i < 1_000_000; i++)
      tensors.push({ name: `a.${i}.${'x.'.repeat(i % 40)}w`, shape: [i % 7, 3] });
    const arch = recognizeModel(factsFrom(tensors, null, {}, 'safetensors'));
    assert.equal(arch.family, 'unknown');
    assert.equal(arch.dims.numLayers, 1_000_000);
    assert.equal(arch.components[0]?.tensorCount, 1_000_000);
  });
});
