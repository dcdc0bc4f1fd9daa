/**
 * A loopback stand-in for the Hugging Face Hub: the `api/models/…/revision/…` file list and
 * `…/resolve/…` downloads with HTTP Range support, served from local folders. It counts the bytes it
 * sends, so tests can prove that only headers crossed the wire.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface HubRepoSpec {
  readonly folder: string;
  /** When set, requests need `Authorization: Bearer <token>`. */
  readonly token?: string;
}

export interface FakeHub {
  readonly endpoint: string;
  bytesSent: number;
  requests: string[];
  close(): Promise<void>;
}

export async function startFakeHub(repos: Record<string, HubRepoSpec>): Promise<FakeHub> {
  const hub = {
    endpoint: '',
    bytesSent: 0,
    requests: [] as string[],
    close: async () => undefined,
  };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    hub.requests.push(`${req.method} ${url.pathname}`);
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const repoId = api?.[1] ?? resolve?.[1];
    const spec = repoId ? repos[repoId] : undefined;
    if (!spec) return void res.writeHead(404).end('Repository not found');
    if (spec.token && req.headers.authorization !== `Bearer ${spec.token}`)
      return void res.writeHead(401).end('Unauthorized');
    if (api) {
      const siblings = readdirSync(spec.folder).map((f) => ({
        rfilename: f,
        size: statSync(join(spec.folder, f)).size,
      }));
      return void res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ id: repoId, siblings }));
    }
    const file = join(spec.folder, decodeURIComponent(resolve?.[3] ?? ''));
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch {
      return void res.writeHead(404).end('Entry not found');
    }
    if (req.method === 'HEAD')
      return void res.writeHead(200, { 'content-length': data.length }).end();
    const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (range) {
      const start = Number(range[1]);
      const end = Math.min(Number(range[2]), data.length - 1);
      const chunk = data.subarray(start, end + 1);
      hub.bytesSent += chunk.length;
      return void res
        .writeHead(206, {
          'content-range': `bytes ${start}-${end}/${data.length}`,
          'content-length': chunk.length,
        })
        .end(chunk);
    }
    hub.bytesSent += data.length;
    res.writeHead(200, { 'content-length': data.length }).end(data);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  hub.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  hub.close = () => new Promise<undefined>((resolve) => server.close(() => resolve(undefined)));
  return hub;
}
