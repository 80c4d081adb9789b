import { describe, expect, it } from 'vitest';

import { formatBytes } from '../src/sizes';

// The same cases as the server's and the magics' (tests/test_sizes.py): one way to say a size.
describe('a size', () => {
  it('is bytes in powers of 1000, with one decimal', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(512.4)).toBe('512 B');
    expect(formatBytes(1000)).toBe('1.0 KB');
    expect(formatBytes(14540)).toBe('14.5 KB');
    expect(formatBytes(588_900)).toBe('588.9 KB');
    expect(formatBytes(3_000_000)).toBe('3.0 MB');
    expect(formatBytes(15_200_000)).toBe('15.2 MB');
    expect(formatBytes(1e9)).toBe('1.0 GB');
    expect(formatBytes(2e12)).toBe('2.0 TB');
    expect(formatBytes(3e15)).toBe('3000.0 TB');
  });
});
