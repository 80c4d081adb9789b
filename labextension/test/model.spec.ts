import { afterEach, describe, expect, it, vi } from 'vitest';

import { IShell, ShellApiError, ShellsApi } from '../src/api';
import { ShellsModel } from '../src/shells';
import { FakeEventSource } from './fakes';

const shell = (name: string, phase = 'Ready'): IShell => ({
  name,
  created: `2026-11-25T10:00:0${name.length}Z`,
  spec: {},
  status: { phase }
});

/** The REST side, answering from a list the test sets. */
function api(list: IShell[]) {
  const fake = {
    list: vi.fn(() => Promise.resolve(list)),
    info: vi.fn(() => Promise.resolve({ backend: 'local' })),
    eventsUrl: () => 'http://127.0.0.1/cloudtty/api/events?token=t'
  };
  return { api: fake as unknown as ShellsApi, list: fake.list };
}

function model(list: IShell[]) {
  FakeEventSource.instances = [];
  const rest = api(list);
  const m = new ShellsModel({
    api: rest.api,
    EventSource: FakeEventSource as unknown as typeof EventSource,
    pollInterval: 10
  });
  let changes = 0;
  m.changed.connect(() => changes++);
  m.start();
  return {
    model: m,
    list: rest.list,
    changes: () => changes,
    events: FakeEventSource.instances[0]
  };
}

afterEach(() => vi.useRealTimers());

describe('the shells model', () => {
  it('follows the event stream: a snapshot, then changes', async () => {
    const { model: m, events, list: listed } = model([]);
    expect(events.url).toBe('http://127.0.0.1/cloudtty/api/events?token=t');
    events.emit('snapshot', [shell('bb'), shell('a')]);
    expect(m.mode).toBe('events');
    expect(m.shells.map(s => s.name)).toEqual(['a', 'bb']);
    events.emit('shell', { type: 'MODIFIED', shell: shell('a', 'Complete') });
    events.emit('shell', { type: 'DELETED', shell: shell('bb') });
    events.emit('shell', { type: 'ADDED', shell: shell('ccc') });
    expect(m.shells.map(s => [s.name, s.status.phase])).toEqual([
      ['a', 'Complete'],
      ['ccc', 'Ready']
    ]);
    expect(listed).not.toHaveBeenCalled();
    await Promise.resolve();
    expect(m.info).toEqual({ backend: 'local' });
    m.dispose();
  });

  it('does not signal a change that changes nothing (no flicker)', () => {
    const { model: m, events, changes } = model([]);
    events.emit('snapshot', [shell('a')]);
    const after = changes();
    events.emit('snapshot', [shell('a')]);
    events.emit('shell', { type: 'MODIFIED', shell: shell('a') });
    m.upsert(shell('a'));
    expect(changes()).toBe(after);
    m.dispose();
  });

  it('polls when the server has no event stream', async () => {
    const { model: m, events, list: listed } = model([shell('a')]);
    events.fail(FakeEventSource.CLOSED); // e.g. 404: the browser gives up
    expect(m.mode).toBe('polling');
    await vi.waitFor(() => expect(m.shells.map(s => s.name)).toEqual(['a']));
    expect(listed).toHaveBeenCalled();
    m.dispose();
  });

  it('keeps the stream while the browser reconnects it', () => {
    const { model: m, events, list: listed } = model([]);
    events.emit('snapshot', []);
    events.fail(FakeEventSource.CONNECTING);
    expect(m.mode).toBe('events');
    expect(listed).not.toHaveBeenCalled();
    m.dispose();
  });

  it('says why the list cannot be read', async () => {
    const { model: m, events, list: listed } = model([]);
    listed.mockImplementation(() => Promise.reject(new Error('403 Forbidden')));
    events.fail(FakeEventSource.CLOSED);
    await vi.waitFor(() => expect(m.error).toBe('403 Forbidden'));
    m.dispose();
  });

  it('deletes several shells, one already gone, and says which the server refused', async () => {
    const { model: m, events } = model([]);
    events.emit('snapshot', [
      shell('a', 'Complete'),
      shell('bb', 'Failed'),
      shell('ccc', 'Failed')
    ]);
    const answers: Record<string, Promise<void>> = {
      a: Promise.resolve(),
      bb: Promise.reject(new ShellApiError("shell 'bb' not found", 404)),
      ccc: Promise.reject(new ShellApiError('403 Forbidden', 403))
    };
    (m.api as unknown as { delete: (name: string) => Promise<void> }).delete = name =>
      answers[name];
    await expect(m.deleteShells(['a', 'bb', 'ccc'])).rejects.toThrow(
      'Cannot delete ccc: 403 Forbidden'
    );
    expect(m.shells.map(s => s.name)).toEqual(['ccc']);
    answers.ccc = Promise.resolve();
    await expect(m.deleteShells(['ccc'])).resolves.toEqual(['ccc']);
    expect(m.shells).toEqual([]);
    m.dispose();
  });
});
