/**
 * jupyter-cloudtty's JupyterLab extension: the "Cluster shells" side panel, terminal tabs
 * on the server's ttyd WebSocket, commands (launcher, palette, context menus), settings,
 * the running-sessions section, search, layout restoration, the terminal widget of a
 * notebook's output (`jupyter_cloudtty.ShellTerminal`, through the ipywidgets manager), and
 * files in and out of shells (the upload and download commands; drops are the terminal's).
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import {
  Clipboard,
  ICommandPalette,
  IThemeManager,
  InputDialog,
  Notification,
  WidgetTracker,
  showErrorMessage
} from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { ISearchProviderRegistry } from '@jupyterlab/documentsearch';
import { FileDialog, IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { ILauncher } from '@jupyterlab/launcher';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { IRunningSessionManagers } from '@jupyterlab/running';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { copyIcon, pasteIcon, refreshIcon } from '@jupyterlab/ui-components';
import { Signal } from '@lumino/signaling';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import { ShellActions, ShellWidget } from './actions';
import { ShellsApi, hasEnded, ttlSeconds } from './api';
import { shellIcon } from './icons';
import { IPanelActions, IPanelDefaults, ShellsPanel } from './panel';
import { buildSpec, extendLabel, humanizeSeconds, parseDuration } from './presets';
import { recordingActions } from './recordings';
import { registerReplay } from './replay';
import { addRunningShells } from './running';
import { ShellSearchProvider } from './search';
import { ShellsModel } from './shells';
import { ITerminalSettings, ShellTerminal } from './terminal';
import { jupyterLabFont } from './theme';
import {
  ITransferView,
  TransferDone,
  TransferRequest,
  jupyterPaths,
  showTransfer
} from './transfers';
import { registerNotebookTerminals } from './notebook';

const PLUGIN_ID = 'jupyter-cloudtty:plugin';

export namespace CommandIDs {
  export const create = 'cloudtty:new';
  export const createWithOptions = 'cloudtty:new-with-options';
  export const open = 'cloudtty:open';
  export const openByName = 'cloudtty:open-by-name';
  export const openSelected = 'cloudtty:open-selected';
  export const remove = 'cloudtty:delete';
  export const extend = 'cloudtty:extend';
  export const reconnect = 'cloudtty:reconnect';
  export const copyName = 'cloudtty:copy-name';
  export const copy = 'cloudtty:copy';
  export const paste = 'cloudtty:paste';
  export const showPanel = 'cloudtty:show-panel';
  export const increaseFont = 'cloudtty:increase-font';
  export const decreaseFont = 'cloudtty:decrease-font';
  export const upload = 'cloudtty:upload';
  export const download = 'cloudtty:download';
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Cluster shells: a side panel of CloudTTY shells and their terminals.',
  autoStart: true,
  optional: [
    ILayoutRestorer,
    ILauncher,
    ICommandPalette,
    ISettingRegistry,
    IThemeManager,
    IRunningSessionManagers,
    ISearchProviderRegistry,
    IDefaultFileBrowser,
    IDocumentManager
  ],
  activate
};

// --- Terminal recordings (issue 21): the player ------------------------------------------------

/** `.cast` files open in a "Terminal Recording" tab; `%cloudtty replay` outputs play in notebooks. */
const replayPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-cloudtty:replay',
  description: 'Terminal recordings (asciicast) played in tabs and in notebook outputs.',
  autoStart: true,
  optional: [IRenderMimeRegistry, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    rendermime: IRenderMimeRegistry | null,
    restorer: ILayoutRestorer | null
  ) => registerReplay(app, rendermime, restorer)
};

// ------------------------------------------------------------------------------------------------

export default [plugin, replayPlugin];

function activate(
  app: JupyterFrontEnd,
  restorer: ILayoutRestorer | null,
  launcher: ILauncher | null,
  palette: ICommandPalette | null,
  settingRegistry: ISettingRegistry | null,
  themeManager: IThemeManager | null,
  runningManagers: IRunningSessionManagers | null,
  searchRegistry: ISearchProviderRegistry | null,
  fileBrowser: IDefaultFileBrowser | null,
  docManager: IDocumentManager | null
): Promise<void> {
  const model = new ShellsModel({ api: new ShellsApi(app.serviceManager.serverSettings) });
  const tracker = new WidgetTracker<ShellWidget>({ namespace: 'cloudtty' });

  // Settings: the terminals' and the "New shell" defaults.
  const terminalSettings: ITerminalSettings = {
    fontSize: null,
    scrollback: 10000,
    downloadsTo: 'jupyter'
  };
  const defaults: IPanelDefaults = { preset: 'shell', ttl: '' };
  const actions = new ShellActions(app, model, tracker, () => terminalSettings);
  // Terminals in notebooks' outputs (ShellTerminal widgets) follow settings and theme as tabs do.
  const notebookTerminals = new Set<ShellTerminal>();

  if (settingRegistry) {
    const update = (settings: ISettingRegistry.ISettings) => {
      const fontSize = settings.get('fontSize').composite;
      terminalSettings.fontSize = typeof fontSize === 'number' ? fontSize : null;
      terminalSettings.scrollback = settings.get('scrollback').composite as number;
      terminalSettings.downloadsTo =
        settings.get('downloadsTo').composite === 'browser' ? 'browser' : 'jupyter';
      defaults.preset = settings.get('defaultPreset').composite as string;
      const ttl = settings.get('defaultTtl').composite as string;
      try {
        parseDuration(ttl);
        defaults.ttl = ttl;
      } catch {
        console.warn(`jupyter-cloudtty: ignoring the default time to live "${ttl}"`);
        defaults.ttl = '';
      }
      tracker.forEach(widget => widget.content.setSettings(terminalSettings));
      notebookTerminals.forEach(terminal => terminal.setSettings(terminalSettings));
    };
    settingRegistry
      .load(PLUGIN_ID)
      .then(settings => {
        update(settings);
        settings.changed.connect(update);
      })
      .catch(reason => console.error('jupyter-cloudtty: cannot load settings', reason));
  }

  // JupyterLab's theme and code font, followed live.
  const restyle = () => {
    tracker.forEach(widget => widget.content.updateAppearance());
    notebookTerminals.forEach(terminal => terminal.updateAppearance());
  };
  themeManager?.themeChanged.connect(restyle);
  // Font size overrides ("Increase Code Font Size") are CSS variables on <html>.
  new MutationObserver(restyle).observe(document.documentElement, {
    attributes: true,
    attributeFilter: ['style']
  });

  // Terminal states, for the panel's "open" and "reconnect" marks.
  const terminalsChanged = new Signal<unknown, void>(tracker);
  tracker.widgetAdded.connect((_, widget) => {
    widget.content.connectionStateChanged.connect(() => terminalsChanged.emit());
    widget.disposed.connect(() => terminalsChanged.emit());
    terminalsChanged.emit();
  });

  const panelActions: IPanelActions = {
    create: async request => {
      await actions.createAndOpen(request);
    },
    open: name => void actions.open(name).catch(showError('Cannot open the shell')),
    delete: name => actions.delete(name, true),
    extend: async (name, seconds) => {
      await actions.extend(name, seconds);
    },
    reconnect: name => void actions.reconnect(name),
    terminalState: name => actions.find(name)?.content.connectionState ?? null,
    terminalsChanged,
    recordings: recordingActions(app) // a recorded shell's sessions (issue 21), in the player
  };
  const panel = new ShellsPanel(model, panelActions, () => defaults);
  app.shell.add(panel, 'left', { rank: 650, type: 'Cluster Shells' });
  model.start();
  followActiveShell(app, tracker, panel);

  // The file browser's drag data are its paths; the server wants them without a drive's prefix.
  const contents = app.serviceManager.contents;
  jupyterPaths.local = path => contents.localPath(path);
  addCommands(app, actions, panel, defaults, { fileBrowser, docManager }, listRead(model));
  addFontCommands(app, settingRegistry, terminalSettings);

  if (restorer) {
    restorer.add(panel, 'jupyter-cloudtty-panel');
    void restorer.restore(tracker, {
      command: CommandIDs.open,
      // With the server's window title: a restored tab not yet shown is labelled as it was.
      args: widget => ({
        name: widget.content.shellName,
        restoring: true,
        ...(widget.content.serverTitle ? { title: widget.content.serverTitle } : {})
      }),
      name: widget => widget.content.shellName
    });
    // Save it again when that title comes (once a connection: programs' titles are not saved).
    tracker.widgetAdded.connect((_, widget) => {
      let saved = widget.content.serverTitle;
      widget.content.title.changed.connect(() => {
        if (widget.content.serverTitle !== saved) {
          saved = widget.content.serverTitle;
          void tracker.save(widget);
        }
      });
    });
  }
  launcher?.add({ command: CommandIDs.create, category: 'Other', rank: 1 });
  if (palette) {
    const category = 'Cluster Shells';
    for (const command of [
      CommandIDs.create,
      CommandIDs.createWithOptions,
      CommandIDs.openByName,
      CommandIDs.showPanel,
      CommandIDs.reconnect,
      CommandIDs.upload,
      CommandIDs.download,
      CommandIDs.increaseFont,
      CommandIDs.decreaseFont
    ]) {
      palette.addItem({ command, category, args: { isPalette: true } });
    }
  }
  if (runningManagers) {
    addRunningShells(runningManagers, actions);
  }
  searchRegistry?.add('jupyter-cloudtty', ShellSearchProvider);
  // Awaited: a notebook restored with the page finds the widget registered.
  return registerNotebookTerminals(app, {
    api: model.api,
    settings: () => terminalSettings,
    live: name => model.get(name),
    liveChanged: model.changed,
    shown: notebookTerminals
  }).then(() => undefined);
}

/** Font size commands: they change the `fontSize` setting, which every terminal follows. */
function addFontCommands(
  app: JupyterFrontEnd,
  settingRegistry: ISettingRegistry | null,
  terminalSettings: ITerminalSettings
): void {
  const step = (delta: number) => async () => {
    if (!settingRegistry) {
      return;
    }
    const current = terminalSettings.fontSize ?? jupyterLabFont().fontSize;
    const size = Math.min(72, Math.max(6, Math.round(current) + delta));
    await settingRegistry
      .set(PLUGIN_ID, 'fontSize', size)
      .catch(showError('Cannot change the font size'));
  };
  app.commands.addCommand(CommandIDs.increaseFont, {
    label: 'Increase Cluster Shell Font Size',
    isEnabled: () => settingRegistry !== null,
    execute: step(1)
  });
  app.commands.addCommand(CommandIDs.decreaseFont, {
    label: 'Decrease Cluster Shell Font Size',
    isEnabled: () => settingRegistry !== null,
    execute: step(-1)
  });
}

function showError(title: string): (error: unknown) => void {
  return error => void showErrorMessage(title, (error as Error).message ?? String(error));
}

/** What the transfer commands use of JupyterLab's files, when it has them. */
interface IJupyterFiles {
  fileBrowser: IDefaultFileBrowser | null;
  docManager: IDocumentManager | null;
}

/**
 * Tell the panel which shell's tab is the main area's current widget (null: none is), so it can
 * highlight that shell; again when a tab starts a new shell in its place.
 */
function followActiveShell(
  app: JupyterFrontEnd,
  tracker: WidgetTracker<ShellWidget>,
  panel: ShellsPanel
): void {
  let shown: string | null | undefined;
  const follow = () => {
    const current = app.shell.currentWidget;
    const widget = current ? tracker.find(w => w === current) : undefined;
    const name = widget?.content.shellName ?? null;
    if (name !== shown) {
      shown = name;
      panel.setActiveShell(name);
    }
  };
  app.shell.currentChanged?.connect(follow);
  tracker.currentChanged.connect(follow);
  tracker.widgetAdded.connect((_, widget) => {
    widget.content.renamed.connect(follow);
    widget.disposed.connect(follow);
    follow();
  });
  follow();
}

/**
 * Resolves once the shells' list has been read, or could not be (a restored tab then asks the
 * server about its shell), or after `timeout` ms: the layout restorer waits for it, and JupyterLab
 * for the restorer.
 */
function listRead(model: ShellsModel, timeout = 10000): Promise<void> {
  return new Promise(resolve => {
    const check = () => {
      if (model.loaded || model.error !== null) {
        model.changed.disconnect(check);
        clearTimeout(timer);
        resolve();
      }
    };
    const timer = setTimeout(() => {
      model.changed.disconnect(check);
      resolve();
    }, timeout);
    model.changed.connect(check);
    check();
  });
}

/**
 * Move the keyboard into the panel: to the active tab's shell, else to the first shell, else to
 * the panel's first control (its list is rendered by then: the panel renders while hidden too).
 */
function focusPanel(panel: ShellsPanel, active: string | null): void {
  const control = 'button:not([disabled]), input, select, [tabindex]:not([tabindex="-1"])';
  const item =
    (active
      ? panel.node.querySelector(`.jp-CloudTTY-shell[data-shell-name="${CSS.escape(active)}"]`)
      : null) ?? panel.node.querySelector('.jp-CloudTTY-shell');
  const target =
    item?.querySelector<HTMLElement>(control) ?? panel.node.querySelector<HTMLElement>(control);
  if (target) {
    target.focus();
  } else {
    panel.node.tabIndex = -1;
    panel.node.focus();
  }
}

function addCommands(
  app: JupyterFrontEnd,
  actions: ShellActions,
  panel: ShellsPanel,
  defaults: IPanelDefaults,
  files: IJupyterFiles,
  listed: Promise<void>
): void {
  const { commands } = app;
  const { model, tracker } = actions;

  /** The shell a command is about: its argument, the right-clicked item, or the selected text. */
  const targetName = (args: ReadonlyPartialJSONObject): string | null => {
    if (typeof args.name === 'string' && args.name) {
      return args.name;
    }
    const item = app.contextMenuHitTest(node => node.classList.contains('jp-CloudTTY-shell'));
    if (item?.dataset.shellName) {
      return item.dataset.shellName;
    }
    const terminal = app.contextMenuHitTest(node =>
      node.classList.contains('jp-CloudTTY-terminal')
    );
    if (terminal?.dataset.shellName) {
      return terminal.dataset.shellName;
    }
    // A tab of the main area: JupyterLab gives each tab its widget's id as `data-id`.
    const tab = app.contextMenuHitTest(node => node.classList.contains('lm-TabBar-tab'));
    if (tab?.dataset.id) {
      const widget = tracker.find(w => w.id === tab.dataset.id);
      return widget ? widget.content.shellName : null;
    }
    const selected = window.getSelection()?.toString().trim() ?? '';
    return selected && model.get(selected) ? selected : null;
  };

  /** The terminal a command is about: the right-clicked one, else the current one. */
  const targetTerminal = (): ShellWidget | null => {
    const node = app.contextMenuHitTest(n => n.classList.contains('jp-CloudTTY-terminal'));
    const name = node?.dataset.shellName;
    return (name ? actions.find(name) : null) ?? tracker.currentWidget;
  };

  commands.addCommand(CommandIDs.create, {
    label: args => (args.isPalette ? 'New Cluster Shell' : 'Cluster Shell'),
    caption: 'Start a cluster shell with your default preset and open its terminal',
    icon: args => (args.isPalette ? undefined : shellIcon),
    execute: async args => {
      const built = buildSpec({
        preset: (args.preset as string) ?? defaults.preset,
        fields: {},
        ttl: (args.ttl as string) ?? defaults.ttl,
        once: false
      });
      if ('error' in built) {
        // The default preset needs a pod: the form asks for it.
        app.shell.activateById(panel.id);
        panel.showForm();
        return null;
      }
      performance.mark('cloudtty:new-shell-click');
      try {
        return await actions.createAndOpen({
          ...(typeof args.name === 'string' ? { name: args.name } : {}),
          spec: built.spec
        });
      } catch (error) {
        showError('Cannot create the shell')(error);
        return null;
      }
    }
  });

  commands.addCommand(CommandIDs.createWithOptions, {
    label: 'New Cluster Shell…',
    caption: 'Choose a preset, a time to live and a name for a new cluster shell',
    execute: () => {
      app.shell.activateById(panel.id);
      panel.showForm();
    }
  });

  commands.addCommand(CommandIDs.open, {
    label: args => (args.name ? `Open Cluster Shell ${args.name as string}` : 'Open Cluster Shell'),
    execute: async args => {
      const name = targetName(args);
      if (!name) {
        return null;
      }
      const restoring = args.restoring === true;
      if (restoring) {
        await listed;
        if (model.loaded && model.error === null && !model.get(name)) {
          // Gone while the page was away: the restorer forgets a tab whose command fails, so
          // no later load asks the server about it again (a 404 in the console each time).
          throw new Error(`The shell "${name}" no longer exists.`);
        }
      }
      try {
        const widget = await actions.open(name, { restoring });
        if (restoring && typeof args.title === 'string') {
          widget?.content.restoreTitle(args.title);
        }
        return widget;
      } catch (error) {
        if (!restoring) {
          showError('Cannot open the shell')(error);
        }
        return null;
      }
    }
  });

  commands.addCommand(CommandIDs.openByName, {
    label: 'Open Cluster Shell…',
    caption: 'Open the terminal of one of your cluster shells',
    execute: async () => {
      const names = model.shells.map(shell => shell.name);
      if (names.length === 0) {
        await showErrorMessage('No cluster shells', 'Start one with "New Cluster Shell".');
        return;
      }
      const result = await InputDialog.getItem({ title: 'Open Cluster Shell', items: names });
      if (result.button.accept && result.value) {
        await actions.open(result.value).catch(showError('Cannot open the shell'));
      }
    }
  });

  commands.addCommand(CommandIDs.openSelected, {
    label: () => {
      const name = targetName({});
      return name ? `Open Cluster Shell "${name}"` : 'Open Cluster Shell';
    },
    caption: 'Open the terminal of the selected cluster shell',
    icon: shellIcon,
    isVisible: () => targetName({}) !== null,
    execute: async () => {
      const name = targetName({});
      if (name) {
        await actions.open(name).catch(showError('Cannot open the shell'));
      }
    }
  });

  commands.addCommand(CommandIDs.remove, {
    label: 'Delete Shell…',
    caption: 'End the shell and forget it',
    isEnabled: args => targetName(args) !== null,
    execute: async args => {
      const name = targetName(args);
      if (name) {
        await actions.delete(name, true).catch(showError('Cannot delete the shell'));
      }
    }
  });

  commands.addCommand(CommandIDs.extend, {
    label: args => extendLabel(typeof args.seconds === 'number' ? args.seconds : 3600),
    caption: 'Give the shell more time to live',
    isEnabled: args => {
      const shell = model.get(targetName(args) ?? '');
      return !!shell && !hasEnded(shell) && ttlSeconds(shell) !== null;
    },
    execute: async args => {
      const name = targetName(args);
      const seconds = typeof args.seconds === 'number' ? args.seconds : 3600;
      if (name) {
        await actions.extend(name, seconds).catch(error => {
          const message = humanizeSeconds((error as Error).message ?? String(error));
          void showErrorMessage(`Cannot extend ${name}`, message);
        });
      }
    }
  });

  commands.addCommand(CommandIDs.reconnect, {
    label: args => (args.isPalette ? 'Reconnect Cluster Shell Terminal' : 'Reconnect'),
    icon: args => (args.isPalette ? undefined : refreshIcon),
    isEnabled: args => targetName(args) !== null || tracker.currentWidget !== null,
    execute: async args => {
      const name = targetName(args) ?? tracker.currentWidget?.content.shellName;
      if (name) {
        await actions.reconnect(name).catch(showError('Cannot reconnect'));
      }
    }
  });

  commands.addCommand(CommandIDs.copyName, {
    label: 'Copy Shell Name',
    isEnabled: args => targetName(args) !== null,
    execute: args => {
      const name = targetName(args);
      if (name) {
        Clipboard.copyToSystem(name);
      }
    }
  });

  commands.addCommand(CommandIDs.copy, {
    label: 'Copy',
    icon: copyIcon.bindprops({ stylesheet: 'menuItem' }),
    isEnabled: () => targetTerminal()?.content.hasSelection() ?? false,
    execute: () => {
      const widget = targetTerminal();
      const text = widget?.content.getSelection();
      if (widget && text) {
        Clipboard.copyToSystem(text);
        widget.content.activate();
      }
    }
  });

  commands.addCommand(CommandIDs.paste, {
    label: 'Paste',
    icon: pasteIcon.bindprops({ stylesheet: 'menuItem' }),
    isEnabled: () => targetTerminal() !== null,
    execute: async () => {
      const widget = targetTerminal();
      if (!widget) {
        return;
      }
      const text = await navigator.clipboard.readText();
      if (text) {
        widget.content.paste(text);
      }
      widget.content.activate();
    }
  });

  addTransferCommands(app, actions, targetName, files);

  commands.addCommand(CommandIDs.showPanel, {
    label: 'Show Cluster Shells',
    caption: 'Open the Cluster shells panel and move the keyboard focus to it',
    execute: () => {
      // The current terminal's shell, read before the panel takes the focus.
      const current = app.shell.currentWidget;
      const active = tracker.find(widget => widget === current)?.content.shellName ?? null;
      app.shell.activateById(panel.id);
      // After the panel is shown and rendered: its list is there to take the focus.
      requestAnimationFrame(() => focusPanel(panel, active));
    }
  });
}

/**
 * "Upload Files to Shell…" (files of the Jupyter server, picked in JupyterLab's file dialog) and
 * "Download File from Shell…" (a path in the shell, saved into the file browser's folder): the
 * server's transfers, shown in the shell's open tab, else as a notification.
 */
function addTransferCommands(
  app: JupyterFrontEnd,
  actions: ShellActions,
  targetName: (args: ReadonlyPartialJSONObject) => string | null,
  files: IJupyterFiles
): void {
  const { commands } = app;
  const { model, tracker } = actions;
  const { fileBrowser, docManager } = files;
  const contents = app.serviceManager.contents;

  /** The shell: the right-clicked one, the command's argument, else the current terminal's. */
  const shellOf = (args: ReadonlyPartialJSONObject): string | null => {
    const name = targetName(args);
    if (name) {
      return name;
    }
    // In the palette, only a terminal that is the current widget counts (not one left behind).
    const current = tracker.currentWidget;
    return current && app.shell.currentWidget === current ? current.content.shellName : null;
  };
  const running = (name: string | null): boolean => {
    const shell = name ? model.get(name) : undefined;
    return !!name && (!shell || !hasEnded(shell));
  };
  const run = (name: string, request: TransferRequest): Promise<TransferDone | null> => {
    const widget = actions.find(name);
    if (widget) {
      app.shell.activateById(widget.id);
      return widget.content.transfer(request);
    }
    return showTransfer(model.api.settings, name, request, new TransferNotification());
  };

  commands.addCommand(CommandIDs.upload, {
    label: args => (args.isPalette ? 'Upload Files to Cluster Shell…' : 'Upload Files to Shell…'),
    caption: "Send files of the Jupyter server into the shell's current directory",
    isVisible: args => args.isPalette === true || targetName(args) !== null,
    isEnabled: args => docManager !== null && running(shellOf(args)),
    execute: async args => {
      const name = shellOf(args);
      if (!name || !docManager) {
        return;
      }
      const result = await FileDialog.getOpenFiles({
        manager: docManager,
        title: `Upload Files to ${name}`,
        label: "Pick files: they go into the shell's current directory."
      });
      // Nothing picked gives the dialog's folder: only files are sent.
      const paths = (result.value ?? [])
        .filter(item => item.type !== 'directory')
        .map(item => contents.localPath(item.path));
      if (result.button.accept && paths.length > 0) {
        await run(name, { direction: 'upload', paths });
      }
    }
  });

  commands.addCommand(CommandIDs.download, {
    label: args =>
      args.isPalette ? 'Download File from Cluster Shell…' : 'Download File from Shell…',
    caption: "Save a file of the shell into the file browser's folder",
    isVisible: args => args.isPalette === true || targetName(args) !== null,
    isEnabled: args => running(shellOf(args)),
    execute: async args => {
      const name = shellOf(args);
      if (!name) {
        return;
      }
      const to = fileBrowser ? contents.localPath(fileBrowser.model.path) : '';
      const result = await InputDialog.getText({
        title: `Download File from ${name}`,
        label: `Its path in the shell (relative to the shell's current directory); it is saved in "${to || '/'}".`,
        placeholder: 'e.g. report.csv or /tmp/out.log'
      });
      const path = result.value?.trim() ?? '';
      if (!result.button.accept || !path) {
        return;
      }
      const done = await run(name, { direction: 'download', remote: [path], to });
      if (done) {
        await fileBrowser?.model.refresh();
      }
    }
  });
}

/** A transfer shown as a JupyterLab notification (when no terminal tab of the shell is open). */
class TransferNotification implements ITransferView {
  started(text: string, cancel: () => void): void {
    this._id = Notification.emit(text, 'in-progress', {
      autoClose: false,
      progress: 0,
      actions: [{ label: 'Cancel', callback: () => cancel(), displayType: 'warn' }]
    });
  }

  progress(text: string, fraction: number | null): void {
    Notification.update({
      id: this._id,
      message: text,
      type: 'in-progress',
      autoClose: false,
      ...(fraction !== null ? { progress: fraction } : {})
    });
  }

  finished(text: string): void {
    Notification.update({
      id: this._id,
      message: text,
      type: 'success',
      autoClose: 8000,
      actions: []
    });
  }

  failed(text: string): void {
    Notification.update({
      id: this._id,
      message: text,
      type: 'error',
      autoClose: false,
      actions: []
    });
  }

  private _id = '';
}
