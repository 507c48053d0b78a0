import { mapWithConcurrency } from '../concurrency.ts';
import type { ListedProxy, ProxyRef } from '../huawei/taurusdb-client.ts';
import { ERROR_CODES } from './error-codes.ts';
import type { FailedOutcome, OutcomeError } from './outcome.ts';
import { failureOf } from './outcome-failure.ts';
import type { UpgradeRequest } from './request.ts';

export interface ExpansionOptions {
  client: { listProxies(instance: Omit<ProxyRef, 'proxyId'>, signal?: AbortSignal): Promise<ListedProxy[]> };
  concurrency: number;
  /** Targets one delivery may hold once all_proxies requests are expanded. */
  maxTargets: number;
  signal?: AbortSignal | undefined;
}

/**
 * One entry of the expanded delivery: a proxy to process, or a request that ended before it named a
 * proxy (its instance could not be listed or lists none, or the delivery grew too large).
 */
export type Expanded =
  | {
      kind: 'target';
      request: UpgradeRequest;
      /** The path of an all_proxies item whose step for this same proxy this explicit one replaced. */
      merged_from?: string;
    }
  | { kind: 'ended'; request: UpgradeRequest; outcome: FailedOutcome }
  | { kind: 'fault'; request: UpgradeRequest; fault: unknown };

/**
 * Every request as its proxies: a request naming a proxy as is, an all_proxies request as one
 * target per listed proxy (in listing order), less the proxies another request names explicitly
 * (mergeOverlaps). Listing is a read and is not stored: a redelivery lists again, and each proxy then
 * finds its own stored step.
 */
export async function expandTargets(
  requests: UpgradeRequest[],
  options: ExpansionOptions,
): Promise<Expanded[][]> {
  const { maxTargets } = options;
  const listed = await mapWithConcurrency(requests, options.concurrency, (request) =>
    listTargets(request, options),
  );
  const expanded = mergeOverlaps(requests, listed);
  const total = expanded.reduce((sum, entries) => sum + entries.length, 0);
  if (total <= maxTargets) return expanded;
  // Refused as a whole rather than cut short: which part of a delivery ran should never depend on
  // how many proxies an instance happens to list today.
  return listed.map((entries, index) => {
    const request = requests[index] as UpgradeRequest;
    // A request that already ended (or faulted) keeps its own ending: it upgraded nothing either way.
    if (entries.some((entry) => entry.kind !== 'target')) return entries;
    const count =
      request.all_proxies === true ? `instance ${request.instance_id} lists ${entries.length} proxies; ` : '';
    const error: OutcomeError = {
      error_code: ERROR_CODES.tooManyTargets,
      error_msg: `${count}the delivery expands to ${total} targets, more than the ${maxTargets} one delivery may upgrade, so nothing in it was upgraded: split it into smaller deliveries`,
    };
    return [{ kind: 'ended', request, outcome: { kind: 'failed', error } }];
  });
}

/** One request's targets: itself, or the proxies its instance lists. */
async function listTargets(request: UpgradeRequest, options: ExpansionOptions): Promise<Expanded[]> {
  if (request.all_proxies !== true) return [{ kind: 'target', request }];
  const { project_id: projectId, instance_id: instanceId, region } = request;
  try {
    const instance = { projectId, instanceId, ...(region === undefined ? {} : { region }) };
    const proxies = await options.client.listProxies(instance, options.signal);
    if (proxies.length === 0) {
      const error = {
        error_code: ERROR_CODES.noProxies,
        error_msg: `instance ${instanceId} lists no proxies, so there is nothing to upgrade`,
      };
      return [{ kind: 'ended', request, outcome: { kind: 'failed', error } }];
    }
    // A listing that repeats a proxy (paging shifting under a concurrent change) must not give it two
    // steps: without duplicate suppression that would be two upgrade POSTs.
    const unique = [...new Set(proxies.map(({ proxyId }) => proxyId))];
    return unique.map((proxyId) => ({ kind: 'target', request: { ...request, proxy_id: proxyId } }));
  } catch (error) {
    try {
      const context = `the proxies of instance ${instanceId} could not be listed, so none was upgraded: `;
      return [
        { kind: 'ended', request, outcome: { kind: 'failed', error: failureOf(error, context).error } },
      ];
    } catch (fault) {
      return [{ kind: 'fault', request, fault }];
    }
  }
}

/**
 * One step per proxy. A proxy that an all_proxies request lists and another request names explicitly
 * would otherwise get two steps under two duplicate-suppression keys (their versions as requested
 * differ), so two upgrade calls. The explicit request says more about that proxy (its own versions
 * and flags), so it keeps the step, noting the all_proxies request it absorbed (`upgrades[1]`: only
 * a batch can hold both), and the listing's entry for the proxy is dropped. The request parser has
 * already refused two explicit requests for one proxy and two all_proxies requests for one instance.
 */
function mergeOverlaps(requests: UpgradeRequest[], listed: Expanded[][]): Expanded[][] {
  const explicit = new Set(
    requests.filter((request) => request.all_proxies !== true).map((request) => proxyKey(request)),
  );
  const absorbed = new Map<string, string>();
  const expanded = listed.map((entries, index) => {
    if (requests[index]?.all_proxies !== true) return entries;
    return entries.filter((entry) => {
      const key = proxyKey(entry.request);
      if (entry.kind !== 'target' || !explicit.has(key)) return true;
      if (!absorbed.has(key)) absorbed.set(key, `upgrades[${index}]`);
      return false;
    });
  });
  if (absorbed.size === 0) return expanded;
  return expanded.map((entries) =>
    entries.map((entry) => {
      const mergedFrom =
        entry.request.all_proxies === true ? undefined : absorbed.get(proxyKey(entry.request));
      return entry.kind === 'target' && mergedFrom !== undefined
        ? { ...entry, merged_from: mergedFrom }
        : entry;
    }),
  );
}

/** Ids hold only letters, digits and "-", so "/" cannot make two different proxies one key. */
function proxyKey(request: UpgradeRequest): string {
  return `${request.project_id}/${request.instance_id}/${request.proxy_id}`;
}
