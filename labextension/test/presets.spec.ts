import { describe, expect, it } from 'vitest';

import {
  PRESETS,
  buildSpec,
  checkForm,
  commandPreview,
  extendLabel,
  fieldError,
  formatDuration,
  humanizeSeconds,
  offeredPresets,
  parseDuration,
  serverFieldError
} from '../src/presets';

describe('durations', () => {
  it.each([
    ['', null],
    ['  ', null],
    ['90', 90],
    ['90s', 90],
    ['15m', 900],
    ['2h', 7200],
    ['1d', 86400],
    ['1h30m', 5400],
    ['1h 30m', 5400],
    ['2H', 7200]
  ])('%j is %j seconds', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it.each(['abc', '5x', 'h1', '1.5h', '-5', '0', '0m', '10m x'])('%j is refused', text => {
    expect(() => parseDuration(text)).toThrow(/duration|at least 1 second/);
  });

  it.each([
    [0, '0s'],
    [45, '45s'],
    [60, '1m'],
    [754, '12m 34s'],
    [3600, '1h'],
    [5400, '1h 30m'],
    [3605, '1h'],
    [90061, '1d 1h']
  ])('%i s reads %j', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });
});

describe('the New shell form', () => {
  it('an interactive shell leaves the command to the server', () => {
    expect(buildSpec({ preset: 'shell', fields: {}, ttl: '', once: false })).toEqual({ spec: {} });
  });

  it('sets the TTL and once', () => {
    expect(buildSpec({ preset: 'shell', fields: {}, ttl: '30m', once: true })).toEqual({
      spec: { ttlSecondsAfterStarted: 1800, once: true }
    });
  });

  it('builds kubectl commands from the fields', () => {
    expect(
      buildSpec({
        preset: 'logs',
        fields: { pod: 'web-1', namespace: 'prod' },
        ttl: '',
        once: false
      })
    ).toEqual({ spec: { commandAction: 'kubectl logs -f web-1 -n prod' } });
    expect(
      buildSpec({ preset: 'logs', fields: { pod: 'deploy/web' }, ttl: '', once: false })
    ).toEqual({ spec: { commandAction: 'kubectl logs -f deploy/web' } });
    expect(buildSpec({ preset: 'events', fields: {}, ttl: '', once: false })).toEqual({
      spec: { commandAction: 'kubectl get events -A -w' }
    });
    expect(
      buildSpec({ preset: 'exec', fields: { pod: 'db-0', container: 'pg' }, ttl: '', once: false })
    ).toEqual({
      spec: {
        commandAction:
          'kubectl exec -it db-0 -c pg -- sh -c "command -v bash >/dev/null && exec bash || exec sh"'
      }
    });
  });

  it('says what is wrong, and at which field, instead of building a command from it', () => {
    expect(buildSpec({ preset: 'logs', fields: {}, ttl: '', once: false })).toEqual({
      error: 'Pod is required.',
      field: 'pod'
    });
    expect(
      buildSpec({ preset: 'exec', fields: { pod: 'x; rm -rf ~' }, ttl: '', once: false })
    ).toEqual({
      error:
        'Pod: "x; rm -rf ~" is not a Kubernetes name (lowercase letters, digits, "-" and ".").',
      field: 'pod'
    });
    expect(buildSpec({ preset: 'shell', fields: {}, ttl: 'soon', once: false })).toEqual({
      error: '"soon" is not a duration: write e.g. 90s, 15m, 2h or 1h30m.',
      field: 'ttl'
    });
    expect(fieldError('namespace', 'Prod', false)).toMatch(/not a Kubernetes name/);
    expect(fieldError('container', '', false)).toBeNull();
  });

  it('finds every wrong field at once, and only those of the chosen preset', () => {
    expect(
      checkForm({
        preset: 'logs',
        fields: { container: 'Web', namespace: 'prod' },
        ttl: '2 days',
        once: false
      })
    ).toEqual({
      pod: 'Pod is required.',
      container:
        'Container: "Web" is not a Kubernetes name (lowercase letters, digits, "-" and ".").',
      ttl: '"2 days" is not a duration: write e.g. 90s, 15m, 2h or 1h30m.'
    });
    expect(checkForm({ preset: 'shell', fields: { pod: 'Bad!' }, ttl: '1h', once: true })).toEqual(
      {}
    );
  });

  it("previews the command, the pod's place held until it is typed", () => {
    expect(commandPreview('logs', {})).toBe('kubectl logs -f POD');
    expect(commandPreview('logs', { pod: ' web-1 ', namespace: 'prod' })).toBe(
      'kubectl logs -f web-1 -n prod'
    );
    expect(commandPreview('events', {})).toBe('kubectl get events -A -w');
    expect(commandPreview('shell', { pod: 'x' })).toBeUndefined();
  });

  it('an unknown preset is the interactive shell', () => {
    expect(buildSpec({ preset: 'nope', fields: {}, ttl: '', once: false })).toEqual({ spec: {} });
  });
});

describe('the Extend choices', () => {
  it('are labelled as offered, other amounts as durations', () => {
    expect([1800, 3600, 14400].map(extendLabel)).toEqual(['+30 min', '+1 h', '+4 h']);
    expect(extendLabel(7200)).toBe('+2h');
  });

  it("say the server's limit in hours and minutes", () => {
    expect(
      humanizeSeconds(
        'spec.ttlSecondsAfterStarted: at most 14400 seconds here (c.CloudTTY.max_ttl), got 18000'
      )
    ).toBe(
      'spec.ttlSecondsAfterStarted: at most 14400 seconds (4h) here (c.CloudTTY.max_ttl), got 18000'
    );
    expect(humanizeSeconds('at most 30 seconds')).toBe('at most 30 seconds');
  });
});

describe('the presets a server can run', () => {
  const local = {
    backend: 'local',
    reason: 'no cluster credentials found (in-cluster or kubeconfig)'
  };

  it('are all offered where shells run in the cluster, or before the server says', () => {
    expect(offeredPresets({ backend: 'kubernetes', namespace: 'team' })).toEqual({
      presets: PRESETS,
      hidden: null
    });
    expect(offeredPresets(null).presets.map(p => p.id)).toEqual([
      'shell',
      'logs',
      'events',
      'exec'
    ]);
  });

  it('are without kubectl on the local backend, which says why', () => {
    const offered = offeredPresets(local);
    expect(offered.presets.map(p => p.id)).toEqual(['shell']);
    expect(offered.hidden).toBe(
      'Pod logs, events and exec need a cluster; shells here are local: no cluster credentials ' +
        'found (in-cluster or kubeconfig).'
    );
    expect(offeredPresets({ backend: 'local' }).hidden).toBe(
      'Pod logs, events and exec need a cluster; shells here are local.'
    );
  });
});

describe("the server's refusals", () => {
  it('go to the field they name, without its path', () => {
    expect(serverFieldError("a shell named 'taken' already exists")).toEqual({
      field: 'name',
      error: "A shell named 'taken' already exists"
    });
    expect(
      serverFieldError("name: 'Not_A_Name' is not a DNS-1123 label: use lowercase letters")
    ).toEqual({
      field: 'name',
      error: "'Not_A_Name' is not a DNS-1123 label: use lowercase letters"
    });
    expect(
      serverFieldError(
        'spec.ttlSecondsAfterStarted: at most 7200 seconds here (c.CloudTTY.max_ttl), got 9000'
      )
    ).toEqual({
      field: 'ttl',
      error: 'At most 7200 seconds (2h) here (c.CloudTTY.max_ttl), got 9000'
    });
    expect(serverFieldError('record: recording is off on this server')).toEqual({
      field: 'record',
      error: 'Recording is off on this server'
    });
  });

  it('about anything else are for the form as a whole', () => {
    expect(serverFieldError('at most 5 shells at a time (c.CloudTTY.max_shells)')).toBeNull();
    expect(serverFieldError('spec.commandAction: not supported by the local backend')).toBeNull();
  });
});
