/**
 * The terminal's colours and font, read from JupyterLab's current theme (its CSS
 * variables), so a terminal follows the light/dark switch and any third-party theme.
 */
import type { ITheme } from '@xterm/xterm';

/** ANSI colours readable on a light background (xterm.js's defaults suit dark ones). */
const LIGHT_ANSI: ITheme = {
  black: '#000000',
  red: '#cd3131',
  green: '#00bc00',
  yellow: '#949800',
  blue: '#0451a5',
  magenta: '#bc05bc',
  cyan: '#0598bc',
  white: '#555555',
  brightBlack: '#666666',
  brightRed: '#cd3131',
  brightGreen: '#14ce14',
  brightYellow: '#b5ba00',
  brightBlue: '#0451a5',
  brightMagenta: '#bc05bc',
  brightCyan: '#0598bc',
  brightWhite: '#a5a5a5'
};

function cssVariable(style: CSSStyleDeclaration, name: string, fallback: string): string {
  return style.getPropertyValue(name).trim() || fallback;
}

/** Relative luminance (0 black … 1 white) of a CSS colour, or null if it cannot be parsed. */
export function luminance(color: string): number | null {
  let rgb: number[] | null = null;
  const hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(color.trim());
  if (hex) {
    const digits =
      hex[1].length === 3
        ? hex[1]
            .split('')
            .map(d => d + d)
            .join('')
        : hex[1];
    rgb = [0, 2, 4].map(i => parseInt(digits.slice(i, i + 2), 16));
  } else {
    const fn = /^rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)/i.exec(color.trim());
    if (fn) {
      rgb = [fn[1], fn[2], fn[3]].map(Number);
    }
  }
  if (!rgb) {
    return null;
  }
  const [r, g, b] = rgb.map(v => {
    const c = v / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** The xterm.js theme matching JupyterLab's current one. */
export function jupyterLabTheme(element: Element = document.body): ITheme {
  const style = getComputedStyle(element);
  const background = cssVariable(style, '--jp-layout-color0', '#ffffff');
  const light = (luminance(background) ?? 1) > 0.4;
  return {
    ...(light ? LIGHT_ANSI : {}),
    foreground: cssVariable(style, '--jp-ui-font-color0', light ? '#000000' : '#ffffff'),
    background,
    cursor: cssVariable(style, '--jp-ui-font-color1', light ? '#616161' : '#ffffff'),
    cursorAccent: cssVariable(style, '--jp-ui-inverse-font-color0', background),
    selectionBackground: cssVariable(style, '--jp-layout-color3', 'rgba(97, 97, 97, 0.3)'),
    selectionInactiveBackground: cssVariable(
      style,
      '--jp-layout-color2',
      'rgba(189, 189, 189, 0.3)'
    )
  };
}

/** JupyterLab's code font: family and size in pixels. */
export function jupyterLabFont(element: Element = document.body): {
  fontFamily: string;
  fontSize: number;
} {
  const style = getComputedStyle(element);
  const family = cssVariable(style, '--jp-code-font-family', 'monospace');
  const size = parseFloat(cssVariable(style, '--jp-code-font-size', '13px'));
  return { fontFamily: family, fontSize: Number.isFinite(size) && size > 0 ? size : 13 };
}
