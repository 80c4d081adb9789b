/** The extension's icons: a shell (a terminal prompt under a cloud), a recording (a prompt and a play sign). */
import { LabIcon } from '@jupyterlab/ui-components';

const SHELL_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M7.5 3.5a3.6 3.6 0 0 0-3.4 2.6A3 3 0 0 0 4.6 12h12.2a3 3 0 0 0 .5-6 4.2 4.2 0 0 0-7.9-1.4 3.6 3.6 0 0 0-1.9-1.1zm0 1.5c1 0 1.9.6 2.3 1.5l.5 1 .8-.8a2.7 2.7 0 0 1 4.6 1.5l.1.8h.8a1.5 1.5 0 0 1 .2 3H4.6a1.5 1.5 0 0 1-.2-3l.7-.1.1-.7A2.1 2.1 0 0 1 7.5 5z"/>
    <path d="M2 14h20v8H2zm1.5 1.5v5h17v-5z"/>
    <path d="M5 16.2l2.6 1.8L5 19.8l-.8-1.1 1.2-.7-1.2-.7zM9 19h5v1.2H9z"/>
  </g>
</svg>`;

export const shellIcon = new LabIcon({ name: 'jupyter-cloudtty:shell', svgstr: SHELL_SVG });

const RECORDING_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M2 4h20v16H2zm1.5 1.5v13h17v-13z"/>
    <path d="M5 8.2l2.6 1.8L5 11.8l-.8-1.1 1.2-.7-1.2-.7zM9 11h4v1.2H9z"/>
    <path d="M14 14.5l5 2.5-5 2.5z"/>
  </g>
</svg>`;

export const recordingIcon = new LabIcon({
  name: 'jupyter-cloudtty:recording',
  svgstr: RECORDING_SVG
});
