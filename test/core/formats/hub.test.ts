import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CheckpointError, openPath, parseHubRef } from '../../../src/core/formats/index.js';
import { startFakeHub } from '../../helpers/hubServer.js';

describe('Hub repos over HTTP range requests (loopback server)', () => {
  it('parses hf: references', () => {
    assert.deepEqual(parseHubRef('hf:meta-llama/Llama-3.1-8B'), {
      repo: 'meta-llama/Llama-3.1-8B',
      revision: 'main',
    });
    assert.deepEqual(parseHubRef('hf:org/name@v1.0'), { repo: 'org/name', revision: 'v1.0' });
    assert.equal(parseHubRef('meta-llama/Llama-3.1-8B'), undefined);
    assert.equal(parseHubRef('hf:../../etc'), undefined);
  });

  it('reads a sharded base model header-only', async () => {
    const hub = await startFakeHub({
      'org/tiny-llama-sharded': { folder: 'test/fixtures/sharded/safetensors' },
    });
    try {
      const ckpt = await openPath('hf:org/tiny-llama-sharded', { hub: { endpoint: hub.endpoint } });
      assert.equal(ckpt.format, 'sharded-safetensors');
      assert.equal(ckpt.tensors.length, 21);
      assert.equal(ckpt.parameterCount, 106_816);
      assert.ok(
        hub.bytesSent < ckpt.fileSize / 20,
        `sent ${hub.bytesSent} of ${ckpt.fileSize} bytes`,
      );
      // A tensor read is one more ranged request for exactly its bytes.
      const before = hub.bytesSent;
      const norm = ckpt.tensor('model.norm.weight');
      const bytes = await ckpt.readTensorBytes(norm);
      assert.equal(hub.bytesSent - before, norm.byteLength);
      assert.equal(Buffer.from(bytes).readFloatLE(0), 1);
      await ckpt.close();
    } finally {
      await hub.close();
    }
  });

  it('reads an adapter repo with its adapter_config.json, sending the token', async () => {
    const hub = await startFakeHub({
      'me/private-lora': { folder: 'samples/tiny-llama-lora', token: 'hf_secret' },
    });
    try {
      await assert.rejects(
        openPath('hf:me/private-lora', { hub: { endpoint: hub.endpoint } }),
        (e: unknown) =>
          e instanceof CheckpointError &&
          e.code === 'RemoteError' &&
          /set a Hub token/.test(e.message),
      );
      const ckpt = await openPath('hf:me/private-lora', {
        hub: { endpoint: hub.endpoint, token: 'hf_secret' },
      });
      assert.equal(ckpt.tensors.length, 16);
      assert.equal((ckpt.configs?.['adapter_config.json'] as Record<string, unknown>).r, 8);
      await ckpt.close();
    } finally {
      await hub.close();
    }
  });

  it('names unknown repos and unreachable endpoints', async () => {
    const hub = await startFakeHub({});
    try {
      await assert.rejects(
        openPath('hf:no/such', { hub: { endpoint: hub.endpoint } }),
        (e: unknown) => (e as CheckpointError).code === 'FileNotFound',
      );
    } finally {
      await hub.close();
    }
    await assert.rejects(
      openPath('hf:no/such', { hub: { endpoint: 'http://127.0.0.1:9', timeoutMs: 2000 } }),
      (e: unknown) => (e as CheckpointError).code === 'RemoteError',
    );
  });
});
