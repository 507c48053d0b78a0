/**
 * The esbuild plugins of serverless.yml's `custom.esbuild.plugins` (serverless-esbuild loads this file
 * with require(); Node 24 strips the types). bench/cold-start.ts builds the floor with the same list,
 * so neither side of the cold-start comparison gets a trick the other lacks (docs/performance.md).
 */
import { basename, extname } from 'node:path';
import type { Plugin } from 'esbuild';

const HTTP_SHIM = 'node-http-as-commonjs';

/**
 * ESM `import ... from 'node:http'` (@middy/util's STATUS_CODES, the SDK's IMDS credential provider and
 * its plain-http agent) makes Node build the ESM facade of node:http, which reads every export and so
 * runs the lazy getters that load Node's internal undici (WebSocket, EventSource, ...): several
 * milliseconds of every cold start for nothing any of them uses. Served as a CommonJS module that
 * require()s node:http, the same object arrives without the facade. Only ESM imports are rewritten;
 * require() calls already go through the bundle's `require` (the banner's createRequire).
 */
export const nodeHttpWithoutEsmFacade: Plugin = {
  name: 'node-http-without-esm-facade',
  setup(build) {
    build.onResolve({ filter: /^(node:)?http$/ }, ({ kind }) =>
      kind === 'import-statement' || kind === 'dynamic-import'
        ? { path: 'node:http', namespace: HTTP_SHIM }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: HTTP_SHIM }, () => ({
      contents: "module.exports = require('node:http');",
      loader: 'js',
    }));
  },
};

/**
 * With `splitting: true` every entry's chunks land in the one output folder (serverless-esbuild builds
 * each entry on its own into `functions/`), so each zip would carry the other function's chunks too.
 * Each entry's chunks go to `functions/<entry>-chunks/`, and each function's `package.patterns` in
 * serverless.yml leaves the other's folder out.
 */
export const chunksPerEntry: Plugin = {
  name: 'chunks-per-entry',
  setup(build) {
    const entries = build.initialOptions.entryPoints;
    const [entry, ...others] = Array.isArray(entries) ? entries : Object.values(entries ?? {});
    if (entry === undefined || others.length > 0) return;
    const path = typeof entry === 'string' ? entry : entry.in;
    build.initialOptions.chunkNames = `${basename(path, extname(path))}-chunks/[name]-[hash]`;
  },
};

export default [nodeHttpWithoutEsmFacade, chunksPerEntry];
