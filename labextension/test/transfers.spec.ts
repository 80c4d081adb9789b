import { ServerConnection } from '@jupyterlab/services';
import { describe, expect, it } from 'vitest';

import {
  ITransferView,
  NdjsonLines,
  TransferError,
  TransferEvent,
  TransferText,
  draggedPaths,
  fileList,
  parseTransferEvent,
  runTransfer,
  showTransfer
} from '../src/transfers';

const encode = (text: string) => new TextEncoder().encode(text);

describe('NDJSON as it arrives', () => {
  it('gives complete lines only, whatever the chunks', () => {
    const lines = new NdjsonLines();
    expect(lines.push('{"event": "st')).toEqual([]);
    expect(lines.push('art"}\n{"event": "progress", "bytes": 1}\n{"ev')).toEqual([
      '{"event": "start"}',
      '{"event": "progress", "bytes": 1}'
    ]);
    expect(lines.push('ent": "done"}\n\n\r\n')).toEqual(['{"event": "done"}']);
    expect(lines.end()).toEqual([]);
  });

  it('keeps a character whose bytes are split between chunks', () => {
    const lines = new NdjsonLines();
    const bytes = encode('{"file": "résumé.pdf"}\n');
    const split = bytes.indexOf(0xc3) + 1; // inside "é"
    expect(lines.push(bytes.subarray(0, split))).toEqual([]);
    expect(lines.push(bytes.subarray(split))).toEqual(['{"file": "résumé.pdf"}']);
  });

  it('gives a last line without its newline at the end', () => {
    const lines = new NdjsonLines();
    expect(lines.push('{"event": "done"}')).toEqual([]);
    expect(lines.end()).toEqual(['{"event": "done"}']);
  });
});

describe("the server's events", () => {
  it('reads each event of the contract', () => {
    expect(parseTransferEvent('{"event": "start", "files": ["a.bin", 3], "total": 3000}')).toEqual({
      event: 'start',
      files: ['a.bin'],
      total: 3000
    });
    expect(
      parseTransferEvent('{"event": "progress", "file": "a.bin", "bytes": 1500, "total": 3000}')
    ).toEqual({ event: 'progress', file: 'a.bin', bytes: 1500, total: 3000 });
    const file = { name: 'a.bin', path: 'work/a.bin', size: 3000, sha256: 'ab12' };
    expect(
      parseTransferEvent(
        JSON.stringify({ event: 'done', files: [file, { name: 1 }], bytes: 3000, seconds: 0.5 })
      )
    ).toEqual({ event: 'done', files: [file], bytes: 3000, seconds: 0.5 });
    // An upload's path in the shell is not known, a folder has no digest.
    const sent = { name: 'd', path: null, size: 0, sha256: null };
    expect(parseTransferEvent(JSON.stringify({ event: 'done', files: [sent], bytes: 0 }))).toEqual({
      event: 'done',
      files: [sent],
      bytes: 0,
      seconds: 0
    });
    expect(parseTransferEvent('{"event": "error", "status": 409, "message": "busy"}')).toEqual({
      event: 'error',
      status: 409,
      message: 'busy'
    });
  });

  it('fills what an event leaves out, and skips what it cannot read', () => {
    expect(parseTransferEvent('{"event": "progress", "bytes": 10}')).toEqual({
      event: 'progress',
      file: '',
      bytes: 10,
      total: null
    });
    expect(parseTransferEvent('{"event": "error"}')).toEqual({
      event: 'error',
      status: 500,
      message: 'The transfer failed.'
    });
    expect(parseTransferEvent('{"event": "heartbeat"}')).toBeNull();
    expect(parseTransferEvent('not json')).toBeNull();
    expect(parseTransferEvent('[1, 2]')).toBeNull();
    expect(parseTransferEvent('null')).toBeNull();
  });
});

describe("the file browser's drag data", () => {
  it('are the paths of the dragged items, as the server takes them', () => {
    expect(draggedPaths(['data/a.csv', 'b.bin'])).toEqual(['data/a.csv', 'b.bin']);
    expect(draggedPaths('/one.txt')).toEqual(['one.txt']);
    expect(draggedPaths(['ok.txt', 7, null, ''])).toEqual(['ok.txt']);
    expect(draggedPaths(undefined)).toEqual([]);
  });

  it("lose a drive's prefix through the contents manager", () => {
    const localPath = (path: string) => path.replace(/^RTC:/, '');
    expect(draggedPaths(['RTC:notes/x.md', 'y:z.txt'], localPath)).toEqual([
      'notes/x.md',
      'y:z.txt'
    ]);
  });
});

describe('the words of a transfer', () => {
  it('lists', () => {
    expect(fileList(['dir/a.bin'])).toBe('a.bin');
    expect(fileList(['a', 'b'])).toBe('a and b');
    expect(fileList(['a', 'b', 'c'])).toBe('a and 2 more');
  });

  it('say what moves where', () => {
    const up = new TransferText({ direction: 'upload', paths: ['data/a.bin'] }, 'work');
    expect(up.starting()).toBe('Uploading a.bin to work…');
    const progress: TransferEvent = { event: 'progress', file: 'a.bin', bytes: 1e6, total: 4e6 };
    expect(up.progress(progress, ['a.bin'])).toEqual({
      text: 'Uploading a.bin: 1.0 MB of 4.0 MB',
      fraction: 0.25
    });
    const file = { name: 'a.bin', path: null, size: 4e6, sha256: 'ab' };
    expect(up.done({ event: 'done', files: [file], bytes: 4e6, seconds: 1 })).toBe(
      'Uploaded a.bin (4.0 MB) to work'
    );
    const into = new TransferText({ direction: 'upload', paths: ['a', 'b'], to: '/srv' }, 'work');
    expect(into.done({ event: 'done', files: [file, file], bytes: 8e6, seconds: 1 })).toBe(
      'Uploaded a.bin and a.bin (8.0 MB) to work: /srv'
    );
    expect(up.failed(new TransferError('no trz in the image', 400))).toBe(
      'Upload failed: no trz in the image'
    );
    const down = new TransferText({ direction: 'download', remote: ['/tmp/o.log'], to: 'd' }, 'w');
    const saved = { name: 'o.log', path: 'd/o.log', size: 12, sha256: '' };
    expect(down.done({ event: 'done', files: [saved], bytes: 12, seconds: 0 })).toBe(
      'Downloaded o.log (12 B) from w to d/o.log'
    );
    expect(down.failed(new TransferError('cancelled', 0, true))).toBe('Download cancelled.');
  });
});

/** Server settings whose fetch answers with `answer` (the real ServerConnection in between). */
function server(answer: (request: Request) => Response | Promise<Response>) {
  const requests: { method: string; path: string; body: string }[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    const path = new URL(request.url).pathname; // its query: JupyterLab's cache buster
    requests.push({ method: request.method, path, body: await request.clone().text() });
    return answer(request);
  };
  const settings = ServerConnection.makeSettings({
    baseUrl: 'http://127.0.0.1:8888/',
    wsUrl: 'ws://127.0.0.1:8888/',
    fetch
  });
  return { settings, requests };
}

/** A streamed NDJSON answer: the chunks, then the end (or a cut when `cut`). */
function stream(chunks: string[], cut = false): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      chunks.forEach(chunk => controller.enqueue(encode(chunk)));
      if (cut) {
        controller.error(new TypeError('network error'));
      } else {
        controller.close();
      }
    }
  });
  return new Response(body, { headers: { 'Content-Type': 'application/x-ndjson' } });
}

const DONE = {
  event: 'done',
  files: [{ name: 'a.bin', path: null, size: 3, sha256: 'x' }],
  bytes: 3,
  seconds: 0.1
};

describe('a transfer through the server', () => {
  it('posts the request and reports each event until done', async () => {
    const { settings, requests } = server(() =>
      stream([
        '{"event": "start", "files": ["a.bin"], "total": 3}\n{"event": "prog',
        'ress", "file": "a.bin", "bytes": 2, "total": 3}\n',
        JSON.stringify(DONE) + '\n'
      ])
    );
    const events: TransferEvent[] = [];
    const done = await runTransfer(
      settings,
      'my shell',
      { direction: 'upload', paths: ['a.bin'] },
      event => events.push(event)
    );
    expect(requests).toEqual([
      {
        method: 'POST',
        path: '/cloudtty/api/shells/my%20shell/transfers',
        body: '{"direction":"upload","paths":["a.bin"]}'
      }
    ]);
    expect(events.map(e => e.event)).toEqual(['start', 'progress', 'done']);
    expect(done.files).toEqual([{ name: 'a.bin', path: null, size: 3, sha256: 'x' }]);
  });

  it("throws the server's refusal, with its status", async () => {
    const { settings } = server(
      () => new Response(JSON.stringify({ message: 'paths: no such file: x.bin' }), { status: 400 })
    );
    const refused = runTransfer(settings, 's', { direction: 'upload', paths: ['x.bin'] });
    await expect(refused).rejects.toThrow('paths: no such file: x.bin');
    await expect(refused).rejects.toMatchObject({ status: 400, cancelled: false });
  });

  it("throws an error event as the transfer's failure", async () => {
    const { settings } = server(() =>
      stream([
        '{"event": "start", "files": ["a"], "total": 1}\n',
        '{"event": "error", "status": 400, "message": "trz: command not found in the shell"}\n'
      ])
    );
    const failed = runTransfer(settings, 's', { direction: 'upload', paths: ['a'] });
    await expect(failed).rejects.toThrow('trz: command not found in the shell');
  });

  it('says so when the stream ends or breaks without a result', async () => {
    const ended = server(() => stream(['{"event": "start", "files": [], "total": 0}\n']));
    await expect(
      runTransfer(ended.settings, 's', { direction: 'download', remote: ['a'] })
    ).rejects.toThrow(/ended without a result/);
    const broken = server(() => stream(['{"event": "start"}\n'], true));
    await expect(
      runTransfer(broken.settings, 's', { direction: 'download', remote: ['a'] })
    ).rejects.toThrow(/connection to the server was lost/);
  });

  it('is cancelled by its signal (the server cancels when the request goes away)', async () => {
    const abort = new AbortController();
    const { settings } = server(request => {
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(encode('{"event": "start", "files": ["a"], "total": 9}\n'));
          request.signal.addEventListener('abort', () => controller.error(request.signal.reason));
        }
      });
      return new Response(body);
    });
    const running = runTransfer(
      settings,
      's',
      { direction: 'upload', paths: ['a'] },
      event => {
        if (event.event === 'start') {
          abort.abort();
        }
      },
      abort.signal
    );
    await expect(running).rejects.toMatchObject({ cancelled: true });
  });
});

describe('a transfer shown', () => {
  it('tells its view each step, and the end', async () => {
    const { settings } = server(() =>
      stream([
        '{"event": "start", "files": ["a.bin"], "total": 3}\n',
        '{"event": "progress", "file": "a.bin", "bytes": 3, "total": 3}\n',
        JSON.stringify(DONE) + '\n'
      ])
    );
    const steps: string[] = [];
    const view: ITransferView = {
      started: text => steps.push(`started ${text}`),
      progress: (text, fraction) => steps.push(`progress ${text} ${fraction}`),
      finished: text => steps.push(`finished ${text}`),
      failed: text => steps.push(`failed ${text}`)
    };
    await showTransfer(settings, 'work', { direction: 'upload', paths: ['a.bin'] }, view);
    expect(steps).toEqual([
      'started Uploading a.bin to work…',
      'progress Uploading a.bin (3 B)… 0',
      'progress Uploading a.bin: 3 B of 3 B 1',
      'finished Uploaded a.bin (3 B) to work'
    ]);
  });
});
