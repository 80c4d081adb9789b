/**
 * Recorded terminal sessions: the server's list (`GET /cloudtty/api/recordings`), and one opened in
 * the player: through the document manager when the contents API serves the file (a `.cast` tab, as
 * from the file browser), else from the REST API's bytes (a folder outside the root, or hidden).
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { MainAreaWidget } from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { API_PATH, ShellApiError, errorMessage } from './api';
import { IRecording, IRecordingList, recordingLabel, recordingsQuery } from './casts';
import { recordingIcon } from './icons';
import { REPLAY_FACTORY, ReplayView } from './replay';

/** `/cloudtty/api/recordings` through JupyterLab's ServerConnection (its XSRF header or token). */
export class RecordingsApi {
  constructor(readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()) {}

  /** Newest first; rejects with the server's message (a ShellApiError). */
  async list(options: { shell?: string; q?: string } = {}): Promise<IRecordingList> {
    const text = await this._get(`recordings${recordingsQuery(options)}`);
    return JSON.parse(text) as IRecordingList;
  }

  /** A recording's text (its `.cast` file). */
  async text(file: string): Promise<string> {
    return this._get(`recordings/${encodeURIComponent(file)}`);
  }

  private async _get(path: string): Promise<string> {
    const url = URLExt.join(this.settings.baseUrl, API_PATH, path);
    const response = await ServerConnection.makeRequest(url, {}, this.settings);
    const text = await response.text();
    if (!response.ok) {
      throw new ShellApiError(errorMessage(text, response), response.status);
    }
    return text;
  }
}

/** What the panel's "Recordings" action does: list a shell's recordings, open one. */
export interface IRecordingActions {
  list(shell: string): Promise<IRecording[]>;
  open(recording: IRecording): Promise<void>;
}

export function recordingActions(app: JupyterFrontEnd, api?: RecordingsApi): IRecordingActions {
  const recordings = api ?? new RecordingsApi(app.serviceManager.serverSettings);
  return {
    list: async shell => (await recordings.list({ shell })).recordings,
    open: recording => openRecording(app, recordings, recording)
  };
}

/** A recording in a player tab: its file's own tab when it is inside the root, else from its bytes. */
export async function openRecording(
  app: JupyterFrontEnd,
  api: RecordingsApi,
  recording: IRecording
): Promise<void> {
  if (recording.path !== null && (await reachable(app, recording.path))) {
    await app.commands.execute('docmanager:open', {
      path: recording.path,
      factory: REPLAY_FACTORY
    });
    return;
  }
  const id = `jp-CloudTTY-recording-${recording.file}`;
  const open = Array.from(app.shell.widgets('main')).find(widget => widget.id === id);
  if (open) {
    app.shell.activateById(id);
    return;
  }
  const text = await api.text(recording.file);
  const content = new ReplayView({ fit: 'both', autoPlay: true });
  const widget = new MainAreaWidget({ content });
  widget.id = id;
  widget.addClass('jp-CloudTTY-replay-document');
  widget.title.label = recording.file;
  widget.title.caption = `Terminal recording of ${recording.shell}: ${recordingLabel(recording)}`;
  widget.title.icon = recordingIcon;
  widget.title.closable = true;
  app.shell.add(widget, 'main');
  content.load(text);
  app.shell.activateById(id);
}

/**
 * Whether the contents API serves this path: the default folder, `.cloudtty/recordings`, is hidden,
 * and Jupyter serves hidden files only with `c.ContentsManager.allow_hidden = True`.
 */
async function reachable(app: JupyterFrontEnd, path: string): Promise<boolean> {
  try {
    await app.serviceManager.contents.get(path, { content: false });
    return true;
  } catch {
    return false;
  }
}
