import type { ProxyRef, TaurusDbClient } from './taurusdb-api.ts';

/**
 * One TaurusDB client per endpoint, chosen per call by the region the call names (README.md
 * "Regions"): each request may name its own region, the token stays per project (the authenticator
 * is shared) and AK/SK signing is unchanged. Clients are made on first use and kept for the
 * container's life, over the same connection pools.
 */
export function createRegionalTaurusDbClient(
  endpointOf: (region: string | undefined) => string | undefined,
  clientFor: (endpoint: string) => TaurusDbClient,
): TaurusDbClient {
  const clients = new Map<string, TaurusDbClient>();
  const client = (region: string | undefined) => {
    const endpoint = endpointOf(region);
    // The request parser refused an unknown region before any call (lib/upgrade/request.ts).
    if (endpoint === undefined) throw new TypeError(`no TaurusDB endpoint for region ${region}`);
    let made = clients.get(endpoint);
    if (made === undefined) {
      made = clientFor(endpoint);
      clients.set(endpoint, made);
    }
    return made;
  };
  const of = (ref: Pick<ProxyRef, 'region'>) => client(ref.region);
  return {
    upgradeProxyVersion: (call, signal) => of(call).upgradeProxyVersion(call, signal),
    getProxyVersion: (proxy, signal) => of(proxy).getProxyVersion(proxy, signal),
    listProxies: (instance, signal) => of(instance).listProxies(instance, signal),
    getInstance: (instance, signal) => of(instance).getInstance(instance, signal),
    getJob: (projectId, jobId, signal, region) => client(region).getJob(projectId, jobId, signal, region),
  };
}
