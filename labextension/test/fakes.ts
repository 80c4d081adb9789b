/**
 * A WebSocket for unit tests: the test plays the server (opens, sends frames, closes) and
 * reads what the client sent. Everything else in these tests is the real code.
 */
export class FakeSocket {
  static instances: FakeSocket[] = [];

  constructor(
    readonly url: string,
    readonly protocols?: string | string[]
  ) {
    FakeSocket.instances.push(this);
  }

  binaryType = 'blob';
  readyState = 0;
  sent: Uint8Array[] = [];
  closedByClient: number | null = null;
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;

  send(data: Uint8Array): void {
    if (this.readyState !== 1) {
      throw new Error('send on a socket that is not open');
    }
    this.sent.push(data);
  }

  close(code = 1000): void {
    this.closedByClient = code;
    this.readyState = 3;
  }

  // --- the server's side ---
  serverOpen(): void {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }

  serverSend(frame: string | Uint8Array): void {
    const bytes = typeof frame === 'string' ? new TextEncoder().encode(frame) : frame;
    const data = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    this.onmessage?.({ data } as MessageEvent);
  }

  serverClose(code: number, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason } as CloseEvent);
  }

  /** What the client sent, as text. */
  sentText(): string[] {
    return this.sent.map(frame => new TextDecoder().decode(frame));
  }

  static reset(): void {
    FakeSocket.instances = [];
  }

  static last(): FakeSocket {
    const socket = FakeSocket.instances[FakeSocket.instances.length - 1];
    if (!socket) {
      throw new Error('no socket was opened');
    }
    return socket;
  }
}

/** A sink that holds xterm.js's write callbacks until the test "renders". */
export class DeferredSink {
  written: Uint8Array[] = [];
  private _callbacks: (() => void)[] = [];

  write(data: Uint8Array, callback?: () => void): void {
    this.written.push(data);
    if (callback) {
      this._callbacks.push(callback);
    }
  }

  /** Process the oldest `n` tracked writes (as xterm.js does, in order). */
  flush(n = Infinity): void {
    const run = this._callbacks.splice(0, Math.min(n, this._callbacks.length));
    run.forEach(callback => callback());
  }

  text(): string {
    return this.written.map(chunk => new TextDecoder().decode(chunk)).join('');
  }
}

/** An EventSource the test feeds: named events, errors, and the browser's ready states. */
export class FakeEventSource {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;
  static instances: FakeEventSource[] = [];

  constructor(readonly url: string) {
    FakeEventSource.instances.push(this);
  }

  readyState = 0;
  onerror: ((event: Event) => void) | null = null;
  private _listeners = new Map<string, ((event: MessageEvent<string>) => void)[]>();

  addEventListener(type: string, listener: (event: MessageEvent<string>) => void): void {
    this._listeners.set(type, [...(this._listeners.get(type) ?? []), listener]);
  }

  close(): void {
    this.readyState = FakeEventSource.CLOSED;
  }

  emit(type: string, data: unknown): void {
    this.readyState = FakeEventSource.OPEN;
    for (const listener of this._listeners.get(type) ?? []) {
      listener({ data: JSON.stringify(data) } as MessageEvent<string>);
    }
  }

  fail(readyState: number): void {
    this.readyState = readyState;
    this.onerror?.(new Event('error'));
  }
}
