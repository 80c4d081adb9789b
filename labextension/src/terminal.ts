/**
 * A terminal tab: xterm.js (fit, web-links and search addons; WebGL when the browser has
 * it) on one shell's ttyd connection, with a banner that says when the shell ended or the
 * connection dropped, and reconnects. Files move through it: trzsz's filter sits between
 * xterm.js and the connection (`trz`, `tsz`, drops from the desktop), and drops from
 * JupyterLab's file browser become the server's transfers, shown in a strip over the terminal.
 */
import { Clipboard } from '@jupyterlab/apputils';
import { Platform } from '@lumino/domutils';
import { Message } from '@lumino/messaging';
import { ISignal, Signal } from '@lumino/signaling';
import type { Drag } from '@lumino/dragdrop';
import { Widget } from '@lumino/widgets';
import type { FitAddon } from '@xterm/addon-fit';
import type { SearchAddon } from '@xterm/addon-search';
import type { WebglAddon } from '@xterm/addon-webgl';
import type { ITerminalOptions, ITheme, Terminal } from '@xterm/xterm';

import { IShell, IShellSpec, ShellApiError, ShellsApi, restartedCondition } from './api';
import { IClosed, TtydClient, WebSocketConstructor, reconnectDelay } from './client';
import { ISize, isFailure } from './protocol';
import { estimateSize } from './sizing';
import { startingBanner } from './start';
import { jupyterLabFont, jupyterLabTheme } from './theme';
import {
  CONTENTS_MIME,
  TransferDone,
  TransferRequest,
  TransferStrip,
  draggedPaths,
  hasDesktopFiles,
  jupyterPaths,
  showTransfer
} from './transfers';
import { EndWord, endingOf, tabTitle } from './titles';
import { TrzszLink, loadTrzsz } from './trzsz';

/** The user's settings that shape a terminal. */
export interface ITerminalSettings {
  /** Font size in pixels; null: JupyterLab's code font size. */
  fontSize: number | null;
  scrollback: number;
  /**
   * Where a `tsz` typed in the terminal saves: the Jupyter server's folder (the default) or the
   * browser's. Sent in each connection's handshake, so a change applies from the next connection.
   */
  downloadsTo?: 'jupyter' | 'browser';
}

/**
 * `starting`: no connection yet; `open`: connected; `reconnecting`: the connection dropped
 * and another is coming; `ended`: the shell is over; `gone`: the server no longer knows
 * the shell; `failed`: the server refused the terminal and only the user can retry.
 */
export type ConnectionState = 'starting' | 'open' | 'reconnecting' | 'ended' | 'gone' | 'failed';

interface IXterm {
  Terminal: typeof Terminal;
  FitAddon: typeof FitAddon;
  SearchAddon: typeof SearchAddon;
  WebLinksAddon: typeof import('@xterm/addon-web-links').WebLinksAddon;
  WebglAddon: typeof WebglAddon;
}

let xtermModules: Promise<IXterm> | null = null;
let nextTerminalId = 0;

/** xterm.js and its addons, loaded on first use (a separate chunk: JupyterLab starts without it). */
export function loadXterm(): Promise<IXterm> {
  xtermModules ??= Promise.all([
    import('@xterm/xterm'),
    import('@xterm/addon-fit'),
    import('@xterm/addon-search'),
    import('@xterm/addon-web-links'),
    import('@xterm/addon-webgl')
  ]).then(
    ([xterm, fit, search, links, webgl]) => ({
      Terminal: xterm.Terminal,
      FitAddon: fit.FitAddon,
      SearchAddon: search.SearchAddon,
      WebLinksAddon: links.WebLinksAddon,
      WebglAddon: webgl.WebglAddon
    }),
    error => {
      xtermModules = null; // a failed chunk is asked for again next time
      throw error;
    }
  );
  return xtermModules;
}

/** Preferences (ttyd's `-t key=value`) that are xterm.js options safe to apply at any time. */
const XTERM_PREFERENCES = new Set([
  'altClickMovesCursor',
  'convertEol',
  'cursorBlink',
  'cursorInactiveStyle',
  'cursorStyle',
  'cursorWidth',
  'customGlyphs',
  'drawBoldTextInBrightColors',
  'fastScrollSensitivity',
  'fontFamily',
  'fontSize',
  'fontWeight',
  'fontWeightBold',
  'letterSpacing',
  'lineHeight',
  'macOptionClickForcesSelection',
  'macOptionIsMeta',
  'minimumContrastRatio',
  'rightClickSelectsWord',
  'screenReaderMode',
  'scrollback',
  'scrollOnUserInput',
  'scrollSensitivity',
  'smoothScrollDuration',
  'tabStopWidth',
  'theme',
  'wordSeparator'
]);

/** At most this much output waits for xterm.js to load (see `_keepEarly`). */
const EARLY_LIMIT = 4 * 1024 * 1024;

/** The drag events a terminal listens to: the browser's (files from the desktop) and Lumino's. */
const DROP_EVENTS = [
  'dragenter',
  'dragover',
  'dragleave',
  'drop',
  'lm-dragenter',
  'lm-dragover',
  'lm-dragleave',
  'lm-drop'
];

interface IAction {
  label: string;
  run: () => void;
  accept?: boolean;
}

export namespace ShellTerminal {
  export interface IOptions {
    name: string;
    api: ShellsApi;
    settings: ITerminalSettings;
    /** The shell as last read, if known (its spec makes "Start a new one like it" possible). */
    shell?: IShell | null;
    /** Creates a shell with this spec (and records it where the app keeps shells). */
    createShell?: (spec: IShellSpec) => Promise<IShell>;
    /** The shell as the live list knows it now (its phase, how it starts), and when that changes. */
    live?: (name: string) => IShell | undefined;
    liveChanged?: ISignal<unknown, void>;
    /** Whether it is a tab the user may close (default); false in a notebook's output. */
    closable?: boolean;
    WebSocket?: WebSocketConstructor;
  }
}

export class ShellTerminal extends Widget {
  constructor(options: ShellTerminal.IOptions) {
    super();
    this._options = options;
    this._name = options.name;
    this._shell = options.shell ?? null;
    this._settings = { ...options.settings };
    this.id = `jp-CloudTTY-terminal-${nextTerminalId++}`;
    this.addClass('jp-CloudTTY-terminal');
    this.node.dataset.shellName = this._name;

    this._banner = document.createElement('div');
    this._banner.className = 'jp-CloudTTY-banner';
    this._banner.setAttribute('role', 'status');
    this._banner.hidden = true;
    this._host = document.createElement('div');
    this._host.className = 'jp-CloudTTY-xterm';
    this._host.append(this._strip.node); // over the terminal: showing it resizes nothing
    this.node.append(this._banner, this._host);
    for (const type of DROP_EVENTS) {
      this.node.addEventListener(type, this);
    }

    this._client = this._newClient();
    options.liveChanged?.connect(this._onLiveChanged);
    this._endedFromStatus(options.live?.(this._name) ?? this._shell);
    this._noteRestarts(options.live?.(this._name) ?? this._shell);
    this._updateTitle();
    this._ready = this._load();
  }

  /**
   * Load xterm.js and the trzsz filter, then make the terminal. Where their code cannot be fetched
   * (the server or the network failing), say so, with a retry: the connection, if made, waits.
   */
  private _load(): Promise<void> {
    return Promise.all([loadXterm(), loadTrzsz()]).then(
      ([modules, Filter]) => {
        if (!this.isDisposed) {
          if (this._bannerIsLoading) {
            this._hideBanner();
          }
          this._createTerminal(modules, Filter);
        }
      },
      (error: unknown) => {
        if (this.isDisposed) {
          return;
        }
        const why = error instanceof Error ? error.message : String(error);
        if (this._state === 'ended' || this._state === 'gone') {
          return; // its banner, how the shell ended, matters more
        }
        this._showBanner('error', `The terminal's code could not be loaded (${why}).`, [
          {
            label: 'Try again',
            run: () => {
              this._showBanner('info', 'Loading the terminal…', []);
              this._bannerIsLoading = true;
              this._ready = this._load();
            },
            accept: true
          }
        ]);
        this._bannerIsLoading = true;
      }
    );
  }

  /** The shell this terminal shows. */
  get shellName(): string {
    return this._name;
  }

  /**
   * What the tab's label says after the shell's name: the command or the program's title, or how
   * the shell ended ('' while nothing more is known). The label is `name — subtitle`.
   */
  get subtitle(): string {
    return this._subtitle;
  }

  /** The window title the server sent (ttyd's `command (host)`), or the one restored with the tab. */
  get serverTitle(): string {
    return this._client.title || this._restoredTitle;
  }

  /**
   * The server's window title as this tab had it before a reload: its label says it until the
   * server sends it again, so a restored tab not yet shown reads as it did.
   */
  restoreTitle(title: string): void {
    this._restoredTitle = title;
    this._updateTitle();
  }

  /** Resolves once xterm.js is loaded and the terminal exists. */
  get ready(): Promise<void> {
    return this._ready;
  }

  /** The xterm.js terminal (null until ready). */
  get terminal(): Terminal | null {
    return this._terminal;
  }

  get searchAddon(): SearchAddon | null {
    return this._search;
  }

  get client(): TtydClient {
    return this._client;
  }

  /** The strip that shows this terminal's file transfers. */
  get transferStrip(): TransferStrip {
    return this._strip;
  }

  /** Whether files are going through this terminal's trzsz filter now. */
  get transferring(): boolean {
    return this._trzsz?.transferring ?? false;
  }

  /**
   * A transfer between the Jupyter server and this shell (the server runs it through the shell's
   * terminal), shown in the tab's strip; resolves with its result, or null when it failed (the
   * strip says why).
   */
  async transfer(request: TransferRequest): Promise<TransferDone | null> {
    if (this._strip.running) {
      this._strip.failed(
        'Another transfer is running in this terminal: wait for it, or cancel it.'
      );
      return null;
    }
    return showTransfer(this._options.api.settings, this._name, request, this._strip);
  }

  /** DOM events: the drops of files on the terminal (see `DROP_EVENTS`). */
  handleEvent(event: Event): void {
    switch (event.type) {
      case 'dragenter':
      case 'dragover':
        this._onDesktopDragOver(event as DragEvent);
        break;
      case 'dragleave':
      case 'lm-dragleave':
        this._onDragLeave(event as MouseEvent);
        break;
      case 'drop':
        this._onDesktopDrop(event as DragEvent);
        break;
      case 'lm-dragenter':
      case 'lm-dragover':
        this._onJupyterDragOver(event as Drag.Event);
        break;
      case 'lm-drop':
        this._onJupyterDrop(event as Drag.Event);
        break;
    }
  }

  /** `webgl` or `dom`. */
  get renderer(): string {
    return this._webgl ? 'webgl' : 'dom';
  }

  get connectionState(): ConnectionState {
    return this._state;
  }

  get connectionStateChanged(): ISignal<this, ConnectionState> {
    return this._stateChanged;
  }

  /** The terminal now shows another shell (after "Start a new one like it"). */
  get renamed(): ISignal<this, string> {
    return this._renamed;
  }

  /** The theme in use (JupyterLab's, with the shell's own preferences over it). */
  get theme(): ITheme {
    return { ...jupyterLabTheme(), ...((this._preferences.theme as ITheme) ?? {}) };
  }

  /** A theme change (so search highlights can follow). */
  get themeChanged(): ISignal<this, void> {
    return this._themeChanged;
  }

  /** Apply the user's settings. */
  setSettings(settings: ITerminalSettings): void {
    this._settings = { ...settings };
    this.updateAppearance();
  }

  /** Re-read JupyterLab's theme and font (after a theme change) and apply them. */
  updateAppearance(): void {
    const terminal = this._terminal;
    if (!terminal) {
      return;
    }
    const font = jupyterLabFont();
    const theme = this.theme;
    const options: ITerminalOptions = {
      fontFamily: font.fontFamily,
      fontSize: this._settings.fontSize ?? font.fontSize,
      scrollback: this._settings.scrollback
    };
    for (const [key, value] of Object.entries(this._preferences)) {
      if (key !== 'theme' && XTERM_PREFERENCES.has(key)) {
        (options as Record<string, unknown>)[key] = value;
      }
    }
    for (const [key, value] of Object.entries(options)) {
      const current = (terminal.options as Record<string, unknown>)[key];
      if (current !== value) {
        (terminal.options as Record<string, unknown>)[key] = value;
      }
    }
    terminal.options.theme = theme;
    this.node.style.backgroundColor = theme.background ?? '';
    this._themeChanged.emit();
    this._scheduleFit();
  }

  /** Connect again now (after a drop, or to see an ended shell's last output). */
  reconnect(): void {
    this._attempt = 0;
    void this._reconnect();
  }

  hasSelection(): boolean {
    return this._terminal?.hasSelection() ?? false;
  }

  getSelection(): string {
    return this._terminal?.getSelection() ?? '';
  }

  /** Paste text as the user's input (bracketed when the program asked for it). */
  paste(text: string): void {
    this._terminal?.paste(text);
  }

  override dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._clearTimers();
    this._options.liveChanged?.disconnect(this._onLiveChanged);
    this._resizeObserver?.disconnect();
    this._client.dispose();
    this._forgetEarly();
    this._webgl?.dispose();
    this._terminal?.dispose();
    this._terminal = null;
    super.dispose();
    Signal.clearData(this);
  }

  protected override onAfterAttach(_msg: Message): void {
    this.update();
  }

  protected override onAfterShow(_msg: Message): void {
    this.update();
  }

  protected override onResize(_msg: Widget.ResizeMessage): void {
    this._scheduleFit();
  }

  protected override onActivateRequest(_msg: Message): void {
    this._focusWanted = true;
    this._terminal?.focus();
  }

  /**
   * Connect once visible, and open the terminal once xterm.js is loaded too. A tab shown before
   * xterm.js is loaded (a new tab in a page just loaded) connects at once, with its size estimated
   * from its box and font, and keeps what arrives until the terminal exists: the handshake and the
   * shell's first output overlap the loading, as JupyterLab's own terminal does.
   */
  protected override onUpdateRequest(_msg: Message): void {
    const terminal = this._terminal;
    if (!this.isVisible) {
      return;
    }
    if (
      !terminal &&
      !this._connectedEarly &&
      this._host.clientWidth > 0 &&
      this._host.clientHeight > 0
    ) {
      this._connectedEarly = true;
      this._earlySize = this._estimatedSize();
      this._client.connect();
    }
    if (!terminal || this._opened) {
      this._scheduleFit();
      return;
    }
    this._opened = true;
    terminal.open(this._host);
    this._useWebgl(true);
    this._resizeObserver = new ResizeObserver(() => this._scheduleFit());
    this._resizeObserver.observe(this._host);
    this._fit();
    if (this._focusWanted) {
      terminal.focus();
    }
    if (this._client.state === 'idle') {
      this._client.connect(); // not connected early (or stopped early: it resumes where it stopped)
    }
  }

  /**
   * The size for a handshake: the terminal's once open; before, estimated from its box while it is
   * shown, else as estimated when it connected early (a tab hidden since has no box to measure).
   */
  private _size(): ISize {
    const terminal = this._terminal;
    if (terminal && this._opened) {
      return { columns: terminal.cols, rows: terminal.rows };
    }
    if (this.isVisible && this._host.clientWidth > 0 && this._host.clientHeight > 0) {
      this._earlySize = this._estimatedSize();
    }
    return this._earlySize ?? { columns: 80, rows: 24 };
  }

  private _estimatedSize(): ISize {
    const font = jupyterLabFont();
    return estimateSize(
      this._host,
      { ...font, fontSize: this._settings.fontSize ?? font.fontSize },
      this._settings.scrollback > 0
    );
  }

  /**
   * Output of an early connection, kept until the terminal exists. Flow control bounds it (what
   * waits unwritten holds its callback: the server is PAUSEd past ~1 MB); should a server not
   * pause, past EARLY_LIMIT the connection is closed, without loss: the next one resumes after
   * the last byte kept.
   */
  private _keepEarly(data: Uint8Array, callback?: () => void): void {
    this._early.push({ data, callback, replay: this._earlyReplay });
    this._earlyReplay = false;
    this._earlyBytes += data.length;
    if (this._earlyBytes > EARLY_LIMIT && this._client.state === 'open') {
      this._client.close();
    }
  }
  /** Nothing kept any more: written, or of a connection whose shell this tab no longer shows. */
  private _forgetEarly(): void {
    this._early = [];
    this._earlyBytes = 0;
    this._earlyReplay = false;
  }

  private _createTerminal(modules: IXterm, Filter: TrzszLink.IOptions['Filter']): void {
    this._modules = modules;
    const font = jupyterLabFont();
    // At the size the server was told, if it was (an early connection): its output fits it.
    const told = this._client.size;
    const terminal = new modules.Terminal({
      ...(told ? { cols: told.columns, rows: told.rows } : {}),
      disableStdin: this._client.state !== 'open', // the connection may have ended meanwhile
      allowProposedApi: true, // the search addon's match decorations
      cursorBlink: true,
      fontFamily: font.fontFamily,
      fontSize: this._settings.fontSize ?? font.fontSize,
      scrollback: this._settings.scrollback,
      theme: this.theme
    });
    this._fitAddon = new modules.FitAddon();
    this._search = new modules.SearchAddon();
    terminal.loadAddon(this._fitAddon);
    terminal.loadAddon(this._search);
    terminal.loadAddon(new modules.WebLinksAddon());
    // Input and output pass the trzsz filter, which answers `trz`/`tsz` and drops from the desktop.
    const trzsz = new TrzszLink({
      Filter,
      write: (data, callback) => terminal.write(data, callback),
      send: data => void this._client.send(data),
      columns: terminal.cols
    });
    this._trzsz = trzsz;
    terminal.onData(data => trzsz.input(data));
    terminal.onBinary(data => trzsz.binaryInput(data));
    terminal.onResize(({ cols, rows }) => {
      trzsz.resize(cols);
      this._client.resize({ columns: cols, rows });
    });
    terminal.onTitleChange(title => {
      this._programTitle = title;
      this._updateTitle();
    });
    terminal.attachCustomKeyEventHandler(event => this._onKey(event));
    this._terminal = terminal;
    // What an early connection brought: written in order, through the filter, callbacks kept.
    const early = this._early;
    this._forgetEarly();
    for (const { data, callback, replay } of early) {
      if (replay) {
        trzsz.replayNext();
      }
      trzsz.output(data, callback);
    }
    this.updateAppearance(); // with the shell's preferences, if they came already
    this.update();
  }

  /** Copy with Ctrl+C when text is selected, paste with Ctrl+V (macOS: Cmd, natively). */
  private _onKey(event: KeyboardEvent): boolean {
    if (event.type !== 'keydown' || Platform.IS_MAC || !event.ctrlKey || event.altKey) {
      return true;
    }
    const key = event.key.toLowerCase();
    if (key === 'c' && this.hasSelection()) {
      Clipboard.copyToSystem(this.getSelection());
      event.preventDefault();
      event.stopPropagation();
      return false;
    }
    if (key === 'v') {
      return false; // the browser's paste event follows, and xterm.js pastes it
    }
    return true;
  }

  private _newClient(): TtydClient {
    const client = new TtydClient({
      url: this._options.api.terminalUrl(this._name),
      size: () => this._size(),
      sink: {
        write: (data, callback) =>
          this._trzsz ? this._trzsz.output(data, callback) : this._keepEarly(data, callback)
      },
      WebSocket: this._options.WebSocket,
      handshake: () => ({ downloads: this._settings.downloadsTo ?? 'jupyter' })
    });
    client.stateChanged.connect((_, state) => {
      if (state === 'open') {
        this._attempt = 0;
        if (this._state === 'ended') {
          return; // a shell known to have ended: its last output comes, then its end
        }
        this._outputSeen = false;
        this._hideBanner();
        this._setState('open');
        if (this._terminal) {
          this._terminal.options.disableStdin = false;
        }
        this._updateStarting();
      }
    });
    client.titleChanged.connect(() => this._updateTitle());
    client.preferencesReceived.connect((_, preferences) => this._applyPreferences(preferences));
    client.outputStarted.connect(() => {
      // A new connection's first output: what it had not seen yet (kept for the filter if early).
      if (this._trzsz) {
        this._trzsz.replayNext();
      } else {
        this._earlyReplay = true;
      }
      this._outputSeen = true;
      this._updateStarting();
      if (!this._firstOutputMarked) {
        this._firstOutputMarked = true;
        performance.mark('cloudtty:first-output', { detail: { name: this._name } });
      }
    });
    client.closed.connect((_, closed) => this._onClosed(closed));
    return client;
  }

  /**
   * A cluster shell's terminal answers once its pod is Ready: until the first output, say that
   * the shell is starting, with its phase and, where there is a pool, whether it starts cold and
   * why (a local shell is Ready at once and never shows this).
   */
  private _updateStarting(): void {
    const shell = this._options.live?.(this._name);
    const phase = shell?.status?.phase ?? '';
    const starting =
      this._state === 'open' &&
      !this._outputSeen &&
      shell !== undefined &&
      !['Ready', 'Complete', 'Failed'].includes(phase);
    if (starting && (this._banner.hidden || this._bannerIsStarting)) {
      this._showBanner('info', startingBanner(shell), []);
      this._bannerIsStarting = true;
    } else if (!starting && this._bannerIsStarting) {
      this._hideBanner();
    }
  }

  private _onClosed(closed: IClosed): void {
    this._trzsz?.stop();
    if (this._terminal) {
      this._terminal.options.disableStdin = true;
    }
    if (closed.kind === 'ended' && closed.wasOpen) {
      this._ended(closed);
    } else if (closed.kind === 'refused') {
      this._fail(closed.message);
    } else {
      // Dropped, or never opened (the upgrade was refused): the REST API says why.
      this._scheduleReconnect(closed.message, !closed.wasOpen && this._attempt === 0);
    }
  }

  private _ended(closed: IClosed): void {
    const failure = isFailure(closed.code);
    this._setEnding(
      failure ? 'failed' : closed.code === 4002 ? 'deleted' : 'ended',
      closed.message
    );
    this._setState('ended');
    if (this._preferences.closeOnDisconnect === true && this._closable) {
      this._closeTab();
      return;
    }
    this._showBanner(failure ? 'error' : 'info', closed.message, this._endActions());
  }

  /**
   * A shell the server lists as ended, before this terminal connected to it (a tab restored after
   * a reload, one that was hidden when its shell ended): say so at once. Showing the tab still
   * connects, for the shell's last output; its end then comes in the server's words.
   */
  private _endedFromStatus(shell: IShell | null | undefined): boolean {
    const ending = shell ? endingOf(shell) : null;
    if (!shell || !ending) {
      return false;
    }
    this._shell ??= shell;
    this._setEnding(ending.word, ending.message);
    this._setState('ended');
    this._showBanner(ending.failure ? 'error' : 'info', ending.message, this._endActions());
    return true;
  }

  /**
   * A cluster shell's lost pod replaced while this tab shows it (the operator counts `restarts`):
   * the relay carries the connection over to the new pod's process, so the terminal goes on, but
   * what ran in it is gone; a banner says so until dismissed. Restarts before the tab are not news.
   */
  private _noteRestarts(shell: IShell | null | undefined): void {
    if (!shell) {
      return; // not known yet: the first shell seen sets what is not news
    }
    const restarts = shell.status?.restarts ?? 0;
    if (this._restartsSeen === null || restarts <= this._restartsSeen) {
      this._restartsSeen = Math.max(this._restartsSeen ?? 0, restarts);
      return;
    }
    this._restartsSeen = restarts;
    const restarted = restartedCondition(shell);
    if (!restarted || this._state === 'ended' || this._state === 'gone') {
      return;
    }
    const why = restarted.message ? ` (${restarted.message})` : '';
    this._showBanner(
      'info',
      `The shell's pod was replaced: the old process and what it held are gone${why}.`,
      [{ label: 'Dismiss', run: () => this._hideBanner(), accept: true }]
    );
  }

  /** How the shell ended (the tab's label and caption say it), or null: it has not. */
  private _setEnding(word: EndWord | null, message = ''): void {
    this._ending = word ? { word, message } : null;
    this._updateTitle();
  }

  private _fail(message: string): void {
    this._setState('failed');
    const actions: IAction[] = [{ label: 'Reconnect', run: () => this.reconnect(), accept: true }];
    if (this._closable) {
      actions.push({ label: 'Close tab', run: () => this._closeTab() });
    }
    this._showBanner('error', message, actions);
  }

  private _endActions(): IAction[] {
    const actions: IAction[] = [];
    if (this._shell && this._options.createShell) {
      actions.push({
        label: 'Start a new one like it',
        run: () => void this._restart(),
        accept: true
      });
    }
    if (this._closable) {
      actions.push({ label: 'Close tab', run: () => this._closeTab() });
    }
    return actions;
  }

  private _scheduleReconnect(message: string, immediately: boolean): void {
    this._clearTimers();
    if (immediately || this._preferences.disableReconnect === true) {
      if (this._preferences.disableReconnect === true) {
        this._fail(message);
      } else {
        this._attempt++;
        void this._reconnect();
      }
      return;
    }
    this._setState('reconnecting');
    const delay = reconnectDelay(this._attempt++);
    let remaining = Math.round(delay / 1000);
    const show = () =>
      this._showBanner(
        'warn',
        `${message} Reconnecting${remaining > 0 ? ` in ${remaining} s` : ''}…`,
        [{ label: 'Reconnect now', run: () => this.reconnect(), accept: true }]
      );
    show();
    this._countdown = setInterval(() => {
      remaining = Math.max(0, remaining - 1);
      show();
    }, 1000);
    this._timer = setTimeout(() => void this._reconnect(), delay);
  }

  /** Ask the REST API about the shell, then connect (or say why not). */
  private async _reconnect(): Promise<void> {
    this._clearTimers();
    this._setState('reconnecting');
    this._showBanner('warn', 'Reconnecting…', []);
    let shell: IShell | null;
    try {
      shell = await this._options.api.get(this._name);
    } catch (error) {
      if (this.isDisposed) {
        return;
      }
      if (error instanceof ShellApiError) {
        this._fail(error.message); // the server answered: 403 and the like will not heal
      } else {
        this._scheduleReconnect('The Jupyter server cannot be reached.', false);
      }
      return;
    }
    if (this.isDisposed) {
      return;
    }
    if (!shell) {
      const message = `The shell "${this._name}" no longer exists.`;
      this._setEnding('gone', message);
      this._setState('gone');
      this._showBanner('info', message, this._endActions());
      return;
    }
    this._shell = shell;
    this._endedFromStatus(shell);
    // Resume where this client stopped: the URL carries its id and received byte count.
    this._client.connect();
  }

  /** "Start a new one like it": a new shell with the same spec, in this same tab. */
  private async _restart(): Promise<void> {
    const spec = this._shell?.spec;
    const create = this._options.createShell;
    if (!spec || !create) {
      return;
    }
    this._showBanner('info', 'Starting a new shell…', []);
    let shell: IShell;
    try {
      shell = await create(spec);
    } catch (error) {
      this._showBanner('error', (error as Error).message, this._endActions());
      return;
    }
    if (this.isDisposed) {
      return;
    }
    this._trzsz?.stop();
    this._client.dispose();
    this._forgetEarly(); // the old shell's output, if xterm.js is still loading
    this._connectedEarly = false;
    this._restartsSeen = null;
    this._name = shell.name;
    this._shell = shell;
    this.node.dataset.shellName = shell.name;
    this._client = this._newClient();
    this._firstOutputMarked = false;
    this._programTitle = '';
    this._restoredTitle = '';
    this._terminal?.reset();
    this._setEnding(null);
    this._renamed.emit(shell.name);
    this._hideBanner();
    this._setState('starting');
    if (this._opened) {
      this._client.connect();
    } else {
      this.update(); // connects early again, if shown
    }
  }

  private _applyPreferences(preferences: Record<string, unknown>): void {
    this._preferences = preferences;
    if (preferences.rendererType === 'dom') {
      this._useWebgl(false);
    } else if (preferences.rendererType === 'webgl') {
      this._useWebgl(true);
    }
    this._updateTitle();
    this.updateAppearance();
  }

  /** WebGL when the browser has it; xterm.js's DOM renderer otherwise (or on context loss). */
  private _useWebgl(on: boolean): void {
    const terminal = this._terminal;
    if (!on || this._preferences.rendererType === 'dom') {
      this._webgl?.dispose();
      this._webgl = null;
      return;
    }
    if (this._webgl || !terminal || !this._modules || !this._opened) {
      return;
    }
    try {
      const webgl = new this._modules.WebglAddon();
      webgl.onContextLoss(() => {
        webgl.dispose();
        this._webgl = null;
      });
      terminal.loadAddon(webgl);
      this._webgl = webgl;
    } catch {
      this._webgl = null; // no WebGL2 here: the DOM renderer stays
    }
  }

  /** The tab's label (the shell's name, then its command or title, or how it ended) and caption. */
  private _updateTitle(): void {
    const fixed = this._preferences.titleFixed;
    const { label, caption, detail } = tabTitle({
      name: this._name,
      shell: this._options.live?.(this._name) ?? this._shell,
      fixedTitle: typeof fixed === 'string' ? fixed : '',
      programTitle: this._programTitle,
      serverTitle: this.serverTitle,
      ending: this._ending
    });
    this._subtitle = detail;
    this.title.label = label;
    this.title.caption = caption;
    this.title.className = this._ending ? 'jp-CloudTTY-tab-ended' : '';
  }

  private _scheduleFit(): void {
    if (this._fitFrame !== 0 || !this._opened) {
      return;
    }
    this._fitFrame = requestAnimationFrame(() => {
      this._fitFrame = 0;
      this._fit();
    });
  }

  /** Size the terminal to its box (xterm.js then reports the new size, sent as RESIZE). */
  private _fit(): void {
    if (!this._terminal || !this._fitAddon || !this.isVisible) {
      return;
    }
    if (this._host.clientWidth === 0 || this._host.clientHeight === 0) {
      return;
    }
    this._fitAddon.fit();
  }

  private _showBanner(kind: 'info' | 'warn' | 'error', message: string, actions: IAction[]): void {
    const banner = this._banner;
    this._bannerIsStarting = false;
    this._bannerIsLoading = false;
    banner.className = `jp-CloudTTY-banner jp-CloudTTY-banner-${kind}`;
    banner.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    banner.replaceChildren();
    const text = document.createElement('span');
    text.className = 'jp-CloudTTY-banner-message';
    text.textContent = message;
    banner.append(text);
    for (const action of actions) {
      const button = document.createElement('button');
      button.className = `jp-Button jp-mod-styled ${action.accept ? 'jp-mod-accept' : 'jp-mod-reject'}`;
      button.textContent = action.label;
      button.addEventListener('click', action.run);
      banner.append(button);
    }
    banner.hidden = false;
  }

  private _hideBanner(): void {
    this._bannerIsStarting = false;
    this._banner.hidden = true;
    this._banner.replaceChildren();
  }

  private _onDesktopDragOver(event: DragEvent): void {
    if (!hasDesktopFiles(event.dataTransfer)) {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
    event.dataTransfer!.dropEffect = 'copy';
    this._setDropTarget(true);
  }

  /** Files from the desktop: the tab's trzsz filter types `trz` and sends them (its progress bar shows). */
  private _onDesktopDrop(event: DragEvent): void {
    if (!hasDesktopFiles(event.dataTransfer)) {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
    this._setDropTarget(false);
    const trzsz = this._trzsz;
    if (!trzsz || this._state !== 'open') {
      this._strip.failed('Upload failed: the terminal is not connected to its shell.');
      return;
    }
    // Now, in the handler: the browser empties the item list once the event is over.
    trzsz.uploadFiles(event.dataTransfer!.items).catch((error: unknown) => {
      let message = error instanceof Error ? error.message : String(error);
      if (message === 'Upload does not start') {
        // trzsz typed `trz` and nothing answered in time
        message =
          'trz did not start in the shell. Is trzsz installed there, and is the shell at its prompt?';
      }
      this._strip.failed(`Upload failed: ${message}`);
    });
  }

  private _onJupyterDragOver(event: Drag.Event): void {
    if (!event.mimeData.hasData(CONTENTS_MIME)) {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
    event.dropAction = event.proposedAction; // the file browser offers "move" only; nothing moves
    this._setDropTarget(true);
  }

  /** Files from JupyterLab's file browser: the server sends them into the shell's current directory. */
  private _onJupyterDrop(event: Drag.Event): void {
    if (!event.mimeData.hasData(CONTENTS_MIME)) {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
    event.dropAction = event.proposedAction;
    this._setDropTarget(false);
    const paths = draggedPaths(event.mimeData.getData(CONTENTS_MIME), jupyterPaths.local);
    if (paths.length > 0) {
      void this.transfer({ direction: 'upload', paths });
    }
  }

  private _onDragLeave(event: MouseEvent): void {
    const related = event.relatedTarget;
    if (!(related instanceof Node) || !this.node.contains(related)) {
      this._setDropTarget(false);
    }
  }

  private _setDropTarget(on: boolean): void {
    this.node.classList.toggle('jp-CloudTTY-dropTarget', on);
  }

  private get _closable(): boolean {
    return this._options.closable !== false;
  }

  private _closeTab(): void {
    (this.parent ?? this).close();
  }

  private _setState(state: ConnectionState): void {
    if (state !== this._state) {
      this._state = state;
      this._stateChanged.emit(state);
    }
  }

  private _clearTimers(): void {
    if (this._timer !== undefined) {
      clearTimeout(this._timer);
      this._timer = undefined;
    }
    if (this._countdown !== undefined) {
      clearInterval(this._countdown);
      this._countdown = undefined;
    }
  }

  private _options: ShellTerminal.IOptions;
  private _name: string;
  private _shell: IShell | null;
  private _settings: ITerminalSettings;
  private _client: TtydClient;
  private _trzsz: TrzszLink | null = null;
  private _strip = new TransferStrip();
  private _ready: Promise<void>;
  private _modules: IXterm | null = null;
  private _terminal: Terminal | null = null;
  private _fitAddon: FitAddon | null = null;
  private _search: SearchAddon | null = null;
  private _webgl: WebglAddon | null = null;
  private _banner: HTMLDivElement;
  private _host: HTMLDivElement;
  private _opened = false;
  private _connectedEarly = false;
  private _early: Array<{ data: Uint8Array; callback?: () => void; replay: boolean }> = [];
  private _earlyBytes = 0;
  /** Whether the next output kept is a connection's first (its replay: see TrzszLink.replayNext). */
  private _earlyReplay = false;
  /** The size an early handshake gave, estimated while the tab was shown. */
  private _earlySize: ISize | null = null;
  private _focusWanted = false;
  private _fitFrame = 0;
  private _resizeObserver: ResizeObserver | null = null;
  private _preferences: Record<string, unknown> = {};
  private _programTitle = '';
  private _state: ConnectionState = 'starting';
  private _attempt = 0;
  private _timer: ReturnType<typeof setTimeout> | undefined;
  private _countdown: ReturnType<typeof setInterval> | undefined;
  private _firstOutputMarked = false;
  private _outputSeen = false;
  private _bannerIsStarting = false;
  /** The banner says the terminal's code could not be loaded, or is loading again. */
  private _bannerIsLoading = false;
  private _ending: { word: EndWord; message: string } | null = null;
  private _subtitle = '';
  private _restoredTitle = '';
  /** The shell's `restarts` as this tab last saw them (null: not known yet). */
  private _restartsSeen: number | null = null;
  private _onLiveChanged = () => {
    if (this._state === 'starting') {
      this._endedFromStatus(this._options.live?.(this._name)); // ended before the tab connected
    }
    this._noteRestarts(this._options.live?.(this._name));
    this._updateStarting();
    this._updateTitle();
  };
  private _stateChanged = new Signal<this, ConnectionState>(this);
  private _renamed = new Signal<this, string>(this);
  private _themeChanged = new Signal<this, void>(this);
}
