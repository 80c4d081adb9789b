/**
 * What a terminal recording (asciicast, `.cast`) says, and how the player and the lists show it:
 * pure functions, for the player (replay.ts) and the recordings' list (recordings.ts, panel.tsx).
 */

import { formatBytes } from './sizes';

/** What a recording's header and events say. */
export interface ICastInfo {
  version: 2 | 3;
  cols: number;
  rows: number;
  /** The header's title (ours: the shell's name), or ''. */
  title: string;
  /** Seconds from the first event to the last. */
  duration: number;
}

/**
 * A recording checked as asciicast v2 or v3 (a JSON header line, then one JSON array per event);
 * throws an Error saying what is wrong, and where.
 */
export function castInfo(text: string): ICastInfo {
  const lines = text.split(/\r?\n/);
  let header: unknown = null;
  try {
    header = JSON.parse(lines[0]);
  } catch {
    // not JSON: said below
  }
  const h = header as Record<string, unknown> | null;
  if (!h || typeof h !== 'object' || (h.version !== 2 && h.version !== 3)) {
    throw new Error('Not a terminal recording: no asciicast v2 or v3 header on its first line.');
  }
  const version = h.version;
  const term = (typeof h.term === 'object' && h.term ? h.term : {}) as Record<string, unknown>;
  const cols = version === 2 ? h.width : term.cols;
  const rows = version === 2 ? h.height : term.rows;
  if (!isSize(cols) || !isSize(rows)) {
    throw new Error('Not a terminal recording: its header has no terminal size.');
  }
  let duration = 0;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (!line.trim() || (version === 3 && line.startsWith('#'))) {
      continue;
    }
    let event: unknown = null;
    try {
      event = JSON.parse(line);
    } catch {
      // said below
    }
    if (!Array.isArray(event) || event.length < 3 || typeof event[0] !== 'number') {
      throw new Error(`Line ${i + 1} of the recording is not an event ([time, code, data]).`);
    }
    // v2 times count from the start, v3 times from the previous event.
    duration = version === 2 ? event[0] : duration + event[0];
  }
  return { version, cols, rows, title: typeof h.title === 'string' ? h.title : '', duration };
}

function isSize(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n > 0;
}

/** `m:ss` or `h:mm:ss`, as a player's timer shows a length. */
export function formatLength(seconds: number): string {
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/**
 * A computed CSS colour (`rgb(…)` or `rgba(…)`, as getComputedStyle gives it) as `#rrggbb`, its
 * alpha blended over `over` (hex): asciinema-player reads hex colours only.
 */
export function opaqueHex(color: string, over = '#ffffff'): string | null {
  const match = /^rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)(?:[,\s/]+([\d.]+%?))?\s*\)$/i.exec(
    color.trim()
  );
  if (!match) {
    return /^#[0-9a-f]{6}$/i.test(color.trim()) ? color.trim().toLowerCase() : null;
  }
  const alphaText = match[4];
  let alpha = alphaText === undefined ? 1 : parseFloat(alphaText);
  if (alphaText?.endsWith('%')) {
    alpha /= 100;
  }
  const base = /^#([0-9a-f]{6})$/i.exec(over)?.[1] ?? 'ffffff';
  return (
    '#' +
    [1, 2, 3]
      .map(i => {
        const under = parseInt(base.slice((i - 1) * 2, i * 2), 16);
        const value = Math.round(Number(match[i]) * alpha + under * (1 - alpha));
        return Math.min(255, Math.max(0, value)).toString(16).padStart(2, '0');
      })
      .join('')
  );
}

/** The keys asciinema-player acts on (it ignores them with Ctrl, Alt or Meta). */
const PLAYER_KEYS = new Set([
  ' ',
  ',',
  '.',
  'f',
  'm',
  '[',
  ']',
  '?',
  'k',
  'Escape',
  'ArrowLeft',
  'ArrowRight'
]);

/**
 * Whether a key pressed in the player is the player's: JupyterLab's shortcuts must then leave it
 * alone (a notebook in command mode would turn "1" into "make this cell a heading"). Space and
 * Enter on a player's button are the button's.
 */
export function isPlayerKey(event: {
  key: string;
  ctrlKey: boolean;
  altKey: boolean;
  metaKey: boolean;
  onButton: boolean;
}): boolean {
  if (event.ctrlKey || event.altKey || event.metaKey) {
    return false;
  }
  if (event.onButton && (event.key === ' ' || event.key === 'Enter')) {
    return false;
  }
  return PLAYER_KEYS.has(event.key) || /^[0-9]$/.test(event.key);
}

/** One recording, as `GET /cloudtty/api/recordings` lists it. */
export interface IRecording {
  /** `<shell>-<UTC time>.cast`: its name for `GET /cloudtty/api/recordings/<file>`. */
  file: string;
  /** Relative to the Jupyter root, or null when the recordings are kept outside it. */
  path: string | null;
  shell: string;
  owner: string;
  /** RFC 3339. */
  started: string;
  /** Seconds. */
  duration: number;
  /** Bytes. */
  size: number;
  /** Whether what was typed is in it too. */
  input: boolean;
  /** With a query: lines of its text that have it (at most 5). */
  matches?: string[];
}

export interface IRecordingList {
  recordings: IRecording[];
  /** Where the server keeps them, as shown to the user. */
  dir: string;
}

/** The query string of a listing: a shell's recordings, and those whose text has `q`. */
export function recordingsQuery(options: { shell?: string; q?: string } = {}): string {
  const params = new URLSearchParams();
  if (options.shell) {
    params.set('shell', options.shell);
  }
  if (options.q) {
    params.set('q', options.q);
  }
  const query = params.toString();
  return query ? `?${query}` : '';
}

/**
 * When a recording started, for a list: the time today, else the date and time (the user's
 * locale's format, in their time zone).
 */
export function formatStarted(started: string, now: Date = new Date()): string {
  const date = new Date(started);
  if (!Number.isFinite(date.getTime())) {
    return started;
  }
  const time = date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  return date.toDateString() === now.toDateString()
    ? `today ${time}`
    : `${date.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })} ${time}`;
}

/** A recording in a list: when, how long, how big. */
export function recordingLabel(recording: IRecording, now: Date = new Date()): string {
  return [
    formatStarted(recording.started, now),
    formatLength(recording.duration),
    formatBytes(recording.size)
  ].join(' · ');
}
