/** Shared helpers for the mapping tests: open real fixtures, build header-only infos, check results. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openPath } from '../../../src/core/formats/index.js';
import type { CheckpointInfo } from '../../../src/core/formats/checkpoint.js';
import { analyzeLoraSync, type LoraAnalysis } from '../../../src/core/lora/index.js';
import type { MappingResult } from '../../../src/core/mapping/index.js';
import { infoFrom } from '../lora/loraTestInfo.js';

export const REPO = join(__dirname, '../../..');
export const MAPPING_FIXTURES = join(REPO, 'test/fixtures/mapping');

/** Opens a checkpoint and keeps only its header facts. */
export async function headerOf(rel: string): Promise<CheckpointInfo> {
  const c = await openPath(join(REPO, rel));
  try {
    return {
      format: c.format,
      name: c.name,
      fileSize: c.fileSize,
      headerByteLength: c.headerByteLength,
      tensors: [...c.tensors],
      metadata: c.metadata,
      parameterCount: c.parameterCount,
      dataBytes: c.dataBytes,
      dtypes: c.dtypes,
      ...(c.configs ? { configs: c.configs } : {}),
    };
  } finally {
    await c.close();
  }
}

export async function adapterOf(
  rel: string,
): Promise<{ analysis: LoraAnalysis; info: CheckpointInfo }> {
  const info = await headerOf(rel);
  return { analysis: analyzeLoraSync(info), info };
}

/** An adapter from module name → [in, out] (kohya lora_down/lora_up, standard orientation). */
export function kohyaAdapter(
  modules: Readonly<Record<string, readonly number[]>>,
  rank = 4,
): { analysis: LoraAnalysis; info: CheckpointInfo } {
  const shapes: Record<string, number[]> = {};
  for (const [name, [inF = 1, out = 1, ...kernel]] of Object.entries(modules)) {
    shapes[`${name}.lora_down.weight`] = [rank, inF, ...kernel];
    shapes[`${name}.lora_up.weight`] = [out, rank, ...kernel.map(() => 1)];
    shapes[`${name}.alpha`] = [];
  }
  const info = infoFrom(shapes);
  return { analysis: analyzeLoraSync(info), info };
}

/** A PEFT adapter from module path → [in, out]. */
export function peftAdapter(
  modules: Readonly<Record<string, readonly number[]>>,
  rank = 4,
): { analysis: LoraAnalysis; info: CheckpointInfo } {
  const shapes: Record<string, number[]> = {};
  for (const [name, [inF = 1, out = 1]] of Object.entries(modules)) {
    shapes[`base_model.model.${name}.lora_A.weight`] = [rank, inF];
    shapes[`base_model.model.${name}.lora_B.weight`] = [out, rank];
  }
  const info = infoFrom(shapes);
  return { analysis: analyzeLoraSync(info), info };
}

export function baseFrom(shapes: Readonly<Record<string, readonly number[]>>): CheckpointInfo {
  return infoFrom(shapes);
}

/** A base key list (name → shape) copied from public model code into test/fixtures/mapping. */
export function baseKeys(file: string): Record<string, number[]> {
  const j = JSON.parse(readFileSync(join(MAPPING_FIXTURES, file), 'utf8')) as {
    state_dict: Record<string, { shape: number[] }>;
  };
  const out: Record<string, number[]> = {};
  for (const [k, v] of Object.entries(j.state_dict)) out[k] = v.shape;
  return out;
}

/** Module name → target of every mapping. */
export function targets(r: MappingResult): Map<string, string> {
  return new Map(r.mappings.map((m) => [m.module, m.target]));
}

/** Every expected pair is mapped, high, and no high mapping anywhere is outside `expected`. */
export function assertAllHigh(r: MappingResult, expected: ReadonlyMap<string, string>): void {
  const got = targets(r);
  for (const [mod, target] of expected) assert.equal(got.get(mod), target, `${mod}`);
  for (const m of r.mappings) {
    assert.equal(m.level, 'high', `${m.module} → ${m.target}: ${m.level} (${m.reason})`);
    assert.ok(['exact', 'transposed', 'conv-reshape', 'slice'].includes(m.shapeCheck), m.reason);
  }
  assert.equal(r.unmatchedAdapter.length, 0, r.unmatchedAdapter.join(', '));
}
