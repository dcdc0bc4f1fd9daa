// Formats other tools also open (.onnx, .gguf, shard indexes) are offered, not taken: they open in
// LoRA Lens through "LoRA Lens: Open with LoRA Lens", from whatever editor VS Code chose.
import * as assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe } from 'node:test';
import { dataValue, expectState, text } from './editor';
import { scenario, startSession, type Session, type WorkspaceFile } from './harness';

const ROOT = path.resolve(__dirname, '..', '..');
const fixture = (...p: string[]) => path.join(ROOT, 'test', 'fixtures', ...p);

const shardFiles: Record<string, WorkspaceFile> = {};
for (const f of readdirSync(fixture('sharded', 'safetensors'))) {
  shardFiles[`sharded/${f}`] = { copyFrom: fixture('sharded', 'safetensors', f) };
}

const CASES = [
  { file: 'tiny-llama.onnx', format: 'onnx', tensors: 17 },
  { file: 'tiny-llama.gguf', format: 'gguf', tensors: -1 },
  { file: 'sharded/model.safetensors.index.json', format: 'sharded-safetensors', tensors: 21 },
];

describe('other formats open with LoRA Lens on request', () => {
  let session: Session | undefined;
  const s = () => session;

  before(
    async () => {
      session = await startSession({
        name: 'formats',
        files: {
          'tiny-llama.onnx': { copyFrom: fixture('onnx', 'tiny-llama-legacy.onnx') },
          'tiny-llama.gguf': { copyFrom: fixture('gguf', 'tiny-llama.gguf') },
          ...shardFiles,
        },
      });
    },
    { timeout: 300_000 },
  );
  after(async () => {
    await session?.close();
  });

  for (const c of CASES) {
    scenario(`${c.file} opens in LoRA Lens from the command palette`, s, async (s) => {
      await s.openFromExplorer(c.file, 'double');
      await s.runCommand('LoRA Lens: Open with LoRA Lens');
      const name = path.basename(c.file);
      const app = await s.editorFrame(name);
      await expectState(s, app, 'ready');
      assert.equal(await text(app, 'format-badge'), c.format);
      const count = await dataValue(app, 'summary-tensor-count');
      if (c.tensors >= 0) assert.equal(count, c.tensors);
      else assert.ok(count > 0);
      await s.screenshot(`${c.format}-overview`);
    });
  }
});
