/**
 * The browser side of one terminal's ttyd connection: handshake, input, resize,
 * flow control, and the resume position across reconnections.
 *
 * It knows nothing of xterm.js or of JupyterLab's widgets: it writes output to a sink
 * (`write(data, callback)`, which xterm.js's `Terminal` satisfies) and reports what the
 * server says through signals, so it can be tested against a plain socket.
 */
import { ISignal, Signal } from '@lumino/signaling';

import {
  ISize,
  IEnding,
  SUBPROTOCOL,
  decodeServerFrame,
  describeClose,
  encodeHandshake,
  encodeInput,
  encodePause,
  encodeResize,
  encodeResume
} from './protocol';

/** Where output goes; xterm.js's `Terminal.write` has this shape. */
export interface IOutputSink {
  write(data: Uint8Array, callback?: () => void): void;
}

/**
 * ttyd's client flow control: every `limit` bytes, one write is tracked until the sink
 * has processed it; more than `highWater` such writes pending sends PAUSE, and once
 * fewer than `lowWater` remain, RESUME.
 */
export interface IFlowControlOptions {
  limit: number;
  highWater: number;
  lowWater: number;
}

/** The values of ttyd's own web client (html/src/components/terminal/xterm). */
export const TTYD_FLOW_CONTROL: IFlowControlOptions = { limit: 100000, highWater: 10, lowWater: 4 };

/** Writes output to a sink and decides when to PAUSE and RESUME the server. */
export class FlowControl {
  constructor(
    readonly options: IFlowControlOptions,
    private readonly _send: (frame: Uint8Array) => void
  ) {}

  /** Whether PAUSE was sent and RESUME not yet. */
  get paused(): boolean {
    return this._paused;
  }

  /** How many times PAUSE was sent. */
  get pauses(): number {
    return this._pauses;
  }

  /** Writes tracked and not yet processed by the sink. */
  get pending(): number {
    return this._pending;
  }

  write(data: Uint8Array, sink: IOutputSink): void {
    const { limit, highWater, lowWater } = this.options;
    this._written += data.length;
    if (this._written <= limit) {
      sink.write(data);
      return;
    }
    this._written = 0;
    this._pending++;
    const generation = this._generation;
    sink.write(data, () => {
      if (generation !== this._generation) {
        return; // written for a connection that is gone: its server state went with it
      }
      this._pending = Math.max(this._pending - 1, 0);
      if (this._paused && this._pending < lowWater) {
        this._paused = false;
        this._send(encodeResume());
      }
    });
    if (!this._paused && this._pending > highWater) {
      this._paused = true;
      this._pauses++;
      this._send(encodePause());
    }
  }

  /** A new connection starts unpaused with nothing pending. */
  reset(): void {
    this._generation++;
    this._written = 0;
    this._pending = 0;
    this._paused = false;
  }

  private _written = 0;
  private _pending = 0;
  private _paused = false;
  private _pauses = 0;
  private _generation = 0;
}

/** A WebSocket constructor (the browser's, or ServerConnection settings' `WebSocket`). */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocket;

export interface IClientOptions {
  /** The terminal's WebSocket URL, e.g. `ws://host/cloudtty/api/shells/pods/terminal?token=…`. */
  url: string;
  /** The terminal's current size, read when a connection opens. */
  size: () => ISize;
  /** Where output is written. */
  sink: IOutputSink;
  WebSocket?: WebSocketConstructor;
  flowControl?: IFlowControlOptions;
  /** This client's id for resuming output (default: a random one). */
  clientId?: string;
  /**
   * Keys of ours added to each connection's handshake, read when it opens: `downloads` says where a
   * `tsz` typed in this terminal saves (`"jupyter"`: the server takes it; `"browser"`: the tab does).
   */
  handshake?: () => IHandshakeExtras;
}

/** Our keys in ttyd's handshake JSON (ttyd itself reads only `AuthToken`, `columns` and `rows`). */
export interface IHandshakeExtras {
  downloads?: 'jupyter' | 'browser';
}

/** The handshake frame: protocol.ts's JSON with our keys added (ttyd's own keys always win). */
export function handshakeFrame(size: ISize, extras: IHandshakeExtras = {}): Uint8Array {
  const base = encodeHandshake(size);
  if (Object.keys(extras).length === 0) {
    return base;
  }
  const fields = JSON.parse(new TextDecoder().decode(base)) as Record<string, unknown>;
  return new TextEncoder().encode(JSON.stringify({ ...extras, ...fields }));
}

export type ClientState = 'idle' | 'connecting' | 'open' | 'closed';

/** How a connection closed. */
export interface IClosed extends IEnding {
  code: number;
  reason: string;
  /** Whether the connection had opened: a refused upgrade (403, 404) never does. */
  wasOpen: boolean;
}

/** A random id, from `crypto.getRandomValues` (available outside secure contexts too). */
export function newClientId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, b => b.toString(16).padStart(2, '0')).join('');
}

/** Delay before the n-th automatic reconnection (0-based): 0.5 s, 1 s, 2 s... at most 30 s. */
export function reconnectDelay(attempt: number): number {
  return Math.min(30000, 500 * 2 ** Math.max(0, attempt));
}

/**
 * One terminal's connections to its shell, one at a time.
 *
 * Every connection's URL carries `client=<id>&received=<n>`, `n` being the OUTPUT payload
 * bytes this client has received from the shell over all its connections, so that a
 * server that supports it replays only what this client has not seen.
 */
export class TtydClient {
  constructor(options: IClientOptions) {
    this._options = options;
    this.clientId = options.clientId ?? newClientId();
    this._flow = new FlowControl(options.flowControl ?? TTYD_FLOW_CONTROL, frame =>
      this._sendFrame(frame)
    );
  }

  readonly clientId: string;

  get state(): ClientState {
    return this._state;
  }

  /** OUTPUT payload bytes received from the shell, over all connections. */
  get received(): number {
    return this._received;
  }

  /** How many connections have opened. */
  get connections(): number {
    return this._opened;
  }

  get flowControl(): FlowControl {
    return this._flow;
  }

  /** The size the server was last told (this connection's handshake or a RESIZE since); null before. */
  get size(): ISize | null {
    return this._lastSize ? { ...this._lastSize } : null;
  }

  /** The last window title the server sent. */
  get title(): string {
    return this._title;
  }

  get stateChanged(): ISignal<this, ClientState> {
    return this._stateChanged;
  }

  /** SET_WINDOW_TITLE. */
  get titleChanged(): ISignal<this, string> {
    return this._titleChanged;
  }

  /** SET_PREFERENCES (xterm.js options and ttyd client options). */
  get preferencesReceived(): ISignal<this, Record<string, unknown>> {
    return this._preferencesReceived;
  }

  /** The first OUTPUT frame of each connection (its byte count). */
  get outputStarted(): ISignal<this, number> {
    return this._outputStarted;
  }

  get closed(): ISignal<this, IClosed> {
    return this._closed;
  }

  /** The URL of the next connection (the resume position included). */
  connectionUrl(): string {
    const url = new URL(this._options.url);
    url.searchParams.set('client', this.clientId);
    url.searchParams.set('received', String(this._received));
    return url.toString();
  }

  /** Open a new connection (closing the current one, which then reports nothing). */
  connect(): void {
    const previous = this._detach();
    if (previous && previous.readyState <= 1) {
      previous.close(1000);
    }
    const Socket = this._options.WebSocket ?? WebSocket;
    const socket = new Socket(this.connectionUrl(), [SUBPROTOCOL]);
    socket.binaryType = 'arraybuffer';
    this._socket = socket;
    this._outputSeen = false;
    this._flow.reset();
    socket.onopen = () => this._onOpen(socket);
    socket.onmessage = (event: MessageEvent) => this._onMessage(event);
    socket.onclose = (event: CloseEvent) => this._onClose(socket, event);
    this._setState('connecting');
  }

  /** Send what the user typed; false when not connected (it is not queued). */
  send(data: string | Uint8Array): boolean {
    if (this._state !== 'open' || data.length === 0) {
      return false;
    }
    return this._sendFrame(encodeInput(data));
  }

  /** Tell the server the terminal's new size (only when it changed). */
  resize(size: ISize): void {
    if (this._state !== 'open') {
      return; // the next handshake carries the size
    }
    const last = this._lastSize;
    if (last && last.columns === size.columns && last.rows === size.rows) {
      return;
    }
    this._lastSize = { ...size };
    this._sendFrame(encodeResize(size));
  }

  /** Close the connection without reporting it (the terminal goes away). */
  close(): void {
    const socket = this._detach();
    if (socket && socket.readyState <= 1) {
      socket.close(1000);
    }
    this._setState('idle');
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this.close();
    Signal.clearData(this);
  }

  private _onOpen(socket: WebSocket): void {
    if (socket !== this._socket) {
      return;
    }
    const size = this._options.size();
    this._lastSize = { ...size };
    socket.send(handshakeFrame(size, this._options.handshake?.()));
    this._opened++;
    this._setState('open');
  }

  private _onMessage(event: MessageEvent): void {
    const message = decodeServerFrame(event.data as ArrayBuffer | string);
    switch (message.type) {
      case 'output':
        this._received += message.data.length;
        if (!this._outputSeen) {
          this._outputSeen = true;
          this._outputStarted.emit(message.data.length);
        }
        this._flow.write(message.data, this._options.sink);
        break;
      case 'title':
        this._title = message.title;
        this._titleChanged.emit(message.title);
        break;
      case 'preferences':
        this._preferencesReceived.emit(message.preferences);
        break;
      case 'unknown':
        break; // ignored, as ttyd does
    }
  }

  private _onClose(socket: WebSocket, event: CloseEvent): void {
    if (socket !== this._socket) {
      return;
    }
    const wasOpen = this._state === 'open';
    this._socket = null;
    this._setState('closed');
    this._closed.emit({
      ...describeClose(event.code, event.reason),
      code: event.code,
      reason: event.reason,
      wasOpen
    });
  }

  private _sendFrame(frame: Uint8Array): boolean {
    const socket = this._socket;
    if (!socket || socket.readyState !== 1) {
      return false;
    }
    socket.send(frame);
    return true;
  }

  /** Forget the current socket (its events are ignored from now on) and return it. */
  private _detach(): WebSocket | null {
    const socket = this._socket;
    if (socket) {
      socket.onopen = null;
      socket.onmessage = null;
      socket.onclose = null;
    }
    this._socket = null;
    return socket;
  }

  private _setState(state: ClientState): void {
    if (this._state !== state) {
      this._state = state;
      this._stateChanged.emit(state);
    }
  }

  private _options: IClientOptions;
  private _flow: FlowControl;
  private _socket: WebSocket | null = null;
  private _state: ClientState = 'idle';
  private _received = 0;
  private _opened = 0;
  private _outputSeen = false;
  private _lastSize: ISize | null = null;
  private _title = '';
  private _disposed = false;
  private _stateChanged = new Signal<this, ClientState>(this);
  private _titleChanged = new Signal<this, string>(this);
  private _preferencesReceived = new Signal<this, Record<string, unknown>>(this);
  private _outputStarted = new Signal<this, number>(this);
  private _closed = new Signal<this, IClosed>(this);
}
