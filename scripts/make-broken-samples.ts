/**
 * Writes samples/broken/: small safetensors files that each break one rule, for the editor's error
 * view, the CLI and the real-VS-Code tests. Run: npm run samples
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rawFile } from '../test/helpers/safetensorsBuilder.js';

const out = 'samples/broken';
mkdirSync(out, { recursive: true });

const good = readFileSync('samples/tiny-llama-lora/adapter_model.safetensors');
const files: Record<string, Uint8Array> = {
  // The last byte of the data section is missing: a download cut short.
  'truncated.safetensors': good.subarray(0, good.length - 1),
  // A length prefix of 2^40 bytes: not a safetensors file, or corrupted.
  'header-too-large.safetensors': rawFile('{}', 0, 1n << 40n),
  'duplicate-key.safetensors': rawFile(
    '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
    8,
  ),
  'unknown-dtype.safetensors': rawFile(
    '{"w":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}',
    16,
  ),
  'metadata-not-string.safetensors': rawFile('{"__metadata__":{"epoch":3}}', 0),
};
for (const [name, bytes] of Object.entries(files)) {
  writeFileSync(join(out, name), bytes);
  console.log(`${join(out, name)} (${bytes.length} bytes)`);
}
