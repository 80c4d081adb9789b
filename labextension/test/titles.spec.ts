import { describe, expect, it } from 'vitest';

import { ICondition, IShell, IShellSpec, IShellStatus } from '../src/api';
import { endingOf, tabTitle, withoutHost } from '../src/titles';

const shell = (spec: IShellSpec = {}, status: IShellStatus = { phase: 'Ready' }): IShell => ({
  name: 'pods',
  created: '2026-11-25T10:00:00Z',
  spec,
  status
});

const ready = (status: string, reason: string, message: string): ICondition => ({
  type: 'Ready',
  status,
  reason,
  message
});

describe("a tab's label", () => {
  it('is the shell name alone while nothing more is known', () => {
    expect(tabTitle({ name: 'pods' })).toEqual({
      label: 'pods',
      caption: 'Cluster shell pods',
      detail: ''
    });
  });

  it("is the name, then the server's title without its host", () => {
    const title = tabTitle({ name: 'pods', serverTitle: '/bin/bash -l (vm)' });
    expect(title.label).toBe('pods — /bin/bash -l');
    expect(title.caption).toBe('Cluster shell pods\n/bin/bash -l (vm)');
  });

  it("is the name, then the shell's command, before any connection (a restored tab)", () => {
    const logs = shell({ commandAction: 'kubectl logs -f web' });
    expect(tabTitle({ name: 'pods', shell: logs })).toEqual({
      label: 'pods — kubectl logs -f web',
      caption: 'Cluster shell pods\nCommand: kubectl logs -f web',
      detail: 'kubectl logs -f web'
    });
    // The same once connected: the label does not change under the user.
    expect(
      tabTitle({ name: 'pods', shell: logs, serverTitle: 'kubectl logs -f web (pod)' }).label
    ).toBe('pods — kubectl logs -f web');
  });

  it("prefers a fixed title, then the program's live title", () => {
    const parts = { name: 'pods', serverTitle: 'bash -l (vm)', programTitle: 'alice@vm: ~' };
    expect(tabTitle(parts).label).toBe('pods — alice@vm: ~');
    expect(tabTitle({ ...parts, fixedTitle: 'prod' }).label).toBe('pods — prod');
    expect(tabTitle({ ...parts, fixedTitle: 'prod' }).caption).toBe(
      'Cluster shell pods\nbash -l (vm)\nTitle: alice@vm: ~'
    );
  });

  it('says how the shell ended, the caption in full', () => {
    const title = tabTitle({
      name: 'pods',
      serverTitle: 'bash -l (vm)',
      ending: { word: 'failed', message: 'The shell failed: exited with code 3' }
    });
    expect(title.label).toBe('pods — failed');
    expect(title.caption).toBe(
      'Cluster shell pods\nbash -l (vm)\nThe shell failed: exited with code 3'
    );
  });

  it('keeps a title that only looks like a host', () => {
    expect(withoutHost('top (vm)')).toBe('top');
    expect(withoutHost('(vm)')).toBe('(vm)');
    expect(withoutHost('make (all) now')).toBe('make (all) now');
  });
});

describe('how a listed shell ended', () => {
  it('is nothing while it runs', () => {
    expect(endingOf(shell())).toBeNull();
    expect(endingOf(shell({}, { phase: 'Pending' }))).toBeNull();
  });

  it('says why in the words of the close codes', () => {
    const complete = (reason: string, message: string) =>
      endingOf(shell({}, { phase: 'Complete', conditions: [ready('False', reason, message)] }));
    expect(complete('Exited', 'exited')).toEqual({
      word: 'ended',
      message: 'The shell ended: exited',
      failure: false
    });
    expect(complete('Expired', 'its time to live ran out')).toEqual({
      word: 'ended',
      message: 'The shell ended: its time to live ran out.',
      failure: false
    });
    expect(complete('IdleTimeout', 'ended: no input or output for 2s')?.message).toBe(
      'The shell ended idle: no input or output for 2s'
    );
    expect(complete('Deleted', 'deleted')?.word).toBe('deleted');
    expect(endingOf(shell({}, { phase: 'Complete' }))?.message).toBe('The shell ended.');
  });

  it('is a failure when the shell failed, with its summary, not its last output', () => {
    const failed = shell(
      {},
      {
        phase: 'Failed',
        conditions: [
          ready('False', 'Failed', 'the command exited with code 3'),
          {
            type: 'Failed',
            status: 'True',
            reason: 'CommandFailed',
            message: 'the command exited with code 3; last output:\nboom'
          }
        ]
      }
    );
    expect(endingOf(failed)).toEqual({
      word: 'failed',
      message: 'The shell failed: exited with code 3',
      failure: true
    });
    const onlyFailed = shell(
      {},
      {
        phase: 'Failed',
        conditions: [
          { type: 'Failed', status: 'True', message: 'image pull failed; last output:\nx' }
        ]
      }
    );
    expect(endingOf(onlyFailed)?.message).toBe('The shell failed: image pull failed');
  });

  it('says a shell that could not be recorded failed as the server refusing it says', () => {
    const unrecorded = shell(
      {},
      {
        phase: 'Failed',
        conditions: [ready('False', 'NotRecorded', 'cannot record the terminal in /srv: denied')]
      }
    );
    expect(endingOf(unrecorded)).toEqual({
      word: 'failed',
      message:
        'This server records every terminal, and could not record this one: cannot record the terminal in /srv: denied',
      failure: true
    });
  });
});
