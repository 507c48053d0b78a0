import { type LoopbackServer, type RecordedRequest, startLoopbackServer } from './loopback-server.ts';
import {
  type AkSkGateway,
  createGateway,
  type Gateway,
  isOn,
  noApi,
  pathOf,
  type ReadRoute,
  type Route,
  routeOf,
} from './taurusdb/gateway.ts';
import { type JobState, scriptJob, type Workflow, workflowOf } from './taurusdb/jobs.ts';
import { replies, sendReply, type TaurusDbReply } from './taurusdb/replies.ts';
import { readUpgrade } from './taurusdb/upgrade-request.ts';
import {
  createWorld,
  type InstanceState,
  type ProxySnapshot,
  type ProxyVersionState,
  proxiesOf,
  readAnswer,
  setProxyVersion,
  upgradeAnswer,
  versionOf,
  type World,
  type WorldOptions,
} from './taurusdb/world.ts';

export type { AkSkGateway, ReadRoute } from './taurusdb/gateway.ts';
export type { JobState, JobStatus, Workflow, WorkflowOptions } from './taurusdb/jobs.ts';
export { replies, SEED_ACCEPT_ITEM, SEED_REJECT_ITEM, type TaurusDbReply } from './taurusdb/replies.ts';
export { closedPort, type ResettingServer, startResettingServer } from './taurusdb/tcp-faults.ts';
export type { InstanceState, ProxySeed, ProxySnapshot, ProxyVersionState } from './taurusdb/world.ts';

/**
 * TaurusDB's v3 API on 127.0.0.1, behind a stand-in for Huawei's API gateway: one stand-in for the
 * tests, the sandbox and the bench. The gateway knows the APIs (404 APIGW.0101) and the callers
 * (401 APIGW.0301); TaurusDB checks an upgrade's headers and body (400 DBS.200001) and then answers
 * from its world: proxies with versions, instances' proxy lists, jobs (taurusdb/world.ts).
 *
 * Tests script on top of the world: `script` and `onUpgrade` for upgrades, `scriptRead` for reads,
 * `setProxyVersion`, `setProxies` and `setJob` to set what the world says. The sandbox configures
 * the world instead (`proxies`, `workflows`), so upgrades run as workflows that move the versions.
 */

/** A well-formed upgrade request as the stand-in understood it (ids decoded). */
export interface SeenUpgrade {
  projectId: string;
  instanceId: string;
  proxyId: string;
  token: string;
  language: string | undefined;
  sourceVersion: string;
  targetVersion: string;
}

/** One request the stand-in answered, for the sandbox's console; the token is never part of it. */
export interface TaurusDbExchange {
  method: string;
  /** Path without the query. */
  path: string;
  status: number;
  answer: unknown;
}

export interface TaurusDbStandInOptions extends WorldOptions {
  /** X-Auth-Token values answered for every project; any other token gets the gateway's 401. */
  acceptedTokens?: string[];
  /** Also accept a token this says is valid for the path's project (e.g. one the IAM stand-in issued). */
  isAccepted?: (token: string, projectId: string) => boolean;
  /**
   * Also accept AK/SK-signed requests (`Authorization: SDK-HMAC-SHA256 …`), checked by the independent
   * verifier in aksk-verifier.ts; a bad one gets the gateway's 401 APIGW.0301.
   */
  akSk?: AkSkGateway;
  /** Called with each answer sent (not for a reset or an unanswered request). */
  onExchange?: (exchange: TaurusDbExchange) => void;
}

export interface TaurusDbStandIn {
  /** Base URL, what TAURUSDB_ENDPOINT is set to. */
  url: string;
  server: LoopbackServer;
  /** Everything that crossed the wire, malformed requests included. */
  requests: RecordedRequest[];
  /** How many requests arrived on the upgrade route, however they were answered. */
  upgradeRequests(): number;
  /** Well-formed, authorised upgrade requests, in order (`token` is `aksk:<AK>` for a signed one). */
  upgrades: SeenUpgrade[];
  /** TCP connections accepted in all. */
  connections(): number;
  acceptToken(token: string): void;
  latestVersion: string;
  /** The proxy's current version (workflows settled); undefined for one the world does not have. */
  versionOf(projectId: string, instanceId: string, proxyId: string): string | undefined;
  /** Every proxy the world has, with its current version. */
  proxies(): ProxySnapshot[];
  /** A workflow an accepted upgrade started (with `workflows` on). */
  job(workflowId: string): Workflow | undefined;
  /**
   * Upgrades refused busy (409 DBS.201205) because another proxy's workflow still ran on the
   * instance: the callers' own concurrency, not `busyUntil`'s.
   */
  concurrencyRefusals(): number;
  /** What `GET .../taurusproxy/proxy-version` answers for a proxy (default: 2.23.12.000, latest 2.24.03.000). */
  setProxyVersion(instanceId: string, proxyId: string, version: ProxyVersionState): void;
  /** What `GET /v3/{project_id}/instances/{instance_id}` answers (default ACTIVE, 18:00-22:00). */
  setInstance(instanceId: string, state: InstanceState): void;
  /** The proxies `GET .../instances/{instance_id}/proxies` lists, paged by its offset and limit. */
  setProxies(instanceId: string, proxyIds: string[]): void;
  /**
   * What successive `GET /v3/{project_id}/jobs?id=` answer for a job: one state per read, the last one
   * repeating; `undefined` plays a job not visible yet (404). An unknown job is always 404.
   */
  setJob(jobId: string, ...states: Array<JobState | undefined>): void;
  /** The next reads (any GET) get these answers instead, in order. */
  scriptRead(...answers: TaurusDbReply[]): void;
  /** GET requests received on a route ('version', 'proxies', 'jobs'), however they were answered. */
  reads(route?: ReadRoute): number;
  /**
   * The next well-formed upgrade requests get these answers, in order; then the world's answer (the
   * API reference's example ACCEPT, unless `workflows` is on).
   */
  script(...answers: TaurusDbReply[]): void;
  /**
   * Called with each well-formed upgrade request as it arrives, before it is answered (undefined
   * removes the hook): a test can act at the moment TaurusDB has the POST (kill the caller's process,
   * move the proxy's version), answer per proxy, or `'no-answer'` to leave the request unanswered.
   * A hook that returns undefined leaves the answer to the script.
   */
  onUpgrade(hook: UpgradeHook | undefined): void;
  close(): Promise<void>;
}

/** See `TaurusDbStandIn.onUpgrade`. */
export type UpgradeHook = (upgrade: SeenUpgrade) => TaurusDbReply | 'no-answer' | undefined;

/** What one stand-in keeps between requests. */
interface StandInState {
  options: TaurusDbStandInOptions;
  acceptedTokens: Set<string>;
  authorise: Gateway;
  world: World;
  script: TaurusDbReply[];
  readScript: TaurusDbReply[];
  upgrades: SeenUpgrade[];
  upgradeHook: UpgradeHook | undefined;
  closing: AbortController;
}

function upgradeReply(
  state: StandInState,
  request: RecordedRequest,
  route: Route,
  token: string,
): TaurusDbReply | 'no-answer' {
  const body = readUpgrade(request);
  if ('refused' in body) return body.refused;
  const [projectId = '', instanceId = '', proxyId = ''] = route.ids;
  const seen: SeenUpgrade = { projectId, instanceId, proxyId, token, ...body };
  state.upgrades.push(seen);
  const hooked = state.upgradeHook?.(seen);
  // Left open: the caller's socket (or process) ends it, or close() does.
  if (hooked === 'no-answer') return hooked;
  return hooked ?? state.script.shift() ?? upgradeAnswer(state.world, seen) ?? replies.accept();
}

/** The gateway first, then the script, then the world. */
function replyTo(state: StandInState, request: RecordedRequest): TaurusDbReply | 'no-answer' {
  const route = routeOf(request);
  if (!route) return noApi(request);
  const authorised = state.authorise(request, route.ids[0] ?? '');
  if ('refused' in authorised) return authorised.refused;
  if (route.name === 'upgrade') return upgradeReply(state, request, route, authorised.as);
  return state.readScript.shift() ?? readAnswer(state.world, route);
}

function standIn(state: StandInState, server: LoopbackServer): TaurusDbStandIn {
  const { world } = state;
  return {
    url: server.url,
    server,
    requests: server.requests,
    upgradeRequests: () => server.requests.filter((request) => isOn(request, 'upgrade')).length,
    upgrades: state.upgrades,
    connections: () => server.connections(),
    acceptToken(token) {
      state.acceptedTokens.add(token);
    },
    latestVersion: world.latestVersion,
    versionOf: (projectId, instanceId, proxyId) => versionOf(world, projectId, instanceId, proxyId),
    proxies: () => proxiesOf(world),
    job: (workflowId) => workflowOf(world.jobs, workflowId),
    concurrencyRefusals: () => world.concurrencyRefusals,
    setProxyVersion: (instanceId, proxyId, version) => setProxyVersion(world, instanceId, proxyId, version),
    setInstance(instanceId, instance) {
      world.instances.set(instanceId, instance);
    },
    setProxies(instanceId, proxyIds) {
      world.listings.set(instanceId, [...proxyIds]);
    },
    setJob: (jobId, ...states) => scriptJob(world.jobs, jobId, states),
    scriptRead(...answers) {
      state.readScript.push(...answers);
    },
    reads: (route) => server.requests.filter((request) => isOn(request, route ?? 'reads')).length,
    script(...answers) {
      state.script.push(...answers);
    },
    onUpgrade(hook) {
      state.upgradeHook = hook;
    },
    close() {
      state.closing.abort();
      return server.close();
    },
  };
}

export async function startTaurusDbStandIn(options: TaurusDbStandInOptions = {}): Promise<TaurusDbStandIn> {
  const acceptedTokens = new Set(options.acceptedTokens ?? []);
  const state: StandInState = {
    options,
    acceptedTokens,
    authorise: createGateway({ acceptedTokens, isAccepted: options.isAccepted, akSk: options.akSk }),
    world: createWorld(options),
    script: [],
    readScript: [],
    upgrades: [],
    upgradeHook: undefined,
    closing: new AbortController(),
  };
  const server = await startLoopbackServer(async (request, response, raw) => {
    const reply = replyTo(state, request);
    if (reply === 'no-answer') return;
    const sent = await sendReply(reply, response, raw, state.closing.signal);
    if (sent) options.onExchange?.({ method: request.method, path: pathOf(request), ...sent });
  });
  return standIn(state, server);
}
