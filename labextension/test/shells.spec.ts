import { describe, expect, it } from 'vitest';

import { IShell } from '../src/api';
import { applyEvent } from '../src/shells';
import { luminance } from '../src/theme';

const shell = (name: string, created: string, phase = 'Ready'): IShell => ({
  name,
  created,
  spec: {},
  status: { phase }
});

describe('the live list', () => {
  const a = shell('a', '2026-11-25T10:00:00Z');
  const b = shell('b', '2026-11-25T10:05:00Z');

  it('adds in creation order, replaces on change, removes on deletion', () => {
    let list = applyEvent([], { type: 'ADDED', shell: b });
    list = applyEvent(list, { type: 'ADDED', shell: a });
    expect(list.map(s => s.name)).toEqual(['a', 'b']);
    list = applyEvent(list, { type: 'MODIFIED', shell: shell('a', a.created, 'Complete') });
    expect(list.map(s => s.status.phase)).toEqual(['Complete', 'Ready']);
    list = applyEvent(list, { type: 'DELETED', shell: b });
    expect(list.map(s => s.name)).toEqual(['a']);
    expect(applyEvent(list, { type: 'DELETED', shell: b })).toEqual(list);
  });
});

describe('theme', () => {
  it('tells light from dark backgrounds', () => {
    expect(luminance('#ffffff')).toBeCloseTo(1);
    expect(luminance('#111')).toBeLessThan(0.01);
    expect(luminance('rgb(255, 255, 255)')).toBeCloseTo(1);
    expect(luminance('var(--x)')).toBeNull();
  });
});
