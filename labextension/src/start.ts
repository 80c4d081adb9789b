/**
 * How a cluster shell starts where the operator keeps a warm pool: in a ready pod of the pool
 * (warm: Ready within a second) or in a new pod (cold: its `WarmStart` condition says why it
 * could not use the pool). Without a pool (and on the local backend) the status says neither,
 * and nothing here adds words. Pure: the panel's row, the terminal's starting banner and the
 * running-sessions tooltip all say it the same way.
 */
import { IShell, hasEnded } from './api';

/** How the shell starts, and the operator's words for why (`''` when it gave none). */
export interface IStart {
  kind: 'warm' | 'cold';
  message: string;
}

/** Words to show, and the longer text for their title (tooltip) and screen readers. */
export interface IStartLabel {
  text: string;
  title: string;
}

/**
 * How the shell starts, or null where no pool was involved. `status.start` is the operator's
 * summary of the `WarmStart` condition; either alone is enough (an older server passes only the
 * conditions on).
 */
export function howStarted(shell: IShell): IStart | null {
  const status = shell.status ?? {};
  const warm = status.conditions?.find(c => c.type === 'WarmStart');
  const message = warm?.message ?? '';
  if (status.start === 'Pool' || status.start === 'Cold') {
    return { kind: status.start === 'Pool' ? 'warm' : 'cold', message };
  }
  if (warm?.status === 'True' || warm?.status === 'False') {
    return { kind: warm.status === 'True' ? 'warm' : 'cold', message };
  }
  return null;
}

/**
 * While the shell is not yet Ready, what its row says instead of the phase; null: the phase, as
 * without a pool.
 */
export function startingLabel(shell: IShell): IStartLabel | null {
  if (shell.status?.phase === 'Ready' || hasEnded(shell)) {
    return null;
  }
  const start = howStarted(shell);
  if (!start) {
    return null;
  }
  if (start.kind === 'warm') {
    return {
      text: 'starting (warm)',
      title: `Warm start: ${start.message || 'in a ready pod of the pool'}`
    };
  }
  return { text: 'starting (cold)', title: coldStart(start.message) };
}

/** Once Ready, where it started: "from the pool" or "cold start" (null without a pool). */
export function startNote(shell: IShell): IStartLabel | null {
  if (shell.status?.phase !== 'Ready' || !shell.status.start) {
    return null;
  }
  const start = howStarted(shell);
  if (start?.kind === 'warm') {
    return {
      text: 'from the pool',
      title: `From the pool: ${start.message || 'a ready pod of the pool'}`
    };
  }
  return { text: 'cold start', title: coldStart(start?.message ?? '') };
}

/** The terminal's banner until the shell answers: its phase, and how it starts when a pool is involved. */
export function startingBanner(shell: IShell): string {
  const start = howStarted(shell);
  const how = !start
    ? ''
    : start.kind === 'warm'
      ? ', warm start'
      : `, ${coldStart(start.message, false)}`;
  return `The shell is starting (phase: ${shell.status?.phase || 'Pending'}${how})…`;
}

function coldStart(message: string, capital = true): string {
  const words = message ? `cold start: ${message}` : 'cold start: a new pod is made for it';
  return capital ? words[0].toUpperCase() + words.slice(1) : words;
}
