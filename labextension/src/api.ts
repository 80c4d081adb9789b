/**
 * The server extension's REST API (`/cloudtty/api/...`), through JupyterLab's
 * ServerConnection (which adds the XSRF header or the token), and the URLs of its
 * terminal WebSocket and event stream.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export const API_PATH = 'cloudtty/api';

/** A CloudShell spec, as the server takes it (its fields are CloudTTY's). */
export interface IShellSpec {
  commandAction?: string;
  ttlSecondsAfterStarted?: number;
  ttl?: number;
  once?: boolean;
  cleanup?: boolean;
  /** The shell ends after this long with no input and no output (absent or 0: never idle-ended). */
  idleTimeoutSeconds?: number;
  [field: string]: unknown;
}

export interface ICondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

export interface IShellStatus {
  phase?: string;
  accessUrl?: string;
  lastScheduleTime?: string;
  conditions?: ICondition[];
  /** Where the operator keeps a warm pool: "Pool" (a ready pod of it) or "Cold" (a new pod). */
  start?: string;
  /** The pod that serves the shell, and how many times a lost one was replaced (the operator's). */
  podName?: string;
  restarts?: number;
}

/** A shell as `GET /cloudtty/api/shells/{name}` answers it. */
export interface IShell {
  name: string;
  created: string;
  spec: IShellSpec;
  status: IShellStatus;
  /** Whether its sessions are recorded (asciicast files the panel's "Recordings" lists). */
  record?: boolean;
}

/** `GET /cloudtty/api/info`. */
export interface IServerInfo {
  backend: string;
  /** Why this backend (the server's words). */
  reason?: string;
  version?: string;
  identity?: string;
  namespace?: string | null;
  apiServer?: string;
  /** The administrator's recording policy: off, optional (the user chooses), required. */
  recording?: { mode: 'off' | 'optional' | 'required'; input: boolean };
}

/** An error answer; `message` is the server's own `{"message": ...}` when it sent one. */
export class ShellApiError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
    this.name = 'ShellApiError';
  }
}

/** Phases after which a shell runs no more. */
export function hasEnded(shell: IShell): boolean {
  const phase = shell.status?.phase;
  return phase === 'Complete' || phase === 'Failed';
}

/** The shell's lifetime in seconds, if it has one (the newer field wins, as on the server). */
export function ttlSeconds(shell: IShell): number | null {
  const ttl = shell.spec?.ttlSecondsAfterStarted ?? shell.spec?.ttl;
  return typeof ttl === 'number' && ttl > 0 ? ttl : null;
}

/** When the shell's lifetime began: its TTL counts from here (`lastScheduleTime`, else its creation). */
export function startedAt(shell: IShell): number {
  const scheduled = Date.parse(shell.status?.lastScheduleTime ?? '');
  return Number.isFinite(scheduled) ? scheduled : Date.parse(shell.created);
}

/**
 * The `ttlSecondsAfterStarted` that gives a shell `seconds` more: its TTL plus them, or, for a
 * shell without one, its age plus them (the TTL is a whole lifetime, not the time left).
 */
export function extendedTtl(shell: IShell, seconds: number, now: number = Date.now()): number {
  const ttl = ttlSeconds(shell);
  if (ttl !== null) {
    return ttl + seconds;
  }
  const age = Math.ceil((now - startedAt(shell)) / 1000);
  return (Number.isFinite(age) ? Math.max(0, age) : 0) + seconds;
}

/** The shell's idle rule in seconds, if it has one. */
export function idleTimeoutSeconds(shell: IShell): number | null {
  const idle = shell.spec?.idleTimeoutSeconds;
  return typeof idle === 'number' && idle > 0 ? idle : null;
}

/** The `Restarted` condition of a shell whose pod was replaced, if it is True. */
export function restartedCondition(shell: IShell): ICondition | null {
  return shell.status?.conditions?.find(c => c.type === 'Restarted' && c.status === 'True') ?? null;
}

/** The `Ready` condition of a shell that ended because it was idle (reason `IdleTimeout`). */
export function idleEnding(shell: IShell): ICondition | null {
  if (!hasEnded(shell)) {
    return null;
  }
  return (
    shell.status?.conditions?.find(c => c.type === 'Ready' && c.reason === 'IdleTimeout') ?? null
  );
}

export class ShellsApi {
  constructor(readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()) {}

  async list(): Promise<IShell[]> {
    return (await this._request('shells')) as IShell[];
  }

  /** One shell, or null when the server does not know it (404). */
  async get(name: string): Promise<IShell | null> {
    try {
      return (await this._request(`shells/${encodeURIComponent(name)}`)) as IShell;
    } catch (error) {
      if (error instanceof ShellApiError && error.status === 404) {
        return null;
      }
      throw error;
    }
  }

  async create(request: { name?: string; spec?: IShellSpec; record?: boolean }): Promise<IShell> {
    return (await this._request('shells', {
      method: 'POST',
      body: JSON.stringify(request)
    })) as IShell;
  }

  /**
   * Change a running shell's spec (`PATCH`): only `ttlSecondsAfterStarted` may change; the server
   * refuses anything else, and a TTL over its `max_ttl`, with a ShellApiError saying so.
   */
  async patch(name: string, spec: IShellSpec): Promise<IShell> {
    return (await this._request(`shells/${encodeURIComponent(name)}`, {
      method: 'PATCH',
      body: JSON.stringify({ spec })
    })) as IShell;
  }

  /** Give a shell `seconds` more to live; resolves to the shell with its new TTL. */
  async extend(shell: IShell, seconds: number): Promise<IShell> {
    return this.patch(shell.name, { ttlSecondsAfterStarted: extendedTtl(shell, seconds) });
  }

  async delete(name: string): Promise<void> {
    await this._request(`shells/${encodeURIComponent(name)}`, { method: 'DELETE' });
  }

  /** The backend's description, or null from a server that does not have the route yet. */
  async info(): Promise<IServerInfo | null> {
    try {
      return (await this._request('info')) as IServerInfo;
    } catch (error) {
      if (error instanceof ShellApiError && error.status === 404) {
        return null;
      }
      throw error;
    }
  }

  /** `ws(s)://…/cloudtty/api/shells/{name}/terminal`, with the token when the settings have one. */
  terminalUrl(name: string): string {
    const url = URLExt.join(
      this.settings.wsUrl,
      API_PATH,
      'shells',
      encodeURIComponent(name),
      'terminal'
    );
    return this._withToken(url, this.settings.appendToken);
  }

  /** The event stream's URL (EventSource cannot send headers: the token goes in the query). */
  eventsUrl(): string {
    return this._withToken(URLExt.join(this.settings.baseUrl, API_PATH, 'events'), true);
  }

  private _withToken(url: string, append: boolean): string {
    const token = this.settings.token;
    if (!token || !append) {
      return url;
    }
    return url + (url.includes('?') ? '&' : '?') + `token=${encodeURIComponent(token)}`;
  }

  private async _request(path: string, init: RequestInit = {}): Promise<unknown> {
    const url = URLExt.join(this.settings.baseUrl, API_PATH, path);
    const response = await ServerConnection.makeRequest(url, init, this.settings);
    const text = await response.text();
    if (!response.ok) {
      throw new ShellApiError(errorMessage(text, response), response.status);
    }
    return text ? (JSON.parse(text) as unknown) : null;
  }
}

/** The server's `{"message": ...}`, else its HTTP status. */
export function errorMessage(text: string, response: Response): string {
  try {
    const body = JSON.parse(text) as { message?: unknown };
    if (typeof body.message === 'string' && body.message) {
      return body.message;
    }
  } catch {
    // not JSON: an HTML error page or nothing
  }
  return `${response.status} ${response.statusText || 'error'}`.trim();
}
