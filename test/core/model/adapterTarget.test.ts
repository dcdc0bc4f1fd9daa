/** What an adapter says of its base: kohya, ModelSpec and PEFT's repo name, in that order; else nothing. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckpointInfo, PlainValue } from '../../../src/core/formats/checkpoint.js';
import { adapterTarget } from '../../../src/core/model/adapterTarget.js';

function info(
  metadata: Record<string, string>,
  config?: Record<string, PlainValue>,
): CheckpointInfo {
  return {
    format: 'safetensors',
    name: 'a.safetensors',
    fileSize: 0,
    headerByteLength: 0,
    tensors: [],
    metadata,
    parameterCount: 0,
    dataBytes: 0,
    dtypes: [],
    ...(config ? { configs: { 'adapter_config.json': config } } : {}),
  };
}

describe('adapterTarget', () => {
  it('reads kohya, ModelSpec and the PEFT repo name, family and variant only', () => {
    const sdxl = adapterTarget(info({ ss_base_model_version: 'sdxl_base_v1-0' }));
    assert.equal(sdxl?.family, 'sdxl');
    assert.equal(sdxl?.dims.numLayers, null);
    assert.match(sdxl?.undetermined.numLayers ?? '', /--base/);
    assert.equal(
      adapterTarget(info({ 'modelspec.architecture': 'flux-1-dev/lora' }))?.variant,
      'Flux.1 dev',
    );
    assert.equal(
      adapterTarget(info({ 'modelspec.architecture': 'stable-diffusion-3.5-large/lora' }))?.variant,
      'SD3.5 Large',
    );
    const qwen = adapterTarget(info({}, { base_model_name_or_path: 'Qwen/Qwen2.5-7B-Instruct' }));
    assert.deepEqual([qwen?.family, qwen?.variant], ['qwen2', 'Qwen2.5']);
    // kohya wins over a repo name that says something else.
    assert.equal(
      adapterTarget(
        info(
          { ss_base_model_version: 'sd_v1' },
          { base_model_name_or_path: 'meta-llama/Llama-2-7b' },
        ),
      )?.family,
      'sd1',
    );
  });

  it('says nothing when the adapter does not', () => {
    assert.equal(adapterTarget(info({})), null);
    assert.equal(adapterTarget(info({ ss_base_model_version: 'my_model' })), null);
    assert.equal(adapterTarget(info({}, { base_model_name_or_path: 'org/some-model' })), null);
    assert.equal(adapterTarget(info({}, { base_model_name_or_path: 42 })), null);
  });
});
