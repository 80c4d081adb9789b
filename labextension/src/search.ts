/**
 * JupyterLab's search box (Ctrl+F) in a shell's terminal, through xterm.js's search addon.
 */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { ISearchProvider, SearchProvider } from '@jupyterlab/documentsearch';
import type { ISearchOptions } from '@xterm/addon-search';
import { Widget } from '@lumino/widgets';

import { ShellTerminal } from './terminal';

type ShellWidget = MainAreaWidget<ShellTerminal>;

/** A colour as #rrggbb (what the addon's decorations accept), mixed over the background. */
function opaque(color: string | undefined, fallback: string): string {
  const probe = document.createElement('canvas').getContext('2d');
  if (!probe || !color) {
    return fallback;
  }
  probe.fillStyle = '#000000';
  probe.fillStyle = color;
  const value = probe.fillStyle;
  return /^#[0-9a-f]{6}$/i.test(value) ? value : fallback;
}

export class ShellSearchProvider extends SearchProvider<ShellWidget> {
  static isApplicable(domain: Widget): domain is ShellWidget {
    return domain instanceof MainAreaWidget && domain.content instanceof ShellTerminal;
  }

  /** Only called for widgets `isApplicable` accepted. */
  static createNew(widget: Widget): ISearchProvider {
    return new ShellSearchProvider(widget as ShellWidget);
  }

  constructor(widget: ShellWidget) {
    super(widget);
    void widget.content.ready.then(() => {
      widget.content.searchAddon?.onDidChangeResults(({ resultCount, resultIndex }) => {
        this._index = resultCount > 0 ? resultIndex : null;
        this._count = resultCount > 0 ? resultCount : null;
        this._stateChanged.emit();
      });
    });
  }

  readonly isReadOnly = true;

  override get currentMatchIndex(): number | null {
    return this._index;
  }

  override get matchesCount(): number | null {
    return this._count;
  }

  async startQuery(query: RegExp): Promise<void> {
    this._query = query;
    this._find(true);
    return Promise.resolve();
  }

  async endQuery(): Promise<void> {
    this._query = null;
    this._index = this._count = null;
    this.widget.content.searchAddon?.clearDecorations();
    return Promise.resolve();
  }

  async clearHighlight(): Promise<void> {
    this.widget.content.searchAddon?.clearDecorations();
    return Promise.resolve();
  }

  async highlightNext(): Promise<undefined> {
    this._find(true);
    return Promise.resolve(undefined);
  }

  async highlightPrevious(): Promise<undefined> {
    this._find(false);
    return Promise.resolve(undefined);
  }

  async replaceCurrentMatch(): Promise<boolean> {
    return Promise.resolve(false); // a terminal's output is read-only
  }

  async replaceAllMatches(): Promise<boolean> {
    return Promise.resolve(false);
  }

  private _find(forward: boolean): void {
    const addon = this.widget.content.searchAddon;
    if (!addon || !this._query) {
      return;
    }
    const theme = this.widget.content.theme;
    const options: ISearchOptions = {
      regex: true,
      caseSensitive: !this._query.flags.includes('i'),
      decorations: {
        matchBackground: opaque(theme.selectionBackground, '#888888'),
        activeMatchBackground: opaque(theme.cursor, '#ffee58'),
        matchOverviewRuler: '#888888',
        activeMatchColorOverviewRuler: '#ffee58'
      }
    };
    if (forward) {
      addon.findNext(this._query.source, options);
    } else {
      addon.findPrevious(this._query.source, options);
    }
  }

  private _query: RegExp | null = null;
  private _index: number | null = null;
  private _count: number | null = null;
}
