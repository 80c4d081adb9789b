"""WCAG 2.x contrast as a browser shows it (tests/ui): an element's text over what is behind it, from the
colours the browser computed, for the readability checks of the panel, the tabs' banners and the like."""

from __future__ import annotations

AA = 4.5  # WCAG 2.x level AA, normal text
UI = 3.0  # WCAG 2.x, a control's graphics (a select's caret)

# Playwright's ``evaluate(CONTRAST[, graphic])`` on an element: {text, color, background, ratio, fill}, the
# ratio of its text's colour over what is behind it and, given ``graphic`` (a selector from the element's
# parent, e.g. a select's caret), of that graphic's fill drawn over the same (else fill is null).
# Colours are read as the browser computed them, through a canvas pixel (any CSS colour: rgb(),
# color(srgb …) from color-mix), and alpha blended over the ancestors' backgrounds down to the first
# opaque one (white under them all, as a page's canvas is).
CONTRAST = """(node, graphic) => {
  const ctx = Object.assign(document.createElement('canvas'), { width: 1, height: 1 })
    .getContext('2d', { willReadFrequently: true });
  const rgba = (css) => {
    ctx.clearRect(0, 0, 1, 1);
    ctx.fillStyle = '#000';  // a colour the canvas cannot parse leaves the last one: black instead
    ctx.fillStyle = css;
    ctx.fillRect(0, 0, 1, 1);
    const [r, g, b, a] = ctx.getImageData(0, 0, 1, 1).data;
    return [r, g, b, a / 255];
  };
  const over = (top, opaque) => [0, 1, 2].map((i) => top[i] * top[3] + opaque[i] * (1 - top[3]));
  const layers = [];
  for (let e = node; e; e = e.parentElement) {
    const color = rgba(getComputedStyle(e).backgroundColor);
    if (color[3] > 0) { layers.unshift(color); }
    if (color[3] >= 1) { break; }
  }
  const background = layers.reduce((below, layer) => over(layer, below), [255, 255, 255]);
  const luminance = (rgb) => {
    const [r, g, b] = rgb.map((v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (css) => {
    const [hi, lo] = [luminance(over(rgba(css), background)), luminance(background)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  const color = getComputedStyle(node).color;
  const fill = graphic ? node.parentElement.querySelector(graphic) : null;
  return { text: node.textContent.trim(), color, background: background.map(Math.round).join(','),
           ratio: ratio(color), fill: fill ? ratio(getComputedStyle(fill).fill) : null };
}"""

# The same for every element of a locator (``evaluate_all(CONTRASTS)``): a list of them.
CONTRASTS = f"(nodes) => nodes.map((node) => ({CONTRAST})(node, null))"
