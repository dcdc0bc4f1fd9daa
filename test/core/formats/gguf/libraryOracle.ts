import { gguf, type GGUFParseOutput, type GGUFTypedMetadata } from '@huggingface/gguf';

/**
 * Parses GGUF bytes with @huggingface/gguf, an independent reader, answering its HTTP Range requests
 * from memory. The tests compare our reader with it on every valid file.
 */
export async function parseWithLibrary(
  bytes: Uint8Array,
): Promise<GGUFParseOutput & { typedMetadata: GGUFTypedMetadata }> {
  const answer = async (_input: unknown, init?: RequestInit): Promise<Response> => {
    const range = /^bytes=(\d+)-(\d+)$/.exec(new Headers(init?.headers).get('range') ?? '');
    if (!range) throw new Error('no Range header');
    const start = Number(range[1]);
    const end = Math.min(Number(range[2]) + 1, bytes.byteLength);
    const body = bytes.slice(start, Math.max(start, end));
    return new Response(body.buffer as ArrayBuffer, {
      status: 206,
      headers: { 'content-range': `bytes ${start}-${end - 1}/${bytes.byteLength}` },
    });
  };
  return gguf('https://oracle.invalid/model.gguf', {
    fetch: answer as typeof fetch,
    typedMetadata: true,
  });
}
