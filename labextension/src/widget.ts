/**
 * The terminal widget of a notebook's output (ipywidgets): the view of Python's
 * `jupyter_cloudtty.ShellTerminal` is the terminal of a terminal tab (xterm.js on the same ttyd
 * client, with the same theme, font, settings, banners and resume), connected from this page with
 * the page's own server settings (base URL, cookie and XSRF, or token), never with an address the
 * kernel knows. Loaded when a notebook first shows one (notebook.ts registers it).
 */
import { DOMWidgetModel, DOMWidgetView, ISerializers } from '@jupyter-widgets/base';
import { PanelLayout } from '@lumino/widgets';

import { shellIcon } from './icons';
import { INotebookTerminals, MODULE_NAME, MODULE_VERSION } from './notebook';
import { ShellTerminal } from './terminal';

/** The model and view classes, bound to the extension's shared state; registered with the widget manager. */
export function notebookTerminalWidgets(context: INotebookTerminals): {
  ShellTerminalModel: typeof DOMWidgetModel;
  ShellTerminalView: typeof DOMWidgetView;
} {
  class ShellTerminalModel extends DOMWidgetModel {
    override defaults(): Record<string, unknown> {
      return {
        ...(super.defaults() as Record<string, unknown>),
        _model_name: 'ShellTerminalModel',
        _model_module: MODULE_NAME,
        _model_module_version: MODULE_VERSION,
        _view_name: 'ShellTerminalView',
        _view_module: MODULE_NAME,
        _view_module_version: MODULE_VERSION,
        name: ''
      };
    }

    static override serializers: ISerializers = { ...DOMWidgetModel.serializers };
  }

  class ShellTerminalView extends DOMWidgetView {
    override render(): void {
      this.el.classList.add('jp-CloudTTY-notebook-terminal');
      const terminal = new ShellTerminal({
        name: this.model.get('name') as string,
        api: context.api,
        settings: context.settings(),
        live: context.live,
        liveChanged: context.liveChanged,
        closable: false
      });
      // A child of the view's Lumino widget: attach, show and resize messages reach it, and
      // disposing the view (output cleared, widget closed) disposes it and its connection.
      const layout = new PanelLayout();
      this.luminoWidget.layout = layout;
      layout.addWidget(terminal);
      this.el.prepend(header(terminal));
      context.shown.add(terminal);
      terminal.disposed.connect(() => context.shown.delete(terminal));
    }
  }

  return { ShellTerminalModel, ShellTerminalView };
}

/** A strip above the terminal: which shell this is, and what runs in it (the second part of a tab's label). */
function header(terminal: ShellTerminal): HTMLElement {
  const node = document.createElement('div');
  node.className = 'jp-CloudTTY-notebook-header';
  const name = document.createElement('span');
  name.className = 'jp-CloudTTY-notebook-name';
  name.textContent = terminal.shellName;
  const title = document.createElement('span');
  title.className = 'jp-CloudTTY-notebook-title';
  const update = () => {
    title.textContent = terminal.subtitle;
    node.title = terminal.title.caption;
  };
  terminal.title.changed.connect(update);
  update();
  node.append(
    shellIcon.element({ className: 'jp-CloudTTY-notebook-icon', tag: 'span' }),
    name,
    title
  );
  return node;
}
