/**
 * undici's Agent without the rest of undici. The package's entry (undici/index.js) requires everything
 * it exports when it is loaded: fetch, WebSocket, EventSource, the cache stores, the mock agents, every
 * interceptor and proxy agent, about 250 KB of the bundle's code that the Huawei clients never run and
 * that every cold start parsed and evaluated (docs/performance.md, "Cold start"). This module loads
 * what the entry loads for an Agent and its `request` method, with the entry's wiring
 * (`Object.assign(Dispatcher.prototype, api)` in undici/index.js) narrowed to `request`: the only
 * method lib/huawei/transport.ts calls. `stream`, `pipeline`, `upgrade` and `connect` (about 10 KB)
 * stay out, though the Agent's type still lists them. undici has no
 * `exports` map, so these paths are reachable; an update that moves them fails the build and the
 * packaged-bundle test (test/serverless-package.test.ts) instead of failing at run time.
 */

import type { Agent as AgentInstance } from 'undici';
import request from 'undici/lib/api/api-request.js';
import AgentClass from 'undici/lib/dispatcher/agent.js';
import Dispatcher from 'undici/lib/dispatcher/dispatcher.js';

Object.assign(Dispatcher.prototype, { request });

export const Agent = AgentClass;
export type Agent = AgentInstance;
