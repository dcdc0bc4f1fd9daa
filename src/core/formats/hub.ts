import type { ByteSource } from './byteSource.js';
import { CheckpointError } from './errors.js';
import { checkRelativePath, type Siblings } from './files.js';

/**
 * A Hugging Face Hub repo read over HTTP range requests: only headers cross the network. Works against
 * any endpoint that speaks the Hub's `resolve` and `api/models` routes (a mirror, or a loopback server in
 * tests).
 */
export interface HubOptions {
  readonly endpoint?: string;
  readonly token?: string;
  readonly revision?: string;
  readonly timeoutMs?: number;
  /** Injected for tests; defaults to the global fetch. */
  readonly fetch?: typeof fetch;
}

export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';

/** `hf:org/name` or `hf:org/name@revision` → repo and revision; undefined when not a Hub reference. */
export function parseHubRef(ref: string): { repo: string; revision: string } | undefined {
  const m = /^hf:([A-Za-z0-9][\w.-]*\/[\w.-]+)(?:@([\w./-]+))?$/.exec(ref.trim());
  if (!m) return undefined;
  return { repo: m[1] as string, revision: m[2] ?? 'main' };
}

class HubClient {
  readonly endpoint: string;
  constructor(private readonly options: HubOptions) {
    this.endpoint = (options.endpoint ?? DEFAULT_HUB_ENDPOINT).replace(/\/+$/, '');
  }

  async request(url: string, init: RequestInit & { what: string }): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.options.token) headers.set('Authorization', `Bearer ${this.options.token}`);
    let res: Response;
    try {
      res = await (this.options.fetch ?? fetch)(url, {
        ...init,
        headers,
        redirect: 'follow',
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code;
      throw new CheckpointError(
        'RemoteError',
        `${init.what}: could not reach ${this.endpoint} (${cause ?? (e as Error).message})`,
      );
    }
    if (res.status === 401 || res.status === 403) {
      throw new CheckpointError(
        'RemoteError',
        `${init.what}: access denied (HTTP ${res.status}). ${this.options.token ? 'The Hub token does not give access to it.' : 'It may be gated or private: set a Hub token.'}`,
      );
    }
    if (res.status === 404)
      throw new CheckpointError('FileNotFound', `${init.what}: not found (HTTP 404)`);
    if (!res.ok)
      throw new CheckpointError(
        'RemoteError',
        `${init.what}: HTTP ${res.status} ${res.statusText}`,
      );
    return res;
  }
}

class HttpByteSource implements ByteSource {
  constructor(
    private readonly client: HubClient,
    private readonly url: string,
    readonly name: string,
    readonly size: number,
  ) {}

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > this.size
    ) {
      throw new CheckpointError(
        'InvalidRange',
        `byte range ${offset}+${length} is outside ${this.name} (${this.size} bytes)`,
      );
    }
    if (length === 0) return new Uint8Array(0);
    const res = await this.client.request(this.url, {
      headers: { Range: `bytes=${offset}-${offset + length - 1}` },
      what: this.name,
    });
    if (res.status !== 206 && !(res.status === 200 && offset === 0 && length === this.size)) {
      throw new CheckpointError(
        'RemoteError',
        `${this.name}: the server ignored the byte range request (HTTP ${res.status}); LoRA Lens will not download whole files`,
      );
    }
    const body = new Uint8Array(await res.arrayBuffer());
    if (body.length !== length) {
      throw new CheckpointError(
        'RemoteError',
        `${this.name}: asked for ${length} bytes at ${offset}, got ${body.length}`,
      );
    }
    return body;
  }

  async close(): Promise<void> {
    // Stateless.
  }
}

export class HubRepo implements Siblings {
  private readonly client: HubClient;
  private files: Map<string, number | undefined> | undefined;

  constructor(
    readonly repo: string,
    readonly revision: string,
    options: HubOptions = {},
  ) {
    this.client = new HubClient(options);
  }

  get label(): string {
    return `hf:${this.repo}${this.revision === 'main' ? '' : `@${this.revision}`}`;
  }

  private fileUrl(path: string): string {
    const encoded = path.split('/').map(encodeURIComponent).join('/');
    return `${this.client.endpoint}/${this.repo}/resolve/${encodeURIComponent(this.revision)}/${encoded}`;
  }

  /** The repo's file list, from the model API (one request, cached). */
  private async listing(): Promise<Map<string, number | undefined>> {
    if (this.files) return this.files;
    const url = `${this.client.endpoint}/api/models/${this.repo}/revision/${encodeURIComponent(this.revision)}?blobs=true`;
    const res = await this.client.request(url, { what: `${this.label} (file list)` });
    const body = (await res.json()) as { siblings?: { rfilename?: unknown; size?: unknown }[] };
    if (!Array.isArray(body.siblings))
      throw new CheckpointError(
        'RemoteError',
        `${this.label}: the Hub answered without a file list`,
      );
    this.files = new Map();
    for (const s of body.siblings) {
      if (typeof s.rfilename === 'string')
        this.files.set(s.rfilename, typeof s.size === 'number' ? s.size : undefined);
    }
    return this.files;
  }

  async list(): Promise<string[]> {
    return [...(await this.listing()).keys()].filter((f) => !f.includes('/')).sort();
  }

  async exists(relativePath: string): Promise<boolean> {
    return (await this.listing()).has(checkRelativePath(relativePath, this.label));
  }

  async size(relativePath: string): Promise<number> {
    const path = checkRelativePath(relativePath, this.label);
    const known = (await this.listing()).get(path);
    if (known !== undefined) return known;
    const res = await this.client.request(this.fileUrl(path), {
      method: 'HEAD',
      what: `${this.label}/${path}`,
    });
    const len = Number(res.headers.get('content-length'));
    if (!Number.isSafeInteger(len) || len < 0)
      throw new CheckpointError('RemoteError', `${this.label}/${path}: no Content-Length`);
    return len;
  }

  async open(relativePath: string): Promise<ByteSource> {
    const path = checkRelativePath(relativePath, this.label);
    return new HttpByteSource(
      this.client,
      this.fileUrl(path),
      path.slice(path.lastIndexOf('/') + 1),
      await this.size(path),
    );
  }
}
