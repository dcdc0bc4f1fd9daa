import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  HostEndpoint,
  RequestError,
  WebviewEndpoint,
  NO_MAPPING,
  NO_SMOKE,
  type EditorMethod,
  type Handlers,
  type Message,
} from '../../src/shared/protocol.js';

/** Wires both ends together the way postMessage does: asynchronously and through a JSON copy. */
function pair() {
  const webview = new WebviewEndpoint((m) =>
    queueMicrotask(() => void host.receive(JSON.parse(JSON.stringify(m)))),
  );
  const tree = {
    version: 1,
    rowCount: 0,
    query: '',
    grouping: 'tree' as const,
    shown: { tensors: 0, params: 0, bytes: 0 },
    total: { tensors: 0, params: 0, bytes: 0 },
  };
  const handlers: Pick<Handlers, EditorMethod> = {
    ready: () => ({
      ok: false,
      fileName: 'x',
      error: { code: 'HeaderTooSmall', message: 'header too small' },
    }),
    rows: ({ start }) => ({ state: tree, start, rows: [] }),
    setQuery: ({ query }) => ({ ...tree, query }),
    setGrouping: () => tree,
    setExpanded: () => tree,
    expandAll: () => tree,
    collapseAll: () => tree,
    reveal: () => ({ state: tree, row: -1 }),
    metadataValue: ({ key }) => {
      throw Object.assign(new Error(`no metadata key "${key}"`), {
        code: 'TensorNotFound',
        subject: key,
      });
    },
    copyText: () => null,
    mapping: () => NO_MAPPING,
    mappingRows: ({ start }) => ({ state: NO_MAPPING.table, start, rows: [] }),
    mappingQuery: ({ query }) => ({ ...NO_MAPPING.table, query }),
    mappingSelect: ({ index }) => ({ ...NO_MAPPING.table, selected: index }),
    mappingTable: () => NO_MAPPING.table,
    selectBase: () => NO_MAPPING,
    setOverride: () => NO_MAPPING,
    clearOverride: () => NO_MAPPING,
    retarget: () => NO_MAPPING,
    computeStats: () => ({ modules: 0, ms: 0, rows: [], totals: [], warnings: [] }),
    baseModel: () => ({ base: null, model: null, note: 'no base', declared: null }),
    fileModel: () => ({ model: null }),
    smoke: () => NO_SMOKE,
    runSmoke: () => null,
    cancelSmoke: () => null,
  };
  const host: HostEndpoint = new HostEndpoint(
    (m: Message) => queueMicrotask(() => webview.receive(JSON.parse(JSON.stringify(m)))),
    handlers,
  );
  return { host, webview, handlers };
}

describe('protocol', () => {
  it('answers requests by id, in any order', async () => {
    const { webview } = pair();
    const [a, b] = await Promise.all([
      webview.request('setQuery', { query: 'a' }),
      webview.request('setQuery', { query: 'b' }),
    ]);
    assert.equal(a.query, 'a');
    assert.equal(b.query, 'b');
    const ready = await webview.request('ready', {});
    assert.equal(ready.ok, false);
  });

  it('turns handler errors into named rejections', async () => {
    const { webview } = pair();
    await assert.rejects(
      webview.request('metadataValue', { key: 'k' }),
      (e: unknown) =>
        e instanceof RequestError && e.error.code === 'TensorNotFound' && e.error.subject === 'k',
    );
  });

  it('delivers notifications and ignores foreign messages', async () => {
    const { host, webview } = pair();
    let reloads = 0;
    webview.on('reload', () => reloads++);
    host.notify('reload', {});
    webview.receive({ hello: 'world' });
    webview.receive(null);
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(reloads, 1);
  });

  it('answers a malformed request with a named refusal, and never calls its handler', async () => {
    const { handlers } = pair();
    const posted: Message[] = [];
    const strict = new HostEndpoint((m) => posted.push(m), {
      ...handlers,
      rows: () => assert.fail('the handler ran on bad params'),
    });
    const refused: string[] = [];
    strict.onInvalid = (r) => refused.push(r);
    await strict.receive({
      kind: 'request',
      id: 7,
      method: 'rows',
      params: { start: -1, count: 5 },
    });
    await strict.receive({
      kind: 'request',
      id: 8,
      method: 'rows',
      params: { start: 0, count: 1e9 },
    });
    await strict.receive({ kind: 'request', method: 'rows', params: {} });
    assert.deepEqual(
      posted.map((m) => (m.kind === 'response' ? [m.id, m.error?.code] : null)),
      [
        [7, 'InvalidMessage'],
        [8, 'InvalidMessage'],
      ],
    );
    assert.equal(refused.length, 3);
    assert.match(refused[0] ?? '', /rows: "start" must be a whole number/);
  });
});
