/**
 * undici's Agent without the rest of undici. The package's entry (undici/index.js) requires everything
 * it exports when it is loaded: fetch, WebSocket, EventSource, the cache stores, the mock agents, every
 * interceptor and proxy agent, about 250 KB of the bundle's code that the Huawei clients never run and
 * that every cold start parsed and evaluated (docs/performance.md, "Cold start"). This module loads
 * what the entry loads for an Agent and its request API, the same files and the same one-line wiring
 * as undici/index.js (`Object.assign(Dispatcher.prototype, api)`), and nothing else. undici has no
 * `exports` map, so these paths are reachable; an update that moves them fails the build and the
 * packaged-bundle test (test/serverless-package.test.ts) instead of failing at run time.
 */

import type { Agent as AgentInstance } from 'undici';
import api from 'undici/lib/api/index.js';
import AgentClass from 'undici/lib/dispatcher/agent.js';
import Dispatcher from 'undici/lib/dispatcher/dispatcher.js';

Object.assign(Dispatcher.prototype, api);

export const Agent = AgentClass;
export type Agent = AgentInstance;
