import { tmpdir } from 'node:os';

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { TtydClient, WebSocketConstructor } from '../src/client';
import { TRIGGER_PREFIX, TrzszLink, hasTrigger, loadTrzsz } from '../src/trzsz';
import { FakeSocket } from './fakes';

const encode = (text: string) => new TextEncoder().encode(text);
const decode = (data: string | Uint8Array) =>
  typeof data === 'string' ? data : new TextDecoder().decode(data);

/** What `tsz` prints to ask the terminal for a download (trzsz 1.1.7, as the shell's runs). */
const TSZ_TRIGGER = '\x1b7::TRZSZ:TRANSFER:S:1.1.7:1733572800000000:0\r\n';

describe('finding the trigger', () => {
  it('finds the prefix anywhere in a chunk', () => {
    expect(hasTrigger(encode(TRIGGER_PREFIX))).toBe(true);
    expect(hasTrigger(encode(`${TRIGGER_PREFIX}S:1.1.7`))).toBe(true);
    expect(hasTrigger(encode(`$ tsz out.bin\r\n${TSZ_TRIGGER}`))).toBe(true);
    expect(hasTrigger(encode(`${'x'.repeat(70000)}${TRIGGER_PREFIX}`))).toBe(true);
  });

  it('does not see it in colons, in a part of it, or in nothing', () => {
    expect(hasTrigger(encode(':'.repeat(5000)))).toBe(false);
    expect(hasTrigger(encode('{"a": "b::c"}, 12:34:56 ::TRZSZ:TRANSFE'))).toBe(false);
    expect(hasTrigger(encode('::TRZSZ:TRANSFEr:'))).toBe(false);
    expect(hasTrigger(encode(TRIGGER_PREFIX.slice(1)))).toBe(false);
    expect(hasTrigger(new Uint8Array(0))).toBe(false);
  });
});

/** A link with the real TrzszFilter; what it writes and sends is recorded. */
async function link(options: Partial<TrzszLink.IOptions> = {}) {
  const Filter = await loadTrzsz();
  const written: { data: string; callback?: () => void }[] = [];
  const sent: string[] = [];
  const trzsz = new TrzszLink({
    Filter,
    write: (data, callback) => written.push({ data: decode(data), callback }),
    send: data => sent.push(decode(data)),
    columns: 80,
    ...options
  });
  return { trzsz, written, sent };
}

describe('a terminal with trzsz between it and its connection', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('writes output without a trigger at once, with its flow-control callback', async () => {
    const { trzsz, written, sent } = await link();
    const callback = vi.fn();
    trzsz.output(encode('a: b: c: {"json": 1}\r\n'), callback);
    expect(written).toEqual([{ data: 'a: b: c: {"json": 1}\r\n', callback }]);
    await vi.advanceTimersByTimeAsync(100);
    expect(sent).toEqual([]);
    expect(callback).not.toHaveBeenCalled(); // xterm.js calls it, once it has processed the data
  });

  it("answers a tsz: the trigger line shows, then the filter replies in the shell's input", async () => {
    const { trzsz, written, sent } = await link();
    const callback = vi.fn();
    trzsz.output(encode(`$ tsz out.bin\r\n${TSZ_TRIGGER}`), callback);
    expect(written[0].data).toContain('::TRZSZ:TRANSFER:S:');
    expect(written[0].callback).toBe(callback);
    await vi.advanceTimersByTimeAsync(100);
    // No folder chosen (the test's picker says so): the filter declines, in trzsz's protocol.
    expect(sent.join('')).toMatch(/^#ACT:/);
  });

  it("does not answer a trigger in a new connection's replay", async () => {
    const { trzsz, written, sent } = await link();
    trzsz.replayNext();
    trzsz.output(encode(`old output\r\n${TSZ_TRIGGER}`));
    await vi.advanceTimersByTimeAsync(100);
    expect(written.map(w => w.data).join('')).toContain('::TRZSZ:TRANSFER:S:');
    expect(sent).toEqual([]);
    // Only that one chunk: a live trigger after it is answered.
    trzsz.output(encode(TSZ_TRIGGER.replace('1733572800000000', '1733572900000000')));
    await vi.advanceTimersByTimeAsync(100);
    expect(sent.join('')).toMatch(/^#ACT:/);
  });

  it('hands output to a running transfer, not to the terminal, and releases flow control', async () => {
    vi.useRealTimers(); // the transfer's own timeouts and file checks run as they do in a tab
    const { trzsz, written, sent } = await link({
      chooseSaveDirectory: () => Promise.resolve(tmpdir())
    });
    trzsz.output(encode(TSZ_TRIGGER));
    // It checks the folder (real I/O), accepts, and waits for tsz's configuration.
    await vi.waitFor(() => expect(sent.join('')).toMatch(/^#ACT:.*\n$/));
    expect(trzsz.transferring).toBe(true);
    const before = written.length;
    const callback = vi.fn();
    trzsz.output(encode('#CFG:partial'), callback);
    expect(written.length).toBe(before);
    expect(callback).toHaveBeenCalledOnce();

    // Typing waits while files move; Ctrl+C stops the transfer. (Output and keys are events of
    // their own in a page: a turn of the loop between them, as there.)
    await new Promise(resolve => setTimeout(resolve, 0));
    sent.length = 0;
    trzsz.input('ls\r');
    expect(sent).toEqual([]);
    trzsz.input('\x03');
    await vi.waitFor(() => expect(trzsz.transferring).toBe(false), { timeout: 10000 });
    expect(sent.join('')).toMatch(/#fail:/); // tsz is told it was stopped, so it ends too
    sent.length = 0;
    trzsz.input('ls\r');
    expect(sent).toEqual(['ls\r']);
  });

  it('passes typing, mouse reports and the width on', async () => {
    const { trzsz, sent } = await link();
    trzsz.input('echo hi\r');
    trzsz.binaryInput('\x1b[M !!');
    trzsz.resize(132);
    expect(sent).toEqual(['echo hi\r', '\x1b[M !!']);
  });
});

describe('resuming across a transfer', () => {
  it("counts every output byte from the server, the transfer's too", async () => {
    FakeSocket.reset();
    const Filter = await loadTrzsz();
    const written: string[] = [];
    let trzsz: TrzszLink | null = null;
    const client = new TtydClient({
      url: 'ws://127.0.0.1:8888/cloudtty/api/shells/s/terminal',
      size: () => ({ columns: 80, rows: 24 }),
      sink: { write: (data, callback) => trzsz!.output(data, callback) },
      WebSocket: FakeSocket as unknown as WebSocketConstructor
    });
    trzsz = new TrzszLink({
      Filter,
      write: data => written.push(decode(data)),
      send: data => void client.send(data),
      columns: 80,
      chooseSaveDirectory: () => Promise.resolve(tmpdir())
    });
    client.connect();
    const socket = FakeSocket.last();
    socket.serverOpen();
    socket.serverSend('0$ '); // the connection's first output
    socket.serverSend(`0tsz a.bin\r\n${TSZ_TRIGGER}`);
    await vi.waitFor(() => expect(trzsz.transferring).toBe(true));
    socket.serverSend('0#CFG:eJyrVgoOcQ'); // the transfer's, not the terminal's
    expect(written.join('')).not.toContain('#CFG');
    const payload = 2 + `tsz a.bin\r\n${TSZ_TRIGGER}`.length + '#CFG:eJyrVgoOcQ'.length;
    expect(client.received).toBe(payload);
    expect(new URL(client.connectionUrl()).searchParams.get('received')).toBe(String(payload));
    await new Promise(resolve => setTimeout(resolve, 0)); // the close is an event of its own
    trzsz.stop();
    await vi.waitFor(() => expect(trzsz.transferring).toBe(false), { timeout: 10000 });
  });
});
