/**
 * Files between JupyterLab and a shell through the server (`POST /cloudtty/api/shells/{name}/transfers`):
 * the request, its NDJSON stream of progress read as it arrives, the words a user sees for each
 * step, and where they see them (a strip in the terminal tab, or a notification).
 *
 * The server runs the transfer through the shell's own terminal (trzsz), so these work the same for
 * a local shell and a pod. Drops from the desktop and `trz`/`tsz` in a browser tab go through the
 * tab's own trzsz filter instead (trzsz.ts).
 */
import { PathExt, URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { API_PATH, errorMessage } from './api';
import { formatBytes } from './sizes';

/** What JupyterLab's file browser puts in a Lumino drag: the dragged items' paths. */
export const CONTENTS_MIME = 'application/x-jupyter-icontents';

/** A file a transfer wrote, as the server reports it. */
export interface ITransferredFile {
  name: string;
  /** Where a download is, relative to the Jupyter root; null for an upload (the shell's is not known). */
  path: string | null;
  size: number;
  /** Of a file (null for a folder). */
  sha256: string | null;
}

/** One line of the server's stream. */
export type TransferEvent =
  | { event: 'start'; files: string[]; total: number | null }
  | { event: 'progress'; file: string; bytes: number; total: number | null }
  | { event: 'done'; files: ITransferredFile[]; bytes: number; seconds: number }
  | { event: 'error'; status: number; message: string };

export type TransferDone = Extract<TransferEvent, { event: 'done' }>;

/** The request's body. */
export type TransferRequest =
  | { direction: 'upload'; paths: string[]; to?: string }
  | { direction: 'download'; remote: string[]; to?: string };

/** A transfer that did not finish: refused, failed in the shell, cut off, or cancelled. */
export class TransferError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly cancelled = false
  ) {
    super(message);
    this.name = 'TransferError';
  }
}

/** NDJSON as it arrives: bytes in, complete lines out (a line or a character may span chunks). */
export class NdjsonLines {
  /** The complete lines in `chunk` and before it (blank lines skipped). */
  push(chunk: Uint8Array | string): string[] {
    this._text += typeof chunk === 'string' ? chunk : this._decoder.decode(chunk, { stream: true });
    const end = this._text.lastIndexOf('\n');
    if (end < 0) {
      return [];
    }
    const lines = this._text.slice(0, end).split('\n');
    this._text = this._text.slice(end + 1);
    return lines.map(line => line.trim()).filter(line => line !== '');
  }

  /** What is left at the end of the stream: a last line without its newline, if any. */
  end(): string[] {
    const rest = (this._text + this._decoder.decode()).trim();
    this._text = '';
    return rest ? [rest] : [];
  }

  private _decoder = new TextDecoder();
  private _text = '';
}

const isNumber = (value: unknown): value is number =>
  typeof value === 'number' && Number.isFinite(value);
const isString = (value: unknown): value is string => typeof value === 'string';

/**
 * One line of the stream as an event, or null for a line that is not one we know (a newer
 * server's event, or not JSON): the stream goes on without it.
 */
export function parseTransferEvent(line: string): TransferEvent | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return null;
  }
  const o = value as Record<string, unknown>;
  const total = isNumber(o.total) ? o.total : null;
  switch (o.event) {
    case 'start':
      return {
        event: 'start',
        files: Array.isArray(o.files) ? o.files.filter(isString) : [],
        total
      };
    case 'progress':
      return {
        event: 'progress',
        file: isString(o.file) ? o.file : '',
        bytes: isNumber(o.bytes) ? o.bytes : 0,
        total
      };
    case 'done':
      return {
        event: 'done',
        files: Array.isArray(o.files)
          ? o.files
              .filter(isFile)
              .map(f => ({ ...f, path: f.path ?? null, sha256: f.sha256 ?? null }))
          : [],
        bytes: isNumber(o.bytes) ? o.bytes : 0,
        seconds: isNumber(o.seconds) ? o.seconds : 0
      };
    case 'error':
      return {
        event: 'error',
        status: isNumber(o.status) ? o.status : 500,
        message: isString(o.message) && o.message ? o.message : 'The transfer failed.'
      };
    default:
      return null;
  }
}

function isFile(value: unknown): value is ITransferredFile {
  if (value === null || typeof value !== 'object') {
    return false;
  }
  const f = value as Record<string, unknown>;
  const stringOrNull = (v: unknown) => v === null || v === undefined || isString(v);
  return isString(f.name) && isNumber(f.size) && stringOrNull(f.path) && stringOrNull(f.sha256);
}

/**
 * The Jupyter paths a Lumino drag from the file browser carries (its `CONTENTS_MIME` data: the
 * dragged items' paths), as the REST API takes them: without a drive prefix (`localPath`, the
 * contents manager's, strips the drives it knows) and without leading slashes. Anything else in
 * the data is left out.
 */
export function draggedPaths(
  data: unknown,
  localPath: (path: string) => string = path => path
): string[] {
  const items = Array.isArray(data) ? data : [data];
  return items
    .filter(isString)
    .map(path => PathExt.removeSlash(localPath(path)))
    .filter(path => path !== '');
}

/**
 * JupyterLab's way from a file browser path to the server's (the contents manager's `localPath`),
 * set at activation (index.ts): terminals are made in several places (tabs, notebooks' outputs).
 */
export const jupyterPaths = { local: (path: string): string => path };

/** Whether a native drag carries files (from the desktop). */
export function hasDesktopFiles(dataTransfer: DataTransfer | null): boolean {
  return !!dataTransfer && Array.from(dataTransfer.types).includes('Files');
}

/** `a.bin`, `a.bin and b.csv`, `a.bin and 2 more`. */
export function fileList(names: string[]): string {
  const base = names.map(name => PathExt.basename(name) || name);
  if (base.length <= 1) {
    return base[0] ?? 'files';
  }
  if (base.length === 2) {
    return `${base[0]} and ${base[1]}`;
  }
  return `${base[0]} and ${base.length - 1} more`;
}

/** The words for each step of a transfer: one line, as the tab strip and the notification show it. */
export class TransferText {
  constructor(
    readonly request: TransferRequest,
    readonly shell: string
  ) {}

  get upload(): boolean {
    return this.request.direction === 'upload';
  }

  /** Before the server answers. */
  starting(): string {
    const names = this.request.direction === 'upload' ? this.request.paths : this.request.remote;
    return this.upload
      ? `Uploading ${fileList(names)} to ${this.shell}…`
      : `Downloading ${fileList(names)} from ${this.shell}…`;
  }

  /** A `start` or `progress` event, and how far along it is (null: unknown). */
  progress(event: TransferEvent, names: string[]): { text: string; fraction: number | null } {
    const verb = this.upload ? 'Uploading' : 'Downloading';
    if (event.event === 'start') {
      const size = event.total !== null ? ` (${formatBytes(event.total)})` : '';
      return { text: `${verb} ${fileList(event.files)}${size}…`, fraction: 0 };
    }
    if (event.event === 'progress') {
      const what = event.file ? PathExt.basename(event.file) : fileList(names);
      const of = event.total !== null ? ` of ${formatBytes(event.total)}` : '';
      const fraction = event.total ? Math.min(1, event.bytes / event.total) : null;
      return { text: `${verb} ${what}: ${formatBytes(event.bytes)}${of}`, fraction };
    }
    return { text: this.starting(), fraction: null };
  }

  /** The end: what was written where. */
  done(event: TransferDone): string {
    const names = event.files.map(file => file.name);
    const size = formatBytes(event.bytes);
    if (this.upload) {
      const where = (event.files.length === 1 && event.files[0].path) || this.request.to;
      return `Uploaded ${fileList(names)} (${size}) to ${this.shell}${where ? `: ${where}` : ''}`;
    }
    const where =
      (event.files.length === 1 && event.files[0].path) ||
      (this.request.to ? `${this.request.to}/` : 'the Jupyter folder');
    return `Downloaded ${fileList(names)} (${size}) from ${this.shell} to ${where}`;
  }

  failed(error: TransferError): string {
    if (error.cancelled) {
      return this.upload ? 'Upload cancelled.' : 'Download cancelled.';
    }
    return `${this.upload ? 'Upload' : 'Download'} failed: ${error.message}`;
  }
}

/**
 * Run a transfer: POST the request, then read its stream, reporting each event, until `done`
 * (returned) or `error` (thrown as a TransferError, as are a refusal, a cut stream and `signal`'s
 * abort: the server cancels the transfer when the request goes away).
 */
export async function runTransfer(
  settings: ServerConnection.ISettings,
  shell: string,
  request: TransferRequest,
  onEvent: (event: TransferEvent) => void = () => undefined,
  signal?: AbortSignal
): Promise<TransferDone> {
  const url = URLExt.join(
    settings.baseUrl,
    API_PATH,
    'shells',
    encodeURIComponent(shell),
    'transfers'
  );
  const cancelled = () => new TransferError('cancelled', 0, true);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(
      url,
      { method: 'POST', body: JSON.stringify(request), signal },
      settings
    );
  } catch (error) {
    if (signal?.aborted) {
      throw cancelled();
    }
    throw new TransferError(`The Jupyter server cannot be reached (${String(error)}).`, 0);
  }
  if (!response.ok) {
    throw new TransferError(errorMessage(await response.text(), response), response.status);
  }
  if (!response.body) {
    throw new TransferError('The server sent no progress stream.', response.status);
  }
  const reader = response.body.getReader();
  const lines = new NdjsonLines();
  const handle = (line: string): TransferDone | null => {
    const event = parseTransferEvent(line);
    if (!event) {
      return null;
    }
    onEvent(event);
    if (event.event === 'error') {
      throw new TransferError(event.message, event.status);
    }
    return event.event === 'done' ? event : null;
  };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      for (const line of done ? lines.end() : lines.push(value)) {
        const result = handle(line);
        if (result) {
          return result;
        }
      }
      if (done) {
        throw new TransferError(
          'The transfer ended without a result: the connection to the server was lost.',
          0
        );
      }
    }
  } catch (error) {
    if (signal?.aborted) {
      throw cancelled();
    }
    if (error instanceof TransferError) {
      throw error;
    }
    throw new TransferError(`The connection to the server was lost (${String(error)}).`, 0);
  } finally {
    void reader.cancel().catch(() => undefined);
  }
}

/** Where a transfer's steps are shown. */
export interface ITransferView {
  /** A transfer begins; `cancel` stops it (the view offers it while it runs). */
  started(text: string, cancel: () => void): void;
  progress(text: string, fraction: number | null): void;
  finished(text: string): void;
  failed(text: string): void;
}

/** Run a transfer shown in `view`; resolves with its result, or null when it failed (the view said why). */
export async function showTransfer(
  settings: ServerConnection.ISettings,
  shell: string,
  request: TransferRequest,
  view: ITransferView
): Promise<TransferDone | null> {
  const text = new TransferText(request, shell);
  const abort = new AbortController();
  let names: string[] = [];
  view.started(text.starting(), () => abort.abort());
  try {
    const done = await runTransfer(
      settings,
      shell,
      request,
      event => {
        if (event.event === 'start') {
          names = event.files;
        }
        if (event.event === 'start' || event.event === 'progress') {
          const { text: line, fraction } = text.progress(event, names);
          view.progress(line, fraction);
        }
      },
      abort.signal
    );
    view.finished(text.done(done));
    return done;
  } catch (error) {
    const failure =
      error instanceof TransferError ? error : new TransferError(String(error), 0, false);
    view.failed(text.failed(failure));
    return null;
  }
}

/**
 * A transfer's strip in a terminal tab, over the terminal's top right corner (never over the
 * prompt): the step in words, a progress bar and Cancel while it runs; the result or the error,
 * and Dismiss, once it ends. A result goes away by itself after a while; an error stays until
 * dismissed. `data-state` is `running`, `done` or `error`.
 */
export class TransferStrip implements ITransferView {
  constructor() {
    this.node = document.createElement('div');
    this.node.className = 'jp-CloudTTY-transfer';
    this.node.hidden = true;
    this._text = document.createElement('span');
    this._text.className = 'jp-CloudTTY-transfer-message';
    this._bar = document.createElement('progress');
    this._bar.className = 'jp-CloudTTY-transfer-progress';
    this._bar.max = 1;
    this._button = document.createElement('button');
    this._button.className = 'jp-Button jp-mod-styled jp-mod-reject';
    this._button.addEventListener('click', () => this._onButton());
    this.node.append(this._text, this._bar, this._button);
  }

  readonly node: HTMLDivElement;

  /** Whether a transfer shown here is still running. */
  get running(): boolean {
    return this.node.dataset.state === 'running';
  }

  started(text: string, cancel: () => void): void {
    this._cancel = cancel;
    this._show('running', text, 'status');
    this._button.textContent = 'Cancel';
    this._button.disabled = false;
    this._bar.hidden = false;
    this._bar.removeAttribute('value'); // indeterminate until the first progress
  }

  progress(text: string, fraction: number | null): void {
    this._text.textContent = text;
    if (fraction === null) {
      this._bar.removeAttribute('value');
    } else {
      this._bar.value = fraction;
    }
  }

  finished(text: string): void {
    this._end('done', text, 'status');
    this._timer = setTimeout(() => this.hide(), DONE_SHOWN_MS);
  }

  failed(text: string): void {
    this._end('error', text, 'alert');
  }

  hide(): void {
    clearTimeout(this._timer);
    this._cancel = null;
    this.node.hidden = true;
    delete this.node.dataset.state;
  }

  private _end(state: 'done' | 'error', text: string, role: string): void {
    this._cancel = null;
    this._show(state, text, role);
    this._bar.hidden = true;
    this._button.textContent = 'Dismiss';
    this._button.disabled = false;
  }

  private _show(state: string, text: string, role: string): void {
    clearTimeout(this._timer);
    this.node.dataset.state = state;
    this.node.setAttribute('role', role);
    this.node.className = `jp-CloudTTY-transfer jp-CloudTTY-transfer-${state}`;
    this._text.textContent = text;
    this.node.hidden = false;
  }

  private _onButton(): void {
    if (this._cancel) {
      this._cancel();
      this._button.disabled = true; // until the server's answer to the cancel ends the transfer
      return;
    }
    this.hide();
  }

  private _text: HTMLSpanElement;
  private _bar: HTMLProgressElement;
  private _button: HTMLButtonElement;
  private _cancel: (() => void) | null = null;
  private _timer: ReturnType<typeof setTimeout> | undefined;
}

/** How long a transfer's result stays in its tab. */
const DONE_SHOWN_MS = 10000;
