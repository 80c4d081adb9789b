// Merged into @jupyter/builder's configuration (package.json's jupyterlab.webpackConfig).
// npm's trzsz also runs in Node.js and asks for Node's modules there (behind try/catch, or in
// functions a browser never calls): in the browser bundle they are empty, and its one
// `require(name)` by expression (always caught in a browser) is no warning of ours.
module.exports = {
  resolve: {
    fallback: { fs: false, child_process: false, util: false }
  },
  ignoreWarnings: [{ module: /node_modules[\\/]trzsz[\\/]/, message: /Critical dependency/ }]
};
