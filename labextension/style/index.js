import '@xterm/xterm/css/xterm.css';
import './panel.css';
import './terminal.css';
import 'asciinema-player/dist/bundle/asciinema-player.css';
import './asciinema-theme.css';
import './replay.css';
import './transfers.css';
