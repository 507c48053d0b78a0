/**
 * What each TaurusDB call sends: method, path (ids encoded, one segment each), body, and what a lost
 * answer may have left behind; and the paging of the proxy list.
 */
import { UpstreamError, ValidationError } from '../errors.ts';
import type { ProxyPage } from './taurusdb-answers.ts';
import type { Language, ListedProxy, ProxyRef, UpgradeCall } from './taurusdb-api.ts';

/** One request as the exchange loop sends it; `path` is already encoded and relative to the endpoint. */
export interface ApiRequest {
  method: 'GET' | 'POST';
  path: string;
  projectId: string;
  body?: string;
  language?: Language | undefined;
  /** What may have happened when a sent request got no readable answer, e.g. "the upgrade". */
  effect: string;
}

/** A read: a GET, and what it reads, for the message when the answer is not that. */
export interface ReadRequest extends ApiRequest {
  method: 'GET';
  what: string;
}

export function upgradeRequest(call: UpgradeCall): ApiRequest {
  return {
    method: 'POST',
    path: `${proxyPath(call)}/upgrade-version`,
    projectId: call.projectId,
    // Exactly these two keys, in this order: the API takes nothing else.
    body: JSON.stringify({ source_version: call.sourceVersion, target_version: call.targetVersion }),
    language: call.language,
    effect: 'the upgrade',
  };
}

export function proxyVersionRequest(proxy: ProxyRef): ReadRequest {
  return read(`${proxyPath(proxy)}/taurusproxy/proxy-version`, proxy.projectId, 'the proxy version');
}

export function instanceRequest(instance: Omit<ProxyRef, 'proxyId'>): ReadRequest {
  return read(instancePath(instance), instance.projectId, 'the instance');
}

export function jobRequest(projectId: string, jobId: string): ReadRequest {
  const [project] = segments({ project_id: projectId });
  return read(`/v3/${project}/jobs?id=${encodeURIComponent(jobId)}`, projectId, 'the job');
}

const PROXY_PAGE_SIZE = 100;
// A bound on paging: an instance has a handful of proxies; a TaurusDB that keeps answering full pages
// must not keep the invocation busy forever.
const MAX_PROXY_PAGES = 20;

/** Every proxy of the instance, page after page, until a page says it was the last. */
export async function listEveryProxy(
  instance: Omit<ProxyRef, 'proxyId'>,
  readPage: (request: ReadRequest) => Promise<ProxyPage>,
): Promise<ListedProxy[]> {
  const proxies: ListedProxy[] = [];
  for (let page = 0; page < MAX_PROXY_PAGES; page += 1) {
    const offset = page * PROXY_PAGE_SIZE;
    const path = `${instancePath(instance)}/proxies?offset=${offset}&limit=${PROXY_PAGE_SIZE}`;
    const listed = await readPage(read(path, instance.projectId, 'the proxy list'));
    proxies.push(...listed.proxies);
    const done =
      listed.total === undefined ? listed.proxies.length < PROXY_PAGE_SIZE : proxies.length >= listed.total;
    if (done || listed.proxies.length === 0) return proxies;
  }
  throw new UpstreamError(
    `TaurusDB listed more than ${MAX_PROXY_PAGES * PROXY_PAGE_SIZE} proxies for instance ${instance.instanceId}`,
    {},
  );
}

function read(path: string, projectId: string, what: string): ReadRequest {
  return { method: 'GET', path, projectId, what, effect: `reading ${what}` };
}

function instancePath(ref: Omit<ProxyRef, 'proxyId'>): string {
  const [project, instance] = segments({ project_id: ref.projectId, instance_id: ref.instanceId });
  return `/v3/${project}/instances/${instance}`;
}

function proxyPath(ref: ProxyRef): string {
  const [project, instance, proxy] = segments({
    project_id: ref.projectId,
    instance_id: ref.instanceId,
    proxy_id: ref.proxyId,
  });
  return `/v3/${project}/instances/${instance}/proxy/${proxy}`;
}

/**
 * Encoded path segments, every bad one reported at once. encodeURIComponent leaves "." alone, and a
 * "." or ".." segment would be resolved away by any URL parser on the way, aiming the request at
 * another resource.
 */
function segments(values: Record<string, string>): string[] {
  const issues = Object.entries(values)
    .filter(([, value]) => value === '' || value === '.' || value === '..')
    .map(([path]) => ({ path, message: 'must be a non-empty id, not "." or ".."' }));
  if (issues.length > 0) throw new ValidationError(issues);
  return Object.values(values).map(encodeURIComponent);
}
