/**
 * Open shells in JupyterLab's "Running Terminals and Kernels" panel, where users already
 * look for what runs: a "Cluster Shells" section whose items open or delete a shell.
 */
import { showErrorMessage } from '@jupyterlab/apputils';
import { IRunningSessionManagers, IRunningSessions } from '@jupyterlab/running';
import { IDisposable } from '@lumino/disposable';

import { ShellActions } from './actions';
import { IShell, hasEnded, idleTimeoutSeconds, ttlSeconds } from './api';
import { shellIcon } from './icons';
import { formatDuration } from './presets';
import { startNote, startingLabel } from './start';

class RunningShell implements IRunningSessions.IRunningItem {
  constructor(
    private readonly _shell: IShell,
    private readonly _actions: ShellActions
  ) {}

  className = 'jp-CloudTTY-running-item';
  context = 'cloudtty-shell';

  open(): void {
    void this._actions.open(this._shell.name);
  }

  shutdown(): void {
    const name = this._shell.name;
    this._actions
      .delete(name, false)
      .catch(error => void showErrorMessage(`Cannot delete ${name}`, (error as Error).message));
  }

  icon(): typeof shellIcon {
    return shellIcon;
  }

  label(): string {
    return this._shell.name;
  }

  labelTitle(): string {
    const { spec, status } = this._shell;
    const ttl = ttlSeconds(this._shell);
    const idle = idleTimeoutSeconds(this._shell);
    const start = startingLabel(this._shell) ?? startNote(this._shell);
    return [
      `Shell: ${this._shell.name}`,
      `Command: ${spec?.commandAction ?? 'interactive shell'}`,
      `Phase: ${status?.phase || 'Pending'}`,
      start ? start.title : '',
      ttl ? `Time to live: ${formatDuration(ttl)}` : '',
      idle ? `Ends after ${formatDuration(idle)} idle` : ''
    ]
      .filter(Boolean)
      .join('\n');
  }

  detail(): string {
    return this._shell.spec?.commandAction ?? '';
  }
}

/** Add the section; shells that still run are listed. */
export function addRunningShells(
  managers: IRunningSessionManagers,
  actions: ShellActions
): IDisposable {
  const { model } = actions;
  return managers.add({
    name: 'Cluster Shells',
    supportsMultipleViews: false,
    running: () =>
      model.shells.filter(shell => !hasEnded(shell)).map(shell => new RunningShell(shell, actions)),
    shutdownAll: () => {
      for (const shell of model.shells.filter(shell => !hasEnded(shell))) {
        actions
          .delete(shell.name, false)
          .catch(
            error => void showErrorMessage(`Cannot delete ${shell.name}`, (error as Error).message)
          );
      }
    },
    refreshRunning: () => void model.refresh().catch(() => undefined),
    runningChanged: model.changed,
    shutdownLabel: 'Delete Shell',
    shutdownAllLabel: 'Delete All',
    shutdownAllConfirmationText: 'Delete all your running cluster shells? Their processes end.'
  });
}
