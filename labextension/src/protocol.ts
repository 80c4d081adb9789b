/**
 * ttyd's WebSocket protocol (ttyd 1.7), pure: frames in, frames out, no I/O.
 *
 * Every frame is binary and its first byte is the command. Client → server: the JSON
 * handshake (first byte `{`), `0` input, `1` resize, `2` pause, `3` resume. Server →
 * client: `0` output, `1` window title, `2` preferences (JSON xterm.js options).
 */

/** The WebSocket subprotocol ttyd speaks. */
export const SUBPROTOCOL = 'tty';

const INPUT = 0x30; // '0'
const RESIZE_TERMINAL = 0x31; // '1'
const PAUSE = 0x32; // '2'
const RESUME = 0x33; // '3'

const OUTPUT = 0x30; // '0'
const SET_WINDOW_TITLE = 0x31; // '1'
const SET_PREFERENCES = 0x32; // '2'

const encoder = new TextEncoder();

/** A terminal size in character cells. */
export interface ISize {
  columns: number;
  rows: number;
}

/** The first frame: `{"AuthToken": "", "columns": C, "rows": R}` (the process starts at this size). */
export function encodeHandshake(size: ISize, authToken = ''): Uint8Array {
  return encoder.encode(
    JSON.stringify({ AuthToken: authToken, columns: size.columns, rows: size.rows })
  );
}

/** INPUT: what the user typed or pasted (text is sent as UTF-8). */
export function encodeInput(data: string | Uint8Array): Uint8Array {
  const bytes = typeof data === 'string' ? encoder.encode(data) : data;
  const frame = new Uint8Array(bytes.length + 1);
  frame[0] = INPUT;
  frame.set(bytes, 1);
  return frame;
}

/** RESIZE_TERMINAL: `1{"columns": C, "rows": R}`. */
export function encodeResize(size: ISize): Uint8Array {
  return encoder.encode(
    String.fromCharCode(RESIZE_TERMINAL) +
      JSON.stringify({ columns: size.columns, rows: size.rows })
  );
}

/** PAUSE: stop reading the terminal's output until RESUME (flow control). */
export function encodePause(): Uint8Array {
  return Uint8Array.of(PAUSE);
}

/** RESUME: read the terminal's output again. */
export function encodeResume(): Uint8Array {
  return Uint8Array.of(RESUME);
}

/** What a server frame says. */
export type ServerMessage =
  | { type: 'output'; data: Uint8Array }
  | { type: 'title'; title: string }
  | { type: 'preferences'; preferences: Record<string, unknown> }
  | { type: 'unknown'; command: number };

/**
 * Parse one server frame. A text frame is accepted too (as its UTF-8 bytes).
 * Malformed preferences are reported as empty preferences rather than thrown:
 * a bad `-t` option must not take the terminal down.
 */
export function decodeServerFrame(frame: ArrayBuffer | Uint8Array | string): ServerMessage {
  const bytes =
    typeof frame === 'string'
      ? encoder.encode(frame)
      : frame instanceof Uint8Array
        ? frame
        : new Uint8Array(frame);
  if (bytes.length === 0) {
    return { type: 'unknown', command: -1 };
  }
  const payload = bytes.subarray(1);
  switch (bytes[0]) {
    case OUTPUT:
      return { type: 'output', data: payload };
    case SET_WINDOW_TITLE:
      return { type: 'title', title: new TextDecoder().decode(payload) };
    case SET_PREFERENCES:
      return { type: 'preferences', preferences: parsePreferences(payload) };
    default:
      return { type: 'unknown', command: bytes[0] };
  }
}

function parsePreferences(payload: Uint8Array): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(new TextDecoder().decode(payload));
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      return value as Record<string, unknown>;
    }
  } catch {
    // fall through: ignore what cannot be parsed
  }
  return {};
}

/** How a terminal connection ended, for the banner and the reconnect policy. */
export interface IEnding {
  /**
   * `ended`: the shell itself is over (exit, TTL, idle, deletion): reconnecting shows the same end.
   * `refused`: the server refused this client (protocol error, a terminal it cannot record): no
   *   automatic reconnect; the user may try again.
   * `dropped`: the connection was lost or the server went away: reconnect automatically.
   */
  kind: 'ended' | 'refused' | 'dropped';
  /** One sentence for the user. */
  message: string;
}

/**
 * The meaning of a close code from the server (docs/reference.md's table), with its reason.
 * Any code not in the table (1001, 1006 abnormal closure, 1011...) is a dropped connection.
 */
export function describeClose(code: number, reason: string): IEnding {
  const why = reason ? `: ${reason}` : '';
  switch (code) {
    case 1000:
      return { kind: 'ended', message: `The shell ended${why || '.'}` };
    case 4000:
      return { kind: 'ended', message: `The shell failed${why || '.'}` };
    case 4001:
      return { kind: 'ended', message: 'The shell ended: its time to live ran out.' };
    case 4002:
      return { kind: 'ended', message: 'The shell was deleted.' };
    case 4003:
      return { kind: 'refused', message: `The server refused this terminal${why || '.'}` };
    case 4004:
      return { kind: 'dropped', message: 'The Jupyter server is stopping.' };
    case 4005:
      return { kind: 'dropped', message: `The shell's terminal cannot be reached${why || '.'}` };
    case 4006: {
      const idle = idleWhy(reason);
      return { kind: 'ended', message: `The shell ended idle${idle ? `: ${idle}` : '.'}` };
    }
    case 4007: {
      // Final: the server records every terminal and cannot record this one; reconnecting in a loop
      // would meet the same refusal (the banner's Reconnect is there for after it is fixed).
      const unrecorded = reason.replace(/^not recorded:\s*/, '').trim();
      return {
        kind: 'refused',
        message: `This server records every terminal, and could not record this one${unrecorded ? `: ${unrecorded}` : '.'}`
      };
    }
    default:
      return { kind: 'dropped', message: 'The connection to the shell was lost.' };
  }
}

/**
 * Whether a close code says that something failed (the shell's command, the server's refusal, a
 * recording it could not make): the banner's error style, not the info style of a normal end.
 */
export function isFailure(code: number): boolean {
  return code === 4000 || code === 4003 || code === 4007;
}

/**
 * Why a shell ended idle, in the server's words ("no input or output for 30m"), without the
 * "ended: " some servers put first: the banner and the panel say "ended idle" already.
 */
export function idleWhy(reason: string): string {
  return reason.replace(/^ended:\s*/, '').trim();
}
