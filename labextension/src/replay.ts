/**
 * Terminal recordings (asciicast, `.cast`) played in JupyterLab with npm's asciinema-player: the
 * "Terminal Recording" viewer of `.cast` files (a document tab) and the renderer of
 * `application/x-asciicast` outputs (what `%cloudtty replay FILE` displays in a notebook).
 *
 * The player wears JupyterLab's colours (style/asciinema-theme.css) and follows its theme live,
 * and its keyboard shortcuts (Space, arrows, 0–9, f, ?) work once it has the focus.
 */
import type { Options, Player } from 'asciinema-player';
import { ILayoutRestorer, JupyterFrontEnd } from '@jupyterlab/application';
import { WidgetTracker } from '@jupyterlab/apputils';
import { ABCWidgetFactory, DocumentRegistry, DocumentWidget } from '@jupyterlab/docregistry';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Message } from '@lumino/messaging';
import { PanelLayout, Widget } from '@lumino/widgets';

import { ICastInfo, castInfo, formatLength, isPlayerKey, opaqueHex } from './casts';
import { recordingIcon } from './icons';

/** The MIME type of a recording, as a file and as a notebook output. */
export const CAST_MIME = 'application/x-asciicast';
/** The file type's name in JupyterLab's document registry. */
export const CAST_FILE_TYPE = 'asciicast';
/** The viewer's name: the default factory of `.cast` files ("Open With" lists it). */
export const REPLAY_FACTORY = 'Terminal Recording';
/** asciinema-player's theme name: its CSS class is `asciinema-player-theme-jupyterlab`. */
export const PLAYER_THEME = 'jupyterlab';

/** asciinema-player's code (solid-js and a terminal emulator in WebAssembly, ~200 KB), fetched when
 * the first recording is shown: JupyterLab starts without it, as it does without xterm.js. */
export function loadPlayer(): Promise<typeof import('asciinema-player')> {
  playerModule ??= import('asciinema-player');
  return playerModule;
}

let playerModule: Promise<typeof import('asciinema-player')> | null = null;

export interface IReplayOptions {
  /** 'both' fills a tab; 'width' fits a notebook's output column. */
  fit: 'both' | 'width';
  /** Start playing as soon as it is shown. */
  autoPlay: boolean;
}

/**
 * A recording in asciinema-player. `load` (re)starts it on a cast's text; a theme switch restarts
 * it where it was, playing if it was (the player reads its ANSI colours once).
 */
export class ReplayView extends Widget {
  constructor(private readonly _options: IReplayOptions) {
    super();
    this.addClass('jp-CloudTTY-replay');
    this._host = document.createElement('div');
    this._host.className = 'jp-CloudTTY-replay-player';
    this.node.appendChild(this._host);
    this.node.addEventListener('keydown', this._onKeydown);
    this._themeObserver = new MutationObserver(() => this._restart());
    this._themeObserver.observe(document.body, {
      attributes: true,
      attributeFilter: ['data-jp-theme-name', 'data-jp-theme-light']
    });
  }

  /** The recording's details, once loaded (null before, or when it is not a recording). */
  get info(): ICastInfo | null {
    return this._info;
  }

  /** The player, for tests and keyboard focus (null until a recording is loaded). */
  get player(): Player | null {
    return this._player;
  }

  /** Play this recording from its start (an error message instead, when it is not one). */
  load(cast: string): void {
    this._cast = cast;
    try {
      this._info = castInfo(cast);
    } catch (error) {
      this._info = null;
      this._generation++; // a player still loading for the previous text is not shown
      this._destroy();
      this._showError((error as Error).message);
      return;
    }
    this._showError(null);
    this._ready = this._create(0, this._options.autoPlay);
  }

  override dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._themeObserver.disconnect();
    this._destroy();
    super.dispose();
  }

  protected override onActivateRequest(_msg: Message): void {
    // The player's own element takes the keys (it has a tabindex): Space plays, arrows seek.
    void this._ready.then(() => {
      if (!this.node.contains(document.activeElement) || document.activeElement === this.node) {
        this._focusPlayer();
      }
    });
  }

  /** A new player (the old one gone), once the player's code is here; a newer call wins. */
  private async _create(startAt: number, play: boolean): Promise<void> {
    const generation = ++this._generation;
    const { create } = await loadPlayer();
    if (this.isDisposed || generation !== this._generation) {
      return;
    }
    this._destroy();
    this._resolveColors();
    const options: Options = {
      theme: PLAYER_THEME,
      fit: this._options.fit,
      autoPlay: play,
      preload: true,
      idleTimeLimit: 2
    };
    if (startAt > 0 && play) {
      options.startAt = startAt;
    }
    const player = create({ data: this._cast }, this._host, options);
    if (startAt > 0 && !play) {
      void player.seek(startAt); // paused where it was, that frame shown (startAt alone shows none)
    }
    player.addEventListener('play', () => (this._playing = true));
    player.addEventListener('playing', () => (this._playing = true));
    player.addEventListener('pause', () => (this._playing = false));
    player.addEventListener('ended', () => (this._playing = false));
    this._playing = play;
    this._player = player;
  }

  /** After a theme switch: the same recording, at the same time, playing if it was. */
  private _restart(): void {
    if (!this._player || !this._info) {
      return;
    }
    const focused = this.node.contains(document.activeElement);
    this._ready = this._create(this._player.getCurrentTime(), this._playing).then(() => {
      if (focused) {
        this._focusPlayer(); // a keyboard user's keys still go to the player
      }
    });
  }

  private _focusPlayer(): void {
    (this._host.querySelector<HTMLElement>('.ap-wrapper') ?? this.node).focus();
  }

  private _destroy(): void {
    this._player?.dispose();
    this._player = null;
    this._host.replaceChildren();
  }

  /**
   * JupyterLab's foreground and background as hex, for the theme's CSS (its light theme says
   * "white", which the player cannot read for reverse video).
   */
  private _resolveColors(): void {
    const probe = document.createElement('span');
    this._host.appendChild(probe);
    const read = (variable: string, fallback: string): string => {
      probe.style.color = `var(${variable}, ${fallback})`;
      return getComputedStyle(probe).color;
    };
    const background = opaqueHex(read('--jp-layout-color0', '#ffffff')) ?? '#ffffff';
    const foreground = opaqueHex(read('--jp-ui-font-color0', '#000000'), background) ?? '#000000';
    probe.remove();
    this.node.style.setProperty('--jp-cloudtty-replay-foreground', foreground);
    this.node.style.setProperty('--jp-cloudtty-replay-background', background);
  }

  private _showError(message: string | null): void {
    this.node.querySelector('.jp-CloudTTY-replay-error')?.remove();
    if (message) {
      const error = document.createElement('div');
      error.className = 'jp-CloudTTY-replay-error';
      error.setAttribute('role', 'alert');
      error.textContent = message;
      this.node.prepend(error);
    }
  }

  private readonly _onKeydown = (event: KeyboardEvent): void => {
    const inPlayer = (event.target as Element | null)?.closest?.('.ap-wrapper');
    const onButton = event.target instanceof HTMLButtonElement;
    if (inPlayer && isPlayerKey({ ...pick(event), onButton })) {
      // The player hears keys on the document (solid-js delegates events there), where JupyterLab's
      // keymap may hear them first: it skips an event whose default is prevented, the player does not.
      event.preventDefault();
    }
  };

  private readonly _host: HTMLDivElement;
  private readonly _themeObserver: MutationObserver;
  private _player: Player | null = null;
  private _ready: Promise<void> = Promise.resolve();
  private _generation = 0;
  private _cast = '';
  private _info: ICastInfo | null = null;
  private _playing = false;
}

function pick(event: KeyboardEvent): {
  key: string;
  ctrlKey: boolean;
  altKey: boolean;
  metaKey: boolean;
} {
  return { key: event.key, ctrlKey: event.ctrlKey, altKey: event.altKey, metaKey: event.metaKey };
}

/** A `.cast` file in a tab: played from its start, again after "Reload from Disk". */
export class ReplayDocument extends DocumentWidget<ReplayView, DocumentRegistry.ICodeModel> {}

/** The "Terminal Recording" viewer of `.cast` files. */
export class ReplayFactory extends ABCWidgetFactory<ReplayDocument, DocumentRegistry.ICodeModel> {
  protected createNewWidget(context: DocumentRegistry.CodeContext): ReplayDocument {
    const content = new ReplayView({ fit: 'both', autoPlay: true });
    const widget = new ReplayDocument({ content, context });
    widget.addClass('jp-CloudTTY-replay-document');
    widget.title.icon = recordingIcon;
    const show = () => {
      content.load(context.model.toString());
      const info = content.info;
      widget.title.caption = info
        ? `${context.path}\nTerminal recording${info.title ? ` of ${info.title}` : ''}: ` +
          `${info.cols}×${info.rows}, ${formatLength(info.duration)}`
        : context.path;
    };
    void context.ready.then(() => {
      show();
      // "Reload from Disk" (a recording still being written has grown): the new text, from its start.
      context.model.contentChanged.connect(show);
    });
    return widget;
  }
}

/** The file type of recordings, for the document registry. */
export const castFileType: Partial<DocumentRegistry.IFileType> = {
  name: CAST_FILE_TYPE,
  displayName: 'Terminal Recording',
  extensions: ['.cast'],
  mimeTypes: [CAST_MIME],
  fileFormat: 'text',
  contentType: 'file',
  icon: recordingIcon
};

/** The player in a notebook's output (`%cloudtty replay FILE`): the cast's text is the output's data. */
export class ReplayRenderer extends Widget implements IRenderMime.IRenderer {
  constructor() {
    super();
    this.addClass('jp-CloudTTY-replay-output');
    this._view = new ReplayView({ fit: 'width', autoPlay: false });
    // A child widget: attach and resize messages reach the player, disposal takes it along.
    const layout = new PanelLayout();
    this.layout = layout;
    layout.addWidget(this._view);
  }

  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const data = model.data[CAST_MIME];
    const text = typeof data === 'string' ? data : Array.isArray(data) ? data.join('') : '';
    if (text !== this._text) {
      this._text = text;
      this._view.load(text);
    }
    return Promise.resolve();
  }

  get view(): ReplayView {
    return this._view;
  }

  private readonly _view: ReplayView;
  private _text: string | null = null;
}

/** The renderer of `application/x-asciicast` outputs. Safe: a recording is text played in a
 * terminal emulator, nothing of it runs. Its rank puts it before the bundle's `text/html`. */
export const replayRendererFactory: IRenderMime.IRendererFactory = {
  safe: true,
  mimeTypes: [CAST_MIME],
  defaultRank: 40,
  createRenderer: () => new ReplayRenderer()
};

/**
 * Register the player: `.cast` files as a file type whose default viewer it is ("Open With" offers
 * it too), its tabs restored after a reload, and the renderer of `application/x-asciicast` outputs.
 */
export function registerReplay(
  app: JupyterFrontEnd,
  rendermime: IRenderMimeRegistry | null,
  restorer: ILayoutRestorer | null
): void {
  app.docRegistry.addFileType(castFileType);
  const factory = new ReplayFactory({
    name: REPLAY_FACTORY,
    label: 'Terminal Recording',
    fileTypes: [CAST_FILE_TYPE],
    defaultFor: [CAST_FILE_TYPE],
    readOnly: true,
    modelName: 'text'
  });
  app.docRegistry.addWidgetFactory(factory);
  const tracker = new WidgetTracker<ReplayDocument>({ namespace: 'cloudtty-replay' });
  factory.widgetCreated.connect((_, widget) => {
    widget.context.pathChanged.connect(() => void tracker.save(widget));
    void tracker.add(widget);
  });
  void restorer?.restore(tracker, {
    command: 'docmanager:open',
    args: widget => ({ path: widget.context.path, factory: REPLAY_FACTORY }),
    name: widget => widget.context.path
  });
  rendermime?.addFactory(replayRendererFactory);
}
