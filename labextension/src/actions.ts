/**
 * What the user can do with shells, in one place: the commands, the side panel and the
 * running-sessions section all call these.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Dialog, MainAreaWidget, WidgetTracker, showDialog } from '@jupyterlab/apputils';
import { DockLayout } from '@lumino/widgets';

import { IShell, IShellSpec, hasEnded } from './api';
import { shellIcon } from './icons';
import { ShellsModel } from './shells';
import { ITerminalSettings, ShellTerminal, loadXterm } from './terminal';

export type ShellWidget = MainAreaWidget<ShellTerminal>;

export interface IOpenOptions {
  /** Where to dock the tab (default: a new tab in the main area). */
  mode?: DockLayout.InsertMode;
  ref?: string;
  activate?: boolean;
  /** Opened by the layout restorer: a shell that is gone is skipped silently. */
  restoring?: boolean;
}

export class ShellActions {
  constructor(
    readonly app: JupyterFrontEnd,
    readonly model: ShellsModel,
    readonly tracker: WidgetTracker<ShellWidget>,
    private readonly _settings: () => ITerminalSettings
  ) {}

  /** Create a shell (the server's message is thrown as the Error's message). */
  async create(request: { name?: string; spec?: IShellSpec; record?: boolean }): Promise<IShell> {
    void loadXterm(); // fetch the terminal's code while the server creates the shell
    const shell = await this.model.api.create(request);
    this.model.upsert(shell);
    return shell;
  }

  /** Create a shell and open its terminal. */
  async createAndOpen(
    request: { name?: string; spec?: IShellSpec; record?: boolean },
    options: IOpenOptions = {}
  ): Promise<ShellWidget | null> {
    const shell = await this.create(request);
    return this.open(shell.name, { ...options, shell });
  }

  /** The open terminal of a shell, if any. */
  find(name: string): ShellWidget | undefined {
    return this.tracker.find(widget => widget.content.shellName === name);
  }

  /** Show a shell's terminal: its open tab, or a new one. */
  async open(
    name: string,
    options: IOpenOptions & { shell?: IShell | null } = {}
  ): Promise<ShellWidget | null> {
    const existing = this.find(name);
    if (existing) {
      if (options.activate !== false) {
        this.app.shell.activateById(existing.id);
      }
      return existing;
    }
    let shell = options.shell ?? this.model.get(name) ?? null;
    if (options.restoring) {
      shell = await this.model.api.get(name).catch(() => shell);
      if (!shell) {
        return null; // deleted while the page was away: do not restore its tab
      }
    }
    const content = new ShellTerminal({
      name,
      api: this.model.api,
      settings: this._settings(),
      shell,
      createShell: spec => this.create({ spec }),
      live: shellName => this.model.get(shellName),
      liveChanged: this.model.changed
    });
    const widget = new MainAreaWidget({ content });
    widget.addClass('jp-CloudTTY-terminal-widget');
    widget.title.icon = shellIcon;
    content.title.changed.connect(() => {
      widget.title.label = content.title.label;
      widget.title.caption = content.title.caption;
    });
    widget.title.label = content.title.label;
    widget.title.caption = content.title.caption;
    content.renamed.connect(() => void this.tracker.save(widget));
    this.app.shell.add(widget, 'main', {
      type: 'Cluster Shell',
      mode: options.mode,
      ref: options.ref,
      activate: options.activate !== false
    });
    await this.tracker.add(widget);
    if (options.activate !== false) {
      this.app.shell.activateById(widget.id);
    }
    return widget;
  }

  /** Delete a shell, after asking when `confirm`; false if the user said no. */
  async delete(name: string, confirm: boolean): Promise<boolean> {
    if (
      confirm &&
      !(await confirmDelete(
        'Delete shell?',
        `Delete the shell "${name}"? Its processes end and its output is lost.`,
        'Delete'
      ))
    ) {
      return false;
    }
    await this.model.api.delete(name);
    this.model.remove(name);
    return true;
  }

  /**
   * Give a shell `seconds` more to live (the server's refusal, e.g. over its `max_ttl`, is thrown
   * as the Error's message). The list shows the new TTL at once, before the event stream says so.
   */
  async extend(name: string, seconds: number): Promise<IShell> {
    const shell = this.model.get(name) ?? (await this.model.api.get(name));
    if (!shell) {
      throw new Error(`The shell "${name}" no longer exists.`);
    }
    const extended = await this.model.api.extend(shell, seconds);
    this.model.upsert(extended);
    return extended;
  }

  /** Reconnect a shell's open terminal, or open one. */
  async reconnect(name: string): Promise<void> {
    const widget = this.find(name);
    if (widget) {
      widget.content.reconnect();
      this.app.shell.activateById(widget.id);
    } else {
      await this.open(name);
    }
  }
}

/**
 * Ask before deleting; Cancel is the default button (Enter on a dialog opened by mistake keeps the
 * shells). Resolves true when the user chose to delete.
 */
export async function confirmDelete(title: string, body: string, label: string): Promise<boolean> {
  const result = await showDialog({
    title,
    body,
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label })],
    defaultButton: 0
  });
  return result.button.accept;
}

/**
 * "Remove ended shells": after one confirmation, delete every shell that has ended. Resolves to the
 * names removed (none when the user said no); the server's refusals are thrown after the rest.
 */
export async function removeEndedShells(model: ShellsModel): Promise<string[]> {
  const names = model.shells.filter(hasEnded).map(shell => shell.name);
  if (names.length === 0) {
    return [];
  }
  const one = names.length === 1;
  const which = one
    ? `the ended shell "${names[0]}"`
    : `${names.length} ended shells (${names.join(', ')})`;
  if (
    !(await confirmDelete(
      'Remove ended shells?',
      `Remove ${which}? ${one ? 'Its' : 'Their'} output is lost.`,
      'Remove'
    ))
  ) {
    return [];
  }
  return model.deleteShells(names);
}
