/**
 * A terminal's size in character cells, estimated before xterm.js is loaded: the size of a new
 * tab's early handshake, so that the tab connects while xterm.js loads and the shell's program
 * starts at (nearly) the size it will have. Once xterm.js is open, its FitAddon sizes the terminal
 * from its own measurements; where the two differ by a cell, a RESIZE follows.
 */
import { ISize } from './protocol';

/** The width xterm.js keeps for its scrollbar when it has scrollback (the FitAddon's default). */
export const SCROLLBAR_WIDTH = 14;

/** A box in CSS pixels. */
export interface IBox {
  width: number;
  height: number;
}

/**
 * What fits in `box` of cells of size `cell`: at least 2 columns and 1 row, as in xterm.js; ttyd's
 * and xterm.js's default 80x24 when nothing could be measured (a box not laid out, or hidden).
 */
export function cellsIn(box: IBox, cell: IBox, scrollbar = SCROLLBAR_WIDTH): ISize {
  if (!(cell.width > 0 && cell.height > 0 && box.width > scrollbar && box.height > 0)) {
    return { columns: 80, rows: 24 };
  }
  return {
    columns: Math.max(2, Math.floor((box.width - scrollbar) / cell.width)),
    rows: Math.max(1, Math.floor(box.height / cell.height))
  };
}

/** One cell of a monospace font, rounded to device pixels as xterm.js's renderers round it. */
export function deviceCell(measured: IBox, devicePixelRatio: number): IBox {
  const ratio = devicePixelRatio > 0 ? devicePixelRatio : 1;
  return {
    width: Math.floor(measured.width * ratio) / ratio,
    height: Math.ceil(measured.height * ratio) / ratio
  };
}

/**
 * The size a terminal opened in `host` will have, from the host's box and the terminal's font
 * (xterm.js keeps no room for a scrollbar when it has no scrollback).
 */
export function estimateSize(
  host: HTMLElement,
  font: { fontFamily: string; fontSize: number },
  scrollback = true
): ISize {
  const probe = document.createElement('span');
  probe.textContent = 'W'.repeat(32);
  probe.setAttribute('aria-hidden', 'true');
  Object.assign(probe.style, {
    position: 'absolute',
    visibility: 'hidden',
    whiteSpace: 'pre',
    fontFamily: font.fontFamily,
    fontSize: `${font.fontSize}px`,
    lineHeight: 'normal'
  });
  document.body.append(probe);
  const rect = probe.getBoundingClientRect();
  probe.remove();
  const style = getComputedStyle(host);
  return cellsIn(
    { width: parseInt(style.width, 10) || 0, height: parseInt(style.height, 10) || 0 },
    deviceCell({ width: rect.width / 32, height: rect.height }, window.devicePixelRatio),
    scrollback ? SCROLLBAR_WIDTH : 0
  );
}
