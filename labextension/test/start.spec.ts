import { describe, expect, it } from 'vitest';

import { ICondition, IShell, IShellStatus } from '../src/api';
import { howStarted, startNote, startingBanner, startingLabel } from '../src/start';

const shell = (status: IShellStatus): IShell => ({
  name: 'work',
  created: '2026-11-25T10:00:00Z',
  spec: {},
  status
});

const IMAGE =
  "its image reg.example/tools:1 is not the pool's (jupyter-cloudtty/cloudshell:latest)";
const warm: ICondition = {
  type: 'WarmStart',
  status: 'True',
  reason: 'PoolHit',
  message: 'it started in pool-x7k2p, a ready pod of the pool'
};
const cold: ICondition = {
  type: 'WarmStart',
  status: 'False',
  reason: 'ImageDiffers',
  message: IMAGE
};
const ready: ICondition = {
  type: 'Ready',
  status: 'True',
  reason: 'Ready',
  message: 'the terminal is reachable'
};

describe('how a shell starts', () => {
  it('reads status.start, or the WarmStart condition alone', () => {
    expect(howStarted(shell({ phase: 'Ready', start: 'Pool', conditions: [ready, warm] }))).toEqual(
      {
        kind: 'warm',
        message: warm.message
      }
    );
    expect(howStarted(shell({ phase: 'CreatedJob', conditions: [cold] }))).toEqual({
      kind: 'cold',
      message: IMAGE
    });
    expect(howStarted(shell({ phase: '', start: 'Cold' }))).toEqual({ kind: 'cold', message: '' });
  });

  it('says nothing without a pool (or on the local backend)', () => {
    const plain = shell({ phase: 'CreatedJob', conditions: [ready] });
    expect(howStarted(plain)).toBeNull();
    expect(startingLabel(plain)).toBeNull();
    expect(startNote(shell({ phase: 'Ready', conditions: [ready] }))).toBeNull();
    expect(startingBanner(plain)).toBe('The shell is starting (phase: CreatedJob)…');
    expect(startingBanner(shell({}))).toBe('The shell is starting (phase: Pending)…');
  });

  it('labels a starting shell cold, with why, or warm', () => {
    expect(
      startingLabel(shell({ phase: 'CreatedJob', start: 'Cold', conditions: [cold] }))
    ).toEqual({
      text: 'starting (cold)',
      title: `Cold start: ${IMAGE}`
    });
    expect(startingLabel(shell({ phase: '', conditions: [cold] }))?.text).toBe('starting (cold)');
    expect(
      startingLabel(shell({ phase: 'CreatedJob', start: 'Pool', conditions: [warm] }))
    ).toEqual({
      text: 'starting (warm)',
      title: `Warm start: ${warm.message}`
    });
  });

  it('stops saying "starting" once Ready or ended', () => {
    for (const phase of ['Ready', 'Complete', 'Failed']) {
      expect(startingLabel(shell({ phase, start: 'Cold', conditions: [cold] }))).toBeNull();
    }
  });

  it('notes where a Ready shell started, only when status.start says', () => {
    expect(startNote(shell({ phase: 'Ready', start: 'Pool', conditions: [ready, warm] }))).toEqual({
      text: 'from the pool',
      title: `From the pool: ${warm.message}`
    });
    expect(startNote(shell({ phase: 'Ready', start: 'Cold', conditions: [ready, cold] }))).toEqual({
      text: 'cold start',
      title: `Cold start: ${IMAGE}`
    });
    expect(startNote(shell({ phase: 'Ready', conditions: [ready, cold] }))).toBeNull();
    expect(startNote(shell({ phase: 'CreatedJob', start: 'Cold', conditions: [cold] }))).toBeNull();
  });

  it("puts the reason in the terminal's starting banner", () => {
    expect(startingBanner(shell({ phase: 'CreatedJob', start: 'Cold', conditions: [cold] }))).toBe(
      `The shell is starting (phase: CreatedJob, cold start: ${IMAGE})…`
    );
    expect(startingBanner(shell({ phase: '', start: 'Pool', conditions: [warm] }))).toBe(
      'The shell is starting (phase: Pending, warm start)…'
    );
  });
});
