import { ServerConnection } from '@jupyterlab/services';
import { describe, expect, it } from 'vitest';

import {
  IShell,
  ShellApiError,
  ShellsApi,
  extendedTtl,
  idleEnding,
  idleTimeoutSeconds,
  restartedCondition
} from '../src/api';

const STARTED = '2026-11-25T10:00:00Z';
const T0 = Date.parse(STARTED);

const shell = (spec: IShell['spec'] = {}, status: IShell['status'] = {}): IShell => ({
  name: 'pods',
  created: STARTED,
  spec,
  status: { phase: 'Ready', ...status }
});

/** A ShellsApi whose requests go to `answer` (the real ServerConnection in between). */
function api(answer: (request: Request) => Response | Promise<Response>) {
  const requests: { method: string; url: string; body: string }[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    requests.push({ method: request.method, url: request.url, body: await request.clone().text() });
    return answer(request);
  };
  const settings = ServerConnection.makeSettings({
    baseUrl: 'http://127.0.0.1:8888/',
    wsUrl: 'ws://127.0.0.1:8888/',
    fetch
  });
  return { api: new ShellsApi(settings), requests };
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' }
  });

describe('extending a TTL', () => {
  it('adds to the whole lifetime, not to the time left', () => {
    const s = shell({ ttlSecondsAfterStarted: 600 });
    expect(extendedTtl(s, 3600, T0 + 300_000)).toBe(4200);
    expect(extendedTtl(s, 1800, T0 + 599_000)).toBe(2400);
  });

  it('reads the older ttl field when the newer one is absent', () => {
    expect(extendedTtl(shell({ ttl: 500 }), 1800, T0)).toBe(2300);
    expect(extendedTtl(shell({ ttl: 500, ttlSecondsAfterStarted: 900 }), 60, T0)).toBe(960);
  });

  it('gives a shell without a TTL its age (whole seconds, rounded up) plus the extension', () => {
    expect(extendedTtl(shell(), 3600, T0 + 125_400)).toBe(126 + 3600);
    expect(extendedTtl(shell({ ttlSecondsAfterStarted: 0 }), 1800, T0 + 60_000)).toBe(60 + 1800);
  });

  it('counts the age from lastScheduleTime, when the TTL starts, not from creation', () => {
    const scheduled = shell({}, { lastScheduleTime: '2026-11-25T10:01:00Z' });
    expect(extendedTtl(scheduled, 1800, T0 + 90_000)).toBe(30 + 1800);
  });

  it('PATCHes the new ttlSecondsAfterStarted and answers the shell the server returns', async () => {
    const updated = shell({ ttlSecondsAfterStarted: 4200 });
    const { api: a, requests } = api(() => json(200, updated));
    const before = shell({ ttlSecondsAfterStarted: 600 });
    expect(await a.extend(before, 3600)).toEqual(updated);
    expect(requests).toHaveLength(1);
    expect(requests[0].method).toBe('PATCH');
    expect(new URL(requests[0].url).pathname).toBe('/cloudtty/api/shells/pods');
    expect(JSON.parse(requests[0].body)).toEqual({ spec: { ttlSecondsAfterStarted: 4200 } });
  });
});

describe('PATCH errors', () => {
  it.each([
    [400, "spec.ttlSecondsAfterStarted: at most 7200 seconds (the server's max_ttl)"],
    [
      400,
      'spec.image: cannot change on a running shell (only spec.ttlSecondsAfterStarted can): delete it and create a new one'
    ],
    [404, "shell 'pods' not found"],
    [409, 'shell pods has ended']
  ])('%i: a ShellApiError with the server message', async (status, message) => {
    const { api: a } = api(() => json(status, { message }));
    const error = await a.patch('pods', { ttlSecondsAfterStarted: 99999 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ShellApiError);
    expect(error).toMatchObject({ status, message });
  });

  it('a body that is not the server JSON gives the HTTP status', async () => {
    const { api: a } = api(
      () => new Response('<html>Bad Gateway</html>', { status: 502, statusText: 'Bad Gateway' })
    );
    await expect(a.patch('pods', {})).rejects.toMatchObject({
      status: 502,
      message: '502 Bad Gateway'
    });
  });
});

describe('idle rules and restarts', () => {
  it('an idle rule is a positive number of seconds', () => {
    expect(idleTimeoutSeconds(shell({ idleTimeoutSeconds: 1800 }))).toBe(1800);
    expect(idleTimeoutSeconds(shell({ idleTimeoutSeconds: 0 }))).toBeNull();
    expect(idleTimeoutSeconds(shell())).toBeNull();
  });

  it('a shell ended idle is a Complete one whose Ready condition says IdleTimeout', () => {
    const idle = {
      type: 'Ready',
      status: 'False',
      reason: 'IdleTimeout',
      message: 'no input or output for 30m'
    };
    expect(idleEnding(shell({}, { phase: 'Complete', conditions: [idle] }))).toEqual(idle);
    expect(idleEnding(shell({}, { phase: 'Ready', conditions: [idle] }))).toBeNull();
    const expired = { ...idle, reason: 'Expired', message: 'the TTL ran out' };
    expect(idleEnding(shell({}, { phase: 'Complete', conditions: [expired] }))).toBeNull();
  });

  it('a Restarted condition counts only when True', () => {
    const restarted = {
      type: 'Restarted',
      status: 'True',
      reason: 'PodDeleted',
      message: 'its pod was deleted; a new one runs the shell'
    };
    expect(restartedCondition(shell({}, { conditions: [restarted] }))).toEqual(restarted);
    expect(
      restartedCondition(shell({}, { conditions: [{ ...restarted, status: 'False' }] }))
    ).toBeNull();
    expect(restartedCondition(shell())).toBeNull();
  });
});
