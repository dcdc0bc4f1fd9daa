/**
 * For `bench:ui` (Node with a global WebSocket: the script passes --experimental-websocket): opens the
 * inspector of the extension host (SIGUSR1), collects garbage and reads its heap, so an RSS figure can
 * be split into live objects, external buffers and what V8 holds on to, and the ten-editor scenario
 * can see what closing released. UI_BENCH_HEAP=1 also logs the heap with ten open. Never used by the
 * product.
 */
interface CdpReply {
  id?: number;
  result?: { result?: { value?: unknown } };
}

async function inspectorUrl(port: number): Promise<string> {
  for (let i = 0; i < 50; i++) {
    try {
      const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as {
        webSocketDebuggerUrl: string;
      }[];
      const url = list[0]?.webSocketDebuggerUrl;
      if (url) return url;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no inspector on port ${port}`);
}

/** process.memoryUsage() of `pid` after a full collection, in MB. */
export async function heapAfterGc(pid: number, port = 9229): Promise<Record<string, number>> {
  const Ws = (globalThis as { WebSocket?: typeof WebSocket }).WebSocket;
  if (!Ws) throw new Error('run Node with --experimental-websocket');
  process.kill(pid, 'SIGUSR1');
  const ws = new Ws(await inspectorUrl(port));
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let next = 1;
  const call = (method: string, params: object = {}) =>
    new Promise<CdpReply>((resolve) => {
      const id = next++;
      const onMessage = (e: MessageEvent) => {
        const m = JSON.parse(String(e.data)) as CdpReply;
        if (m.id !== id) return;
        ws.removeEventListener('message', onMessage);
        resolve(m);
      };
      ws.addEventListener('message', onMessage);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call('HeapProfiler.enable');
  await call('HeapProfiler.collectGarbage');
  await call('HeapProfiler.collectGarbage');
  const r = await call('Runtime.evaluate', {
    expression: 'JSON.stringify(process.memoryUsage())',
    returnByValue: true,
  });
  ws.close();
  const usage = JSON.parse(String(r.result?.result?.value)) as Record<string, number>;
  return Object.fromEntries(Object.entries(usage).map(([k, v]) => [k, Math.round(v / 1e5) / 10]));
}
