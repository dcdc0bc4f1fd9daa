import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TensorInfo } from '../../../../src/core/formats/checkpoint.js';
import { mayEndWith, someLastSegmentStarts } from '../../../../src/core/formats/quant/nameIndex.js';

const t = (name: string, dtype = 'F16'): TensorInfo =>
  ({ name, dtype, shape: [1], offset: 0, byteLength: 2, parameterCount: 1 }) as TensorInfo;

describe('quant name index (a scheme skips its pass only when no name can match)', () => {
  it('agrees with testing every name, on names whose neighbours share or almost share a tail', () => {
    const names = [
      'weight',
      'a.weight',
      'a.qweight',
      'b.qweight',
      'b.weight',
      'c.SCB',
      'c.xSCB',
      'd.weight_scale',
      'd.weight',
      'e.quant_state.bitsandbytes__nf4',
      'e.absmax',
      'f.nested_absmax',
      'g.weight_packed',
      'x',
      'y.',
    ];
    const suffixes = [
      '.weight',
      '.qweight',
      '.SCB',
      '.weight_scale',
      '.absmax',
      '.nested_absmax',
      '.weight_packed',
      '.weight_format',
      '.x',
      '.',
      'weight',
    ];
    // Every prefix of the list, so each name meets each possible predecessor.
    for (let n = 0; n <= names.length; n++) {
      const tensors = names.slice(0, n).map((x) => t(x));
      for (const s of suffixes) {
        const some = tensors.some((x) => x.name.endsWith(s));
        // It may say yes when none matches; never no when one does.
        if (some) assert.ok(mayEndWith(tensors, s), `${s} in ${n} names`);
        if (s.startsWith('.') && !s.slice(1).includes('.'))
          assert.equal(
            mayEndWith(tensors, s),
            some || tensors.some((x) => x.name === s.slice(1)),
            `${s} in ${n}`,
          );
      }
      const states = tensors.some((x) =>
        /\.bitsandbytes__[^.]*$|^bitsandbytes__[^.]*$/.test(x.name),
      );
      assert.equal(someLastSegmentStarts(tensors, 'bitsandbytes__'), states, `${n}`);
    }
  });
});
