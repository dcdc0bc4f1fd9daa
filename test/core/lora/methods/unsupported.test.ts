import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openPath } from '../../../../src/core/formats/index.js';
import { analyzeLoraSync } from '../../../../src/core/lora/analyze.js';
import {
  UNSUPPORTED_METHODS,
  unsupportedByTensor,
} from '../../../../src/core/lora/methods/unsupported.js';
import { METHODS } from '../../../../src/core/lora/methods/registry.js';

const FIX = 'test/fixtures/methods/unsupported';

describe('PEFT methods LoRA Lens does not support are named, never "none"', () => {
  for (const [dir, label] of [
    ['shira', 'SHiRA'],
    ['road', 'RoAd'],
    ['delora', 'DeLoRA'],
  ] as const) {
    it(`${label} (written by PEFT 0.21)`, async () => {
      const cp = await openPath(`${FIX}/${dir}`);
      try {
        const a = analyzeLoraSync(cp);
        assert.equal(a.family, 'peft');
        assert.equal(a.modules.length, 0);
        assert.match(
          a.evidence.join(' '),
          new RegExp(`PEFT ${label}, a method LoRA Lens does not support`),
        );
        assert.ok(
          a.warnings.some((w) => w.startsWith('unsupported adapter method:') && w.includes(label)),
        );
        const tensors = a.nonLora.filter((e) => e.source === 'tensor');
        assert.ok(tensors.length > 0);
        for (const e of tensors) assert.match(e.reason, new RegExp(`a PEFT ${label} tensor`));
      } finally {
        await cp.close();
      }
    });
  }

  it('names a method from its tensor prefix alone', () => {
    assert.equal(unsupportedByTensor('base_model.model.x.q_proj.shira_weight')?.label, 'SHiRA');
    assert.equal(unsupportedByTensor('base_model.model.x.q_proj.lora_A.weight'), undefined);
  });

  it('lists no method that the registry supports', () => {
    const supported = new Set(METHODS.map((m) => m.peftType).filter(Boolean));
    for (const u of UNSUPPORTED_METHODS) assert.ok(!supported.has(u.peftType), u.peftType);
  });
});
