import { WebviewEndpoint, type Message } from '../src/shared/protocol.js';

export type Rpc = WebviewEndpoint;

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

/** The VS Code API when inside a webview; a stand-in elsewhere so the bundle still loads (tests, previews). */
export const vscodeApi: VsCodeApi =
  typeof acquireVsCodeApi === 'function'
    ? acquireVsCodeApi()
    : { postMessage: () => undefined, getState: () => undefined, setState: () => undefined };

export function connect(): Rpc {
  const rpc = new WebviewEndpoint((m: Message) => vscodeApi.postMessage(m));
  window.addEventListener('message', (e: MessageEvent) => rpc.receive(e.data));
  return rpc;
}

export interface ViewState {
  tab?: number;
  scrollTop?: number;
}

export function loadViewState(): ViewState {
  const s = vscodeApi.getState();
  return s && typeof s === 'object' ? (s as ViewState) : {};
}

export function saveViewState(patch: ViewState): void {
  vscodeApi.setState({ ...loadViewState(), ...patch });
}
