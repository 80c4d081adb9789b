import { beforeEach, describe, expect, it } from 'vitest';

import {
  FlowControl,
  IClosed,
  TTYD_FLOW_CONTROL,
  TtydClient,
  WebSocketConstructor,
  handshakeFrame,
  newClientId,
  reconnectDelay
} from '../src/client';
import { DeferredSink, FakeSocket } from './fakes';

const URL_ = 'ws://127.0.0.1:8888/cloudtty/api/shells/pods/terminal?token=secret';

function client(sink = new DeferredSink(), size = { columns: 120, rows: 40 }) {
  const c = new TtydClient({
    url: URL_,
    size: () => size,
    sink,
    WebSocket: FakeSocket as unknown as WebSocketConstructor,
    clientId: 'tab-1'
  });
  return { client: c, sink, size };
}

beforeEach(() => FakeSocket.reset());

describe('a connection', () => {
  it('offers the tty subprotocol and sends the handshake with the real size first', () => {
    const { client: c } = client();
    c.connect();
    const socket = FakeSocket.last();
    expect(socket.protocols).toEqual(['tty']);
    expect(socket.binaryType).toBe('arraybuffer');
    expect(c.state).toBe('connecting');
    socket.serverOpen();
    expect(c.state).toBe('open');
    expect(JSON.parse(socket.sentText()[0])).toEqual({ AuthToken: '', columns: 120, rows: 40 });
  });

  it("says where downloads go in each connection's handshake, as the setting is then", () => {
    let downloads: 'jupyter' | 'browser' = 'jupyter';
    const c = new TtydClient({
      url: URL_,
      size: () => ({ columns: 80, rows: 24 }),
      sink: new DeferredSink(),
      WebSocket: FakeSocket as unknown as WebSocketConstructor,
      handshake: () => ({ downloads })
    });
    c.connect();
    FakeSocket.last().serverOpen();
    downloads = 'browser'; // the setting changed: the next connection says so
    c.connect();
    FakeSocket.last().serverOpen();
    const handshakes = FakeSocket.instances.map(
      socket => JSON.parse(socket.sentText()[0]) as unknown
    );
    expect(handshakes).toEqual([
      { AuthToken: '', columns: 80, rows: 24, downloads: 'jupyter' },
      { AuthToken: '', columns: 80, rows: 24, downloads: 'browser' }
    ]);
  });

  it("keeps ttyd's handshake as it is without keys of ours, and never lets ours replace its own", () => {
    const size = { columns: 100, rows: 30 };
    const plain = new TextDecoder().decode(handshakeFrame(size));
    expect(plain).toBe('{"AuthToken":"","columns":100,"rows":30}');
    const extras = { downloads: 'browser', columns: 1 } as unknown as { downloads: 'browser' };
    const frame = JSON.parse(new TextDecoder().decode(handshakeFrame(size, extras))) as unknown;
    expect(frame).toEqual({ AuthToken: '', columns: 100, rows: 30, downloads: 'browser' });
  });

  it('keeps the token and adds its client id and received bytes to the URL', () => {
    const { client: c } = client();
    c.connect();
    const url = new URL(FakeSocket.last().url);
    expect(url.pathname).toBe('/cloudtty/api/shells/pods/terminal');
    expect(url.searchParams.get('token')).toBe('secret');
    expect(url.searchParams.get('client')).toBe('tab-1');
    expect(url.searchParams.get('received')).toBe('0');
  });

  it('writes output, reports the title and the preferences', () => {
    const { client: c, sink } = client();
    const titles: string[] = [];
    const preferences: Record<string, unknown>[] = [];
    c.titleChanged.connect((_, title) => titles.push(title));
    c.preferencesReceived.connect((_, p) => preferences.push(p));
    c.connect();
    const socket = FakeSocket.last();
    socket.serverOpen();
    socket.serverSend('1bash (host)');
    socket.serverSend('2{"cursorBlink": false}');
    socket.serverSend('0$ ');
    socket.serverSend('0hello\r\n');
    expect(titles).toEqual(['bash (host)']);
    expect(c.title).toBe('bash (host)');
    expect(preferences).toEqual([{ cursorBlink: false }]);
    expect(sink.text()).toBe('$ hello\r\n');
    expect(c.received).toBe(9);
  });

  it('sends input only while open, and resizes only when the size changed', () => {
    const { client: c } = client();
    expect(c.send('ls\r')).toBe(false);
    c.connect();
    const socket = FakeSocket.last();
    c.resize({ columns: 80, rows: 24 }); // before the handshake: the handshake carries the size
    socket.serverOpen();
    expect(c.send('ls\r')).toBe(true);
    expect(c.send('')).toBe(false);
    c.resize({ columns: 120, rows: 40 }); // the handshake's size: nothing to say
    c.resize({ columns: 100, rows: 30 });
    c.resize({ columns: 100, rows: 30 });
    expect(socket.sentText().slice(1)).toEqual(['0ls\r', '1{"columns":100,"rows":30}']);
  });

  it('tells the size the server was last told: none before a handshake, then its own', () => {
    const { client: c } = client();
    expect(c.size).toBeNull();
    c.connect();
    FakeSocket.last().serverOpen();
    expect(c.size).toEqual({ columns: 120, rows: 40 });
    c.resize({ columns: 100, rows: 30 });
    expect(c.size).toEqual({ columns: 100, rows: 30 });
  });

  it('reports how the server closed, and whether it had opened', () => {
    const { client: c } = client();
    const closes: IClosed[] = [];
    c.closed.connect((_, closed) => closes.push(closed));
    c.connect();
    FakeSocket.last().serverOpen();
    FakeSocket.last().serverClose(4000, 'exited with code 3');
    c.connect();
    FakeSocket.last().serverClose(1006); // a refused upgrade never opens
    expect(closes).toEqual([
      {
        kind: 'ended',
        message: 'The shell failed: exited with code 3',
        code: 4000,
        reason: 'exited with code 3',
        wasOpen: true
      },
      {
        kind: 'dropped',
        message: 'The connection to the shell was lost.',
        code: 1006,
        reason: '',
        wasOpen: false
      }
    ]);
    expect(c.state).toBe('closed');
  });
});

describe('reconnecting', () => {
  it('resumes from the bytes received over all connections, with the same client id', () => {
    const { client: c, sink } = client();
    c.connect();
    const first = FakeSocket.last();
    first.serverOpen();
    first.serverSend('0abc');
    first.serverSend('0de');
    first.serverClose(1006);
    c.connect();
    const second = FakeSocket.last();
    const url = new URL(second.url);
    expect(url.searchParams.get('client')).toBe('tab-1');
    expect(url.searchParams.get('received')).toBe('5');
    second.serverOpen();
    second.serverSend('0f');
    expect(c.received).toBe(6);
    expect(c.connections).toBe(2);
    expect(sink.text()).toBe('abcdef'); // nothing reset, nothing repeated
  });

  it('ignores a replaced connection, and closes it', () => {
    const { client: c, sink } = client();
    const closes: IClosed[] = [];
    c.closed.connect((_, closed) => closes.push(closed));
    c.connect();
    const old = FakeSocket.last();
    old.serverOpen();
    c.connect();
    expect(old.closedByClient).toBe(1000);
    old.serverSend('0late');
    old.serverClose(1006);
    expect(sink.text()).toBe('');
    expect(closes).toEqual([]);
  });

  it('closes silently when the terminal goes away', () => {
    const { client: c } = client();
    const closes: IClosed[] = [];
    c.closed.connect((_, closed) => closes.push(closed));
    c.connect();
    const socket = FakeSocket.last();
    socket.serverOpen();
    c.dispose();
    expect(socket.closedByClient).toBe(1000);
    expect(closes).toEqual([]);
    expect(c.state).toBe('idle');
  });

  it('waits longer after each failure, up to 30 s', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 10].map(reconnectDelay)).toEqual([
      500, 1000, 2000, 4000, 8000, 16000, 30000, 30000
    ]);
  });

  it('makes client ids the server accepts (1 to 64 letters, digits, - or _)', () => {
    const ids = new Set(Array.from({ length: 50 }, newClientId));
    expect(ids.size).toBe(50);
    for (const id of ids) {
      expect(id).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    }
  });
});

describe('flow control (ttyd client water marks)', () => {
  it("has ttyd's values", () => {
    expect(TTYD_FLOW_CONTROL).toEqual({ limit: 100000, highWater: 10, lowWater: 4 });
  });

  it('sends PAUSE above the high water mark and RESUME below the low one, once each', () => {
    const { client: c, sink } = client();
    c.connect();
    const socket = FakeSocket.last();
    socket.serverOpen();
    const chunk = '0' + 'x'.repeat(100001); // every chunk crosses the limit: each write is tracked
    for (let i = 0; i < 10; i++) {
      socket.serverSend(chunk);
    }
    expect(c.flowControl.pending).toBe(10);
    expect(socket.sentText().slice(1)).toEqual([]); // 10 pending is not above 10
    socket.serverSend(chunk);
    socket.serverSend(chunk);
    expect(socket.sentText().slice(1)).toEqual(['2']); // PAUSE once, not per write
    expect(c.flowControl.paused).toBe(true);
    sink.flush(8); // 12 → 4 pending: not yet below 4
    expect(socket.sentText().slice(1)).toEqual(['2']);
    sink.flush(1); // 3 pending
    expect(socket.sentText().slice(1)).toEqual(['2', '3']);
    sink.flush();
    expect(socket.sentText().slice(1)).toEqual(['2', '3']);
    expect(c.flowControl.paused).toBe(false);
    expect(c.flowControl.pending).toBe(0);
    expect(c.flowControl.pauses).toBe(1);
  });

  it('tracks one write per `limit` bytes, however the output is split', () => {
    const sink = new DeferredSink();
    const sent: string[] = [];
    const flow = new FlowControl({ limit: 10, highWater: 1, lowWater: 1 }, frame =>
      sent.push(new TextDecoder().decode(frame))
    );
    const write = (n: number) => flow.write(new Uint8Array(n), sink);
    write(6);
    write(4); // 10: not over the limit
    expect(flow.pending).toBe(0);
    write(1); // 11 > 10: tracked
    expect(flow.pending).toBe(1);
    write(11); // tracked: 2 pending > 1
    expect(sent).toEqual(['2']);
    sink.flush(2);
    expect(sent).toEqual(['2', '3']);
  });

  it('starts each connection unpaused; callbacks of the old one do not count', () => {
    const { client: c, sink } = client();
    c.connect();
    const first = FakeSocket.last();
    first.serverOpen();
    const chunk = '0' + 'x'.repeat(100001);
    for (let i = 0; i < 11; i++) {
      first.serverSend(chunk);
    }
    expect(first.sentText().slice(1)).toEqual(['2']);
    first.serverClose(1006);
    c.connect();
    const second = FakeSocket.last();
    second.serverOpen();
    expect(c.flowControl.paused).toBe(false);
    expect(c.flowControl.pending).toBe(0);
    sink.flush(); // the old connection's writes finish: no RESUME to the new one
    expect(second.sentText().slice(1)).toEqual([]);
  });
});
