import type { AwsCallSettings } from '../aws/call-budget.ts';
import { publishTimingOf } from '../aws/deadline-reserve.ts';
import { createEventPublisher } from '../aws/event-publisher.ts';
import { createSecretReader, type SecretReader } from '../aws/secrets.ts';
import { createTrackingQueue } from '../aws/tracking-queue.ts';
import type { TrackingConfig } from '../config.ts';
import { createTokenAuthenticator } from '../huawei/auth/authenticator.ts';
import { createTaurusDbClient } from '../huawei/taurusdb-client.ts';
import { createConnectionPools } from '../huawei/transport.ts';
import { createTracker, type Tracker } from '../tracking/tracker.ts';

export interface TrackingDependencies {
  tracker: Tracker;
  /** The AWS SDK settings of every client; the handler derives its deadline reserve from them. */
  awsCalls: AwsCallSettings;
  /** `Source` the Accepted and Unconfirmed events must carry to be tracked. */
  eventSource: string;
  concurrency: number;
}

export interface TrackingDependencyOptions {
  secrets?: SecretReader;
  /** Epoch milliseconds; the clock the maximum tracking time is measured by. */
  now?: () => number;
}

/**
 * The tracking function's composition root (lib/composition/upgrade-function.ts is the upgrade function's). The same
 * credentials secret, token cache and TaurusDB connection pool as an upgrade, created once per
 * container; the AWS clients are each module's shared default.
 */
export function createTrackingDependencies(
  config: TrackingConfig,
  options: TrackingDependencyOptions = {},
): TrackingDependencies {
  const secrets = options.secrets ?? createSecretReader();
  // One set of keep-alive pools per container, shared by the IAM and TaurusDB clients.
  const pools = createConnectionPools();
  const authenticator = createTokenAuthenticator({
    secretId: config.credentialsSecretId,
    secrets,
    iamEndpoint: config.iamEndpoint,
    pools,
  });
  // One client for the job reads (accepted upgrades) and the version reads (unconfirmed ones).
  const taurusDb = createTaurusDbClient({
    endpoint: config.taurusDbEndpoint,
    authenticator,
    timeouts: config.timeouts,
    pools,
  });
  return {
    tracker: createTracker({
      jobs: taurusDb,
      proxyVersions: taurusDb,
      publisher: createEventPublisher({
        busName: config.eventBusName,
        source: config.eventSource,
        ...publishTimingOf(config.awsCalls),
      }),
      queue: createTrackingQueue({ queueUrl: config.tracking.queueUrl, awsCalls: config.awsCalls }),
      maxSeconds: config.tracking.maxSeconds,
      initialDelaySeconds: config.tracking.initialDelaySeconds,
      maxDelaySeconds: config.tracking.maxDelaySeconds,
      ...(options.now === undefined ? {} : { now: options.now }),
    }),
    awsCalls: config.awsCalls,
    eventSource: config.eventSource,
    concurrency: config.tracking.concurrency,
  };
}
