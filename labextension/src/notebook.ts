/**
 * The notebook terminal widget's registration with the ipywidgets manager (`@jupyter-widgets/base`),
 * made without loading a copy of that package: the extension does not bundle it (package.json's
 * `sharedPackages`), so the page keeps the widget manager's own copy, and reaches it lazily, so a
 * page without the widget manager (disabled, or an older one) still has the panel and the tabs.
 * The widget's classes (widget.ts) load when a notebook first shows one.
 */
import type { IJupyterWidgetRegistry } from '@jupyter-widgets/base';
import { JupyterFrontEnd } from '@jupyterlab/application';
import { ISignal } from '@lumino/signaling';

import { IShell, ShellsApi } from './api';
import type { ITerminalSettings, ShellTerminal } from './terminal';

/** The module name and version the Python side asks for (`_model_module`, `_model_module_version`). */
export const MODULE_NAME = 'jupyter-cloudtty';
export const MODULE_VERSION = '0.1.0';

/** What notebook terminals share with the extension's terminal tabs. */
export interface INotebookTerminals {
  api: ShellsApi;
  /** The user's terminal settings, as they are now. */
  settings: () => ITerminalSettings;
  /** A shell as the live list knows it, and when that changes (the "starting" banner). */
  live: (name: string) => IShell | undefined;
  liveChanged: ISignal<unknown, void>;
  /** The terminals shown in notebooks: the extension restyles them with its tabs. */
  shown: Set<ShellTerminal>;
}

/**
 * Register `jupyter_cloudtty.ShellTerminal`'s model and view with the page's widget manager, if
 * it has one; resolves to whether it did. Never rejects: a page without ipywidgets only lacks
 * this widget.
 */
export async function registerNotebookTerminals(
  app: JupyterFrontEnd,
  context: INotebookTerminals
): Promise<boolean> {
  let registry: IJupyterWidgetRegistry | null;
  try {
    // The widget manager's copy, already loaded by it; no copy of ours exists to fall back to.
    const base = await import('@jupyter-widgets/base');
    // The manager's copy is whatever version it has (a shared singleton out of range is handed over
    // with only a warning): the widget is written for the widgets protocol 2 (ipywidgets 8).
    const protocol = String(base.JUPYTER_WIDGETS_VERSION ?? '0');
    if (Number(protocol.split('.')[0]) < 2) {
      console.warn(`jupyter-cloudtty: the notebook terminal needs ipywidgets 8, not ${protocol}`);
      return false;
    }
    // Tokens are matched by identity: the manager's token, from the manager's module.
    registry = await app.resolveOptionalService(base.IJupyterWidgetRegistry);
  } catch {
    registry = null; // no widget manager on this page
  }
  if (!registry) {
    return false;
  }
  type Classes = ReturnType<typeof import('./widget').notebookTerminalWidgets>;
  let classes: Promise<Classes> | null = null;
  registry.registerWidget({
    name: MODULE_NAME,
    version: MODULE_VERSION,
    // Called when a notebook first shows the widget: only then do its classes load (once, however
    // many models of a restored notebook ask at the same time).
    exports: () => {
      classes ??= import('./widget').then(widget => widget.notebookTerminalWidgets(context));
      return classes;
    }
  });
  return true;
}
