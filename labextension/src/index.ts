import { JupyterFrontEndPlugin } from '@jupyterlab/application';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-cloudtty:plugin',
  autoStart: true,
  activate: () => {
    console.log('jupyter-cloudtty');
  }
};
export default plugin;
