/**
 * What a shell's terminal tab says, in words: its label (the shell's name first, so tabs can be
 * told apart, then what runs in it, or how it ended), its caption, and the banner of a shell
 * that had ended before the tab connected (a tab restored after a reload). Pure: the tab and its
 * tests use the same functions.
 */
import { IShell, hasEnded } from './api';
import { idleWhy } from './protocol';

/** How a tab's shell ended, as its label says it. */
export type EndWord = 'ended' | 'failed' | 'deleted' | 'gone';

/** What the label and the caption are made of. */
export interface ITitleParts {
  name: string;
  /** The shell as last known (its command), if known. */
  shell?: IShell | null;
  /** The title the shell's preferences fix (ttyd's `titleFixed`). */
  fixedTitle?: string;
  /** The title the program in the terminal set (an OSC 0 or 2 sequence: bash's `user@host: ~`). */
  programTitle?: string;
  /** The window title the server sent (ttyd's form: `command (host)`). */
  serverTitle?: string;
  /** How the shell ended, once it has, and the sentence that says so. */
  ending?: { word: EndWord; message: string } | null;
}

export interface ITabTitle {
  label: string;
  caption: string;
  /** What the label says after the name ('' when nothing more is known). */
  detail: string;
}

/** Between the shell's name and the second part of a label. */
export const LABEL_SEPARATOR = ' — ';

/**
 * `pods — /bin/bash -l`, `logs — kubectl logs -f web`, `pods — alice@vm: ~` (a program's own
 * title), `pods — ended`; just `pods` while nothing more is known. The caption has it all.
 */
export function tabTitle(parts: ITitleParts): ITabTitle {
  const command = parts.shell?.spec?.commandAction ?? '';
  const server = parts.serverTitle ?? '';
  const second = parts.ending
    ? parts.ending.word
    : parts.fixedTitle || parts.programTitle || command || withoutHost(server);
  const caption = [`Cluster shell ${parts.name}`];
  if (command || server) {
    caption.push(command ? `Command: ${command}` : server);
  }
  if (parts.programTitle && parts.programTitle !== second) {
    caption.push(`Title: ${parts.programTitle}`);
  }
  if (parts.ending) {
    caption.push(parts.ending.message);
  }
  return {
    label: second ? `${parts.name}${LABEL_SEPARATOR}${second}` : parts.name,
    caption: caption.join('\n'),
    detail: second
  };
}

/** ttyd's window title is `command (host)`: a tab has no room for the host. */
export function withoutHost(title: string): string {
  return title.replace(/\s+\([^()]*\)$/, '').trim();
}

/**
 * How a shell the server lists as ended ended, in the words its terminal's closing would have
 * used (protocol.ts's `describeClose`); null while it runs.
 */
export function endingOf(
  shell: IShell
): { word: EndWord; message: string; failure: boolean } | null {
  if (!hasEnded(shell)) {
    return null;
  }
  const conditions = shell.status?.conditions ?? [];
  const ready = conditions.find(c => c.type === 'Ready');
  const message = ready?.message ?? '';
  if (shell.status?.phase === 'Failed') {
    const failed = conditions.find(c => c.type === 'Failed');
    if ((failed ?? ready)?.reason === 'NotRecorded') {
      const why = (failed ?? ready)?.message ?? '';
      return {
        word: 'failed',
        message: `This server records every terminal, and could not record this one${why ? `: ${why}` : '.'}`,
        failure: true
      };
    }
    // The Failed condition may carry the last output too: its first line is the summary.
    const summary = (message || failed?.message || '').split('\n')[0].split('; last output:')[0];
    const why = summary.replace(/^the command /, '').trim();
    return { word: 'failed', message: `The shell failed${why ? `: ${why}` : '.'}`, failure: true };
  }
  switch (ready?.reason) {
    case 'Expired':
      return {
        word: 'ended',
        message: 'The shell ended: its time to live ran out.',
        failure: false
      };
    case 'Deleted':
      return { word: 'deleted', message: 'The shell was deleted.', failure: false };
    case 'IdleTimeout': {
      const idle = idleWhy(message);
      return {
        word: 'ended',
        message: `The shell ended idle${idle ? `: ${idle}` : '.'}`,
        failure: false
      };
    }
    default:
      return {
        word: 'ended',
        message: `The shell ended${message ? `: ${message}` : '.'}`,
        failure: false
      };
  }
}
