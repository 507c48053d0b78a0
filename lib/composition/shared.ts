import { publishTimingOf } from '../aws/deadline-reserve.ts';
import { createEventPublisher } from '../aws/event-publisher.ts';
import type { SecretReader } from '../aws/secrets.ts';
import type { Config } from '../config.ts';
import { createTokenAuthenticator } from '../huawei/auth/authenticator.ts';
import { endpointForRegion } from '../huawei/endpoints.ts';
import { createRegionalTaurusDbClient } from '../huawei/regional-client.ts';
import { createTaurusDbClient } from '../huawei/taurusdb-client.ts';
import { createConnectionPools } from '../huawei/transport.ts';
import type { DeferralSettings } from '../upgrade/deferral.ts';

/**
 * What both composition roots build the same way: the TaurusDB client with its authenticator (the
 * credentials secret, the token cache, one set of keep-alive pools shared with IAM), and the
 * EventBridge publisher on the common AWS settings. Each root calls these once per container. The
 * client's `prepare` starts a project's authorisation early (lib/upgrade/service.ts says when).
 */
export function createTaurusDb(config: Config, secrets: SecretReader) {
  const pools = createConnectionPools();
  const authenticator = createTokenAuthenticator({
    secretId: config.credentialsSecretId,
    secrets,
    iamEndpoint: config.iamEndpoint,
    pools,
  });
  // One client per region's endpoint, all on the same pools and tokens (README.md "Regions").
  const client = createRegionalTaurusDbClient(
    (region) => endpointForRegion(config.taurusDbEndpoints, region),
    (endpoint) => createTaurusDbClient({ endpoint, authenticator, timeouts: config.timeouts, pools }),
  );
  return { ...client, prepare: (projectId: string) => authenticator.prepare(projectId) };
}

/** Whether a request's region has an endpoint: the request parser's check (assertServedRegions). */
export function servesRegion(config: Config): (region: string) => boolean {
  return (region) => endpointForRegion(config.taurusDbEndpoints, region) !== undefined;
}

export function createPublisher(config: Config) {
  return createEventPublisher({
    busName: config.eventBusName,
    source: config.eventSource,
    ...publishTimingOf(config.awsCalls),
  });
}

/**
 * BUSY_RETRY_* as the upgrade step applies them: through Scheduler deferrals in the upgrade function,
 * and to a rollout's busy targets, whose next attempt its loop runs (lib/upgrade/step.ts).
 */
export function deferralSettingsOf(config: Config): DeferralSettings {
  const { retryForMs, firstDelayMs, maxDelayMs } = config.busyRetry;
  return { retryForMs, backoff: { baseMs: firstDelayMs, capMs: maxDelayMs } };
}
