import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import {
  decodeServerFrame,
  describeClose,
  encodeHandshake,
  encodeInput,
  encodePause,
  encodeResize,
  encodeResume,
  isFailure
} from '../src/protocol';

interface IFrame {
  dir: 'c2s' | 's2c' | 'meta';
  b64: string;
  text: string;
  note: string;
}

// Frames recorded from a real ttyd 1.7.7 (`ttyd -W bash`), shared with the server's tests (tests/data).
const TRANSCRIPT: IFrame[] = JSON.parse(
  readFileSync(join(__dirname, '../../tests/data/ttyd-1.7.7-transcript.json'), 'utf8')
) as IFrame[];

const bytes = (frame: IFrame) => Uint8Array.from(Buffer.from(frame.b64, 'base64'));
const text = (data: Uint8Array) => new TextDecoder().decode(data);

describe('client frames', () => {
  it('encode the handshake as ttyd reads it', () => {
    const recorded = TRANSCRIPT.find(f => f.note === 'handshake')!;
    expect(JSON.parse(text(encodeHandshake({ columns: 100, rows: 30 })))).toEqual(
      JSON.parse(text(bytes(recorded)))
    );
  });

  it('encode input, resize, pause and resume byte for byte as in the capture', () => {
    const sent = TRANSCRIPT.filter(f => f.dir === 'c2s').map(f => text(bytes(f)));
    expect(sent).toContain(text(encodeInput('stty size\r')));
    expect(sent).toContain(text(encodeResize({ columns: 120, rows: 40 })));
    expect(text(encodePause())).toBe('2');
    expect(text(encodeResume())).toBe('3');
  });

  it('send input as UTF-8, and bytes unchanged', () => {
    expect(Array.from(encodeInput('é'))).toEqual([0x30, 0xc3, 0xa9]);
    expect(Array.from(encodeInput(Uint8Array.of(0, 255)))).toEqual([0x30, 0, 255]);
  });
});

describe('server frames', () => {
  it("decode a real ttyd's title, preferences and output", () => {
    const session = TRANSCRIPT.slice(
      0,
      TRANSCRIPT.findIndex((f, i) => i > 0 && f.dir === 'meta')
    );
    const messages = session.filter(f => f.dir === 's2c').map(f => decodeServerFrame(bytes(f)));
    expect(messages[0]).toEqual({ type: 'title', title: 'bash --norc --noprofile (vm)' });
    expect(messages[1]).toEqual({ type: 'preferences', preferences: {} });
    const output = messages
      .filter(m => m.type === 'output')
      .map(m => (m.type === 'output' ? text(m.data) : ''))
      .join('');
    expect(output).toContain('30 100\r\n');
    expect(output).toContain('40 120\r\n');
  });

  it('accept text frames, ignore unknown commands and bad preferences', () => {
    expect(decodeServerFrame('0hi')).toEqual({
      type: 'output',
      data: new TextEncoder().encode('hi')
    });
    expect(decodeServerFrame('9?')).toEqual({ type: 'unknown', command: 0x39 });
    expect(decodeServerFrame('2{not json')).toEqual({ type: 'preferences', preferences: {} });
    expect(decodeServerFrame('2[1]')).toEqual({ type: 'preferences', preferences: {} });
    expect(decodeServerFrame(new Uint8Array())).toEqual({ type: 'unknown', command: -1 });
  });

  it('parse preferences as xterm.js options', () => {
    expect(decodeServerFrame('2{"fontSize": 18, "theme": {"background": "#002b36"}}')).toEqual({
      type: 'preferences',
      preferences: { fontSize: 18, theme: { background: '#002b36' } }
    });
  });
});

describe('close codes (docs/reference.md)', () => {
  it.each([
    [1000, 'exited', 'ended', 'The shell ended: exited'],
    [4000, 'exited with code 3', 'ended', 'The shell failed: exited with code 3'],
    [4001, '', 'ended', 'The shell ended: its time to live ran out.'],
    [4002, '', 'ended', 'The shell was deleted.'],
    [
      4003,
      'no handshake received',
      'refused',
      'The server refused this terminal: no handshake received'
    ],
    [4004, '', 'dropped', 'The Jupyter server is stopping.'],
    [4005, 'pod not ready', 'dropped', "The shell's terminal cannot be reached: pod not ready"],
    [
      4006,
      'no input or output for 30m',
      'ended',
      'The shell ended idle: no input or output for 30m'
    ],
    [4006, '', 'ended', 'The shell ended idle.'],
    [
      4006,
      'ended: no input or output for 2s',
      'ended',
      'The shell ended idle: no input or output for 2s'
    ],
    [
      4007,
      'not recorded: cannot record the terminal in /srv/recordings: Permission denied',
      'refused',
      'This server records every terminal, and could not record this one: cannot record the terminal in /srv/recordings: Permission denied'
    ],
    [4007, '', 'refused', 'This server records every terminal, and could not record this one.'],
    [1006, '', 'dropped', 'The connection to the shell was lost.'],
    [1001, 'going away', 'dropped', 'The connection to the shell was lost.']
  ])('%i %s', (code, reason, kind, message) => {
    expect(describeClose(code, reason)).toEqual({ kind, message });
  });
});

describe('which endings are failures (the error banner)', () => {
  it('is the shell failing, the server refusing, a recording not made', () => {
    expect([4000, 4003, 4007].map(isFailure)).toEqual([true, true, true]);
  });

  it('is not a normal end, an expiry, a deletion, an idle end or a drop', () => {
    expect([1000, 4001, 4002, 4004, 4005, 4006, 1006].map(isFailure)).toEqual(
      new Array(7).fill(false)
    );
  });
});
