import { describe, expect, it } from 'vitest';

import {
  castInfo,
  formatLength,
  isPlayerKey,
  opaqueHex,
  recordingLabel,
  recordingsQuery
} from '../src/casts';

const header = JSON.stringify({ version: 2, width: 80, height: 24, title: 'work' });

describe('a recording read', () => {
  it('gives the size, the title and the length of an asciicast v2', () => {
    const cast = [header, '[0.5, "o", "$ "]', '[1.25, "o", "ok\\r\\n"]', '[3.5, "m", ""]', ''].join(
      '\n'
    );
    expect(castInfo(cast)).toEqual({
      version: 2,
      cols: 80,
      rows: 24,
      title: 'work',
      duration: 3.5
    });
  });

  it('adds up the intervals of an asciicast v3, skipping its comments', () => {
    const v3 = JSON.stringify({ version: 3, term: { cols: 100, rows: 30 } });
    const cast = [v3, '[0.5, "o", "a"]', '# a comment', '[2.0, "o", "b"]'].join('\n');
    expect(castInfo(cast)).toEqual({ version: 3, cols: 100, rows: 30, title: '', duration: 2.5 });
  });

  it('says what is wrong with what is not a recording', () => {
    expect(() => castInfo('hello')).toThrow(/no asciicast v2 or v3 header/);
    expect(() => castInfo(JSON.stringify({ version: 1, stdout: [] }))).toThrow(/header/);
    expect(() => castInfo(JSON.stringify({ version: 2 }))).toThrow(/no terminal size/);
    expect(() => castInfo(`${header}\n[0.5, "o", "a"]\nnot json`)).toThrow(/^Line 3 /);
    expect(() => castInfo(`${header}\n{"o": 1}`)).toThrow(/^Line 2 /);
  });
});

describe('what the player shows and hears', () => {
  it('writes lengths as a player timer does', () => {
    expect(formatLength(0)).toBe('0:00');
    expect(formatLength(72.4)).toBe('1:12');
    expect(formatLength(3 * 3600 + 5)).toBe('3:00:05');
  });

  it('turns computed colours into the hex the player reads, alpha over the background', () => {
    expect(opaqueHex('rgb(255, 255, 255)')).toBe('#ffffff');
    expect(opaqueHex('rgb(17 17 17)')).toBe('#111111');
    expect(opaqueHex('rgba(0, 0, 0, 0.87)', '#ffffff')).toBe('#212121');
    expect(opaqueHex('rgba(255, 255, 255, 0.5)', '#000000')).toBe('#808080');
    expect(opaqueHex('#ABCDEF')).toBe('#abcdef');
    expect(opaqueHex('white')).toBeNull();
  });

  it("keeps the player's keys from JupyterLab's shortcuts, and a button's Space for the button", () => {
    const key = (k: string, more: Partial<Parameters<typeof isPlayerKey>[0]> = {}) =>
      isPlayerKey({
        key: k,
        ctrlKey: false,
        altKey: false,
        metaKey: false,
        onButton: false,
        ...more
      });
    expect(['1', ' ', 'f', 'ArrowLeft', 'ArrowRight', '.', '?'].every(k => key(k))).toBe(true);
    expect(key('a')).toBe(false);
    expect(key('ArrowUp')).toBe(false); // the page scrolls, the notebook moves between cells
    expect(key('s', { ctrlKey: true })).toBe(false);
    expect(key('1', { altKey: true })).toBe(false);
    expect(key(' ', { onButton: true })).toBe(false);
    expect(key('Enter', { onButton: true })).toBe(false);
    expect(key('f', { onButton: true })).toBe(true);
  });
});

describe('the recordings listed', () => {
  it("asks for a shell's, and for those with a text", () => {
    expect(recordingsQuery()).toBe('');
    expect(recordingsQuery({ shell: 'work' })).toBe('?shell=work');
    expect(recordingsQuery({ shell: 'a b', q: 'kubectl get' })).toBe('?shell=a+b&q=kubectl+get');
  });

  it('shows each by when, how long and how big', () => {
    const now = new Date(2026, 11, 7, 15, 0);
    const recording = {
      file: 'work-20261207T101500Z.cast',
      path: '.cloudtty/recordings/work-20261207T101500Z.cast',
      shell: 'work',
      owner: 'ada',
      started: new Date(2026, 11, 7, 10, 15).toISOString(),
      duration: 192,
      size: 14540,
      input: false
    };
    expect(recordingLabel(recording, now)).toMatch(/^today 10:15(\s?AM)? · 3:12 · 14\.5 KB$/);
    const older = { ...recording, started: new Date(2026, 10, 30, 9, 5).toISOString() };
    expect(recordingLabel(older, now)).toMatch(/^Nov 30 09:05(\s?AM)? · 3:12 · 14\.5 KB$/);
  });
});
