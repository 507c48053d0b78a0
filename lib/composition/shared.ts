import { publishTimingOf } from '../aws/deadline-reserve.ts';
import { createEventPublisher } from '../aws/event-publisher.ts';
import type { SecretReader } from '../aws/secrets.ts';
import type { Config } from '../config.ts';
import { createTokenAuthenticator } from '../huawei/auth/authenticator.ts';
import { createTaurusDbClient } from '../huawei/taurusdb-client.ts';
import { createConnectionPools } from '../huawei/transport.ts';

/**
 * What both composition roots build the same way: the TaurusDB client with its authenticator (the
 * credentials secret, the token cache, one set of keep-alive pools shared with IAM), and the
 * EventBridge publisher on the common AWS settings. Each root calls these once per container.
 */
export function createTaurusDb(config: Config, secrets: SecretReader) {
  const pools = createConnectionPools();
  const authenticator = createTokenAuthenticator({
    secretId: config.credentialsSecretId,
    secrets,
    iamEndpoint: config.iamEndpoint,
    pools,
  });
  return createTaurusDbClient({
    endpoint: config.taurusDbEndpoint,
    authenticator,
    timeouts: config.timeouts,
    pools,
  });
}

export function createPublisher(config: Config) {
  return createEventPublisher({
    busName: config.eventBusName,
    source: config.eventSource,
    ...publishTimingOf(config.awsCalls),
  });
}
