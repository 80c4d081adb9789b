/**
 * trzsz in a terminal tab: npm's `TrzszFilter` between xterm.js and our ttyd client, so that `trz`
 * opens the browser's file picker, `tsz` saves into a browser folder (when downloads go to the
 * browser) and files dropped from the desktop are uploaded into the shell's current directory.
 *
 * The filter looks at every output chunk it is given: it schedules a timer per chunk and, for each
 * `:` in it, copies 16 bytes to compare them with its trigger. On output full of colons (JSON, logs,
 * `ls -l` times) that caps a terminal near 45 MB/s of CPU. So output reaches the filter only when a
 * transfer runs, an upload is starting, or the chunk holds the trigger's prefix, which a search that
 * allocates nothing finds at several GB/s; anything else goes straight to the terminal. The filter
 * itself looks for its trigger one chunk at a time, so a chunk boundary hides it from both alike.
 */
import type { TrzszFilter } from 'trzsz';

/** The start of the line `trz`/`tsz` print to ask the terminal for a transfer. */
export const TRIGGER_PREFIX = '::TRZSZ:TRANSFER:';

const PREFIX = new TextEncoder().encode(TRIGGER_PREFIX);
/** Horspool's table: how far the search may jump when a byte is seen at the pattern's last position. */
const SKIP = (() => {
  const skip = new Uint8Array(256).fill(PREFIX.length);
  for (let k = 0; k < PREFIX.length - 1; k++) {
    skip[PREFIX[k]] = PREFIX.length - 1 - k;
  }
  return skip;
})();

/** Whether output holds trzsz's trigger prefix (Boyer-Moore-Horspool: no allocation, mostly skipping). */
export function hasTrigger(bytes: Uint8Array): boolean {
  const last = PREFIX.length - 1;
  for (let i = 0; i + last < bytes.length; i += SKIP[bytes[i + last]]) {
    let k = last;
    while (k >= 0 && bytes[i + k] === PREFIX[k]) {
      k--;
    }
    if (k < 0) {
      return true;
    }
  }
  return false;
}

type FilterClass = typeof TrzszFilter;
let trzszModule: Promise<FilterClass> | null = null;

/** npm's trzsz, loaded with the terminal's code (a chunk of its own: JupyterLab starts without it). */
export function loadTrzsz(): Promise<FilterClass> {
  trzszModule ??= import('trzsz').then(
    module => module.TrzszFilter,
    error => {
      trzszModule = null; // a failed chunk is asked for again next time
      throw error;
    }
  );
  return trzszModule;
}

export namespace TrzszLink {
  export interface IOptions {
    /** The filter's class (from `loadTrzsz()`). */
    Filter: FilterClass;
    /** Write to xterm.js; `callback` once it has processed the data (flow control). */
    write: (data: string | Uint8Array, callback?: () => void) => void;
    /** Type into the shell (our ttyd client's input). */
    send: (data: string | Uint8Array) => void;
    columns: number;
    /**
     * Where `tsz` saves and what `trz` sends outside a browser (the filter's Node.js mode: the unit
     * tests); in a browser the filter asks the user with the browser's own pickers.
     */
    chooseSaveDirectory?: () => Promise<string | undefined>;
    chooseSendFiles?: (directory?: boolean) => Promise<string[] | undefined>;
  }
}

/** One terminal's trzsz filter, with output passed by it only when it has something to do with it. */
export class TrzszLink {
  constructor(options: TrzszLink.IOptions) {
    this._write = options.write;
    this._filter = new options.Filter({
      writeToTerminal: output => this._writeFromFilter(output),
      sendToServer: input => options.send(input),
      terminalColumns: options.columns,
      chooseSendFiles: options.chooseSendFiles ?? (() => Promise.resolve(undefined)),
      chooseSaveDirectory: options.chooseSaveDirectory ?? (() => Promise.resolve(undefined))
    });
  }

  /** Whether files are going through the terminal now. */
  get transferring(): boolean {
    return this._filter.isTransferringFiles();
  }

  /**
   * Output from the shell, on its way to the terminal. `callback` (flow control) runs once the
   * terminal has processed it, or at once when a transfer takes the data instead.
   */
  output(data: Uint8Array, callback?: () => void): void {
    if (this._replay) {
      this._replay = false;
      this._write(data, callback);
      return;
    }
    if (!this._filter.isTransferringFiles() && this._uploads === 0 && !hasTrigger(data)) {
      this._write(data, callback);
      return;
    }
    this._callback = callback;
    this._filter.processServerOutput(data);
    const untaken = this._callback;
    this._callback = undefined;
    untaken?.(); // the transfer took the data: nothing for the terminal to process
  }

  /**
   * The next output is the replay of a new connection (our server sends what this client has not
   * seen in its first frame): written, never answered. A trigger in it belongs to a `trz`/`tsz`
   * that is waiting no longer, and answering it would type the protocol's reply at the prompt.
   */
  replayNext(): void {
    this._replay = true;
  }

  /** What the user typed (Ctrl+C stops a transfer; other typing waits until it ends). */
  input(data: string): void {
    this._filter.processTerminalInput(data);
  }

  /** xterm.js's binary input (mouse reports), as one byte per character. */
  binaryInput(data: string): void {
    this._filter.processBinaryInput(data);
  }

  resize(columns: number): void {
    this._filter.setTerminalColumns(columns);
  }

  /**
   * Upload files dropped from the desktop: the filter types `trz` into the shell and answers it.
   * Call it in the drop event's handler itself: the browser empties `items` once the handler returns.
   */
  async uploadFiles(items: DataTransferItemList): Promise<void> {
    this._uploads++;
    try {
      await this._filter.uploadFiles(items);
    } finally {
      this._uploads--;
    }
  }

  /** The connection went away: a transfer on it cannot go on. */
  stop(): void {
    this._filter.stopTransferringFiles();
  }

  private _writeFromFilter(output: string | ArrayBuffer | Uint8Array | Blob): void {
    const callback = this._callback;
    this._callback = undefined;
    if (typeof output === 'string' || output instanceof Uint8Array) {
      this._write(output, callback);
    } else if (output instanceof ArrayBuffer) {
      this._write(new Uint8Array(output), callback);
    } else {
      callback?.(); // a Blob: only when given one, and this class never gives one
    }
  }

  private _filter: TrzszFilter;
  private _write: TrzszLink.IOptions['write'];
  private _callback: (() => void) | undefined;
  private _replay = false;
  private _uploads = 0;
}
