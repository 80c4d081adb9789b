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
}

/** A shell as `GET /cloudtty/api/shells/{name}` answers it. */
export interface IShell {
  name: string;
  created: string;
  spec: IShellSpec;
  status: IShellStatus;
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

  async create(request: { name?: string; spec?: IShellSpec }): Promise<IShell> {
    return (await this._request('shells', {
      method: 'POST',
      body: JSON.stringify(request)
    })) as IShell;
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
function errorMessage(text: string, response: Response): string {
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
