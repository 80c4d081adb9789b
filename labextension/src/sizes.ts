/**
 * A count of bytes as people read it, the same wherever a size is shown: a transfer's strip and
 * notification, the recordings' list. The server and the magics say it the same way
 * (jupyter_cloudtty/cloudshell/sizes.py).
 */

const UNITS = ['KB', 'MB', 'GB', 'TB'];

/**
 * `812 B`, `14.5 KB`, `3.0 MB`, up to TB: powers of 1000, as disks and network rates count (a
 * transfer's MB/s is 10**6 bytes a second).
 */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) {
    return `${Math.max(0, Math.round(bytes))} B`;
  }
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(1)} ${UNITS[unit]}`;
}
