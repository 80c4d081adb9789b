import { describe, expect, it } from 'vitest';

import { SCROLLBAR_WIDTH, cellsIn, deviceCell } from '../src/sizing';

// xterm.js's FitAddon sizes the open terminal the same way; a tab's first handshake uses these.
describe("a terminal's size before xterm.js is loaded", () => {
  it('is the whole cells that fit beside the scrollbar', () => {
    const cell = { width: 7.8, height: 17 };
    expect(cellsIn({ width: 800 + SCROLLBAR_WIDTH, height: 680 }, cell)).toEqual({
      columns: 102,
      rows: 40
    });
    expect(cellsIn({ width: 799 + SCROLLBAR_WIDTH, height: 679 }, cell)).toEqual({
      columns: 102,
      rows: 39
    });
  });

  it('is at least 2 columns and 1 row, and 80x24 when nothing could be measured', () => {
    expect(cellsIn({ width: 15, height: 10 }, { width: 8, height: 17 })).toEqual({
      columns: 2,
      rows: 1
    });
    // A hidden tab's box (display: none) measures 0: not a size to start a program at.
    expect(cellsIn({ width: 0, height: 0 }, { width: 8, height: 17 })).toEqual({
      columns: 80,
      rows: 24
    });
    expect(cellsIn({ width: 800, height: 600 }, { width: 8, height: 20 }, 0)).toEqual({
      columns: 100,
      rows: 30
    });
    expect(cellsIn({ width: 800, height: 600 }, { width: 0, height: 0 })).toEqual({
      columns: 80,
      rows: 24
    });
    expect(cellsIn({ width: 800, height: 600 }, { width: NaN, height: 17 })).toEqual({
      columns: 80,
      rows: 24
    });
  });

  it("rounds a cell to device pixels as xterm.js's renderers do", () => {
    expect(deviceCell({ width: 7.83, height: 16.2 }, 1)).toEqual({ width: 7, height: 17 });
    expect(deviceCell({ width: 7.83, height: 16.2 }, 2)).toEqual({ width: 7.5, height: 16.5 });
    expect(deviceCell({ width: 7.83, height: 16.2 }, 0)).toEqual({ width: 7, height: 17 });
  });
});
