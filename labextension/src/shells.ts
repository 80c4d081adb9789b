/**
 * The user's shells, kept live: from the server's event stream (`GET /cloudtty/api/events`,
 * Server-Sent Events) when it has one, else by polling the list. Either way `changed`
 * fires only when something really changed, so views never flicker.
 */
import { IDisposable } from '@lumino/disposable';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { IServerInfo, IShell, ShellApiError, ShellsApi } from './api';

/** One change from the event stream. */
export interface IShellEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  shell: IShell;
}

/** How the list is kept up to date. */
export type LiveMode = 'starting' | 'events' | 'polling';

/** Order of the list: oldest first, as the server lists them. */
function byCreation(a: IShell, b: IShell): number {
  return a.created < b.created ? -1 : a.created > b.created ? 1 : a.name.localeCompare(b.name);
}

/** The list after applying one event (pure; exported for tests). */
export function applyEvent(shells: readonly IShell[], event: IShellEvent): IShell[] {
  const others = shells.filter(shell => shell.name !== event.shell.name);
  if (event.type === 'DELETED') {
    return others;
  }
  return [...others, event.shell].sort(byCreation);
}

export interface IShellsModelOptions {
  api: ShellsApi;
  /** Polling period when there is no event stream (ms). */
  pollInterval?: number;
  /** EventSource constructor (absent: polling only). */
  EventSource?: typeof EventSource | null;
}

export class ShellsModel implements IDisposable {
  constructor(options: IShellsModelOptions) {
    this.api = options.api;
    this._EventSource =
      options.EventSource === undefined
        ? typeof EventSource === 'undefined'
          ? null
          : EventSource
        : options.EventSource;
    this._poll = new Poll({
      auto: false,
      factory: () => this.refresh(),
      frequency: { interval: options.pollInterval ?? 3000, backoff: true, max: 30000 },
      name: 'jupyter-cloudtty:shells',
      standby: 'when-hidden'
    });
  }

  readonly api: ShellsApi;

  get shells(): readonly IShell[] {
    return this._shells;
  }

  get(name: string): IShell | undefined {
    return this._shells.find(shell => shell.name === name);
  }

  /** Whether the list has been read at least once. */
  get loaded(): boolean {
    return this._loaded;
  }

  /** Why the list could not be read (null once it could). */
  get error(): string | null {
    return this._error;
  }

  get mode(): LiveMode {
    return this._mode;
  }

  /** The server's backend description (null until known, or from an older server). */
  get info(): IServerInfo | null {
    return this._info;
  }

  /** The list, the error, the mode or the info changed. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Start following the server (once). */
  start(): void {
    if (this._started || this._disposed) {
      return;
    }
    this._started = true;
    void this._loadInfo();
    if (this._EventSource) {
      this._openEvents();
    } else {
      this._startPolling();
    }
  }

  /** Read the list now. */
  async refresh(): Promise<void> {
    let shells: IShell[];
    try {
      shells = await this.api.list();
    } catch (error) {
      this._setError(error instanceof Error ? error.message : String(error));
      throw error; // the poll backs off
    }
    this._set(shells, null);
  }

  /** Record a shell the user just created or read (the event stream confirms it later). */
  upsert(shell: IShell): void {
    this._set(applyEvent(this._shells, { type: 'MODIFIED', shell }), this._error);
  }

  /** Forget a shell the user just deleted. */
  remove(name: string): void {
    const shell = this.get(name);
    if (shell) {
      this._set(applyEvent(this._shells, { type: 'DELETED', shell }), this._error);
    }
  }

  /**
   * Delete shells on the server and forget them (a shell already gone counts as deleted). Resolves
   * to the names deleted; what the server refused is thrown, in one Error, after the rest is done.
   */
  async deleteShells(names: readonly string[]): Promise<string[]> {
    const results = await Promise.allSettled(names.map(name => this.api.delete(name)));
    const deleted: string[] = [];
    const refused: string[] = [];
    results.forEach((result, i) => {
      if (
        result.status === 'fulfilled' ||
        (result.reason instanceof ShellApiError && result.reason.status === 404)
      ) {
        deleted.push(names[i]);
        this.remove(names[i]);
      } else {
        refused.push(`${names[i]}: ${(result.reason as Error).message}`);
      }
    });
    if (refused.length) {
      throw new Error(`Cannot delete ${refused.join('; ')}`);
    }
    return deleted;
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._events?.close();
    this._events = null;
    if (this._retryTimer !== undefined) {
      clearTimeout(this._retryTimer);
    }
    this._poll.dispose();
    Signal.clearData(this);
  }

  private _openEvents(): void {
    const Source = this._EventSource;
    if (!Source || this._disposed) {
      return;
    }
    const events = new Source(this.api.eventsUrl());
    this._events = events;
    events.addEventListener('snapshot', (event: MessageEvent<string>) => {
      const shells = parse<IShell[]>(event.data);
      if (shells) {
        this._setMode('events');
        void this._poll.stop();
        this._set(shells, null);
      }
    });
    events.addEventListener('shell', (event: MessageEvent<string>) => {
      const change = parse<IShellEvent>(event.data);
      if (change?.shell?.name) {
        this._set(applyEvent(this._shells, change), null);
      }
    });
    events.onerror = () => {
      if (events.readyState === Source.CLOSED) {
        // No stream here (an older server, a proxy that buffers): poll, and try
        // the stream again later. While the browser reconnects by itself
        // (CONNECTING), the next snapshot brings the list up to date.
        events.close();
        this._events = null;
        this._startPolling();
        this._retryTimer = setTimeout(() => {
          this._retryTimer = undefined;
          this._openEvents();
        }, 60000);
      }
    };
  }

  private _startPolling(): void {
    this._setMode('polling');
    void this._poll.start();
  }

  private async _loadInfo(): Promise<void> {
    try {
      this._info = await this.api.info();
      this._changed.emit();
    } catch {
      // the panel works without it
    }
  }

  private _set(shells: IShell[], error: string | null): void {
    const sorted = [...shells].sort(byCreation);
    const key = JSON.stringify(sorted);
    const changed = key !== this._key || error !== this._error || !this._loaded;
    this._shells = sorted;
    this._key = key;
    this._error = error;
    this._loaded = true;
    if (changed) {
      this._changed.emit();
    }
  }

  private _setError(error: string): void {
    if (error !== this._error) {
      this._error = error;
      this._changed.emit();
    }
  }

  private _setMode(mode: LiveMode): void {
    if (mode !== this._mode) {
      this._mode = mode;
      this._changed.emit();
    }
  }

  private _EventSource: typeof EventSource | null;
  private _events: EventSource | null = null;
  private _poll: Poll;
  private _retryTimer: ReturnType<typeof setTimeout> | undefined;
  private _shells: IShell[] = [];
  private _key = '[]';
  private _loaded = false;
  private _error: string | null = null;
  private _mode: LiveMode = 'starting';
  private _info: IServerInfo | null = null;
  private _started = false;
  private _disposed = false;
  private _changed = new Signal<this, void>(this);
}

function parse<T>(data: string): T | null {
  try {
    return JSON.parse(data) as T;
  } catch {
    return null;
  }
}
