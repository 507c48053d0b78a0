import type { AwsCallSettings } from '../aws/call-budget.ts';
import { createSecretReader, type SecretReader } from '../aws/secrets.ts';
import { createTrackingQueue } from '../aws/tracking-queue.ts';
import type { TrackingConfig } from '../config.ts';
import { createTracker, type Tracker } from '../tracking/tracker.ts';
import { createPublisher, createTaurusDb } from './shared.ts';

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
 * The tracking function's composition root (lib/composition/upgrade-function.ts is the upgrade
 * function's): the same TaurusDB client and publisher as an upgrade (lib/composition/shared.ts), and
 * the tracking queue, each created once per container.
 */
export function createTrackingDependencies(
  config: TrackingConfig,
  options: TrackingDependencyOptions = {},
): TrackingDependencies {
  const secrets = options.secrets ?? createSecretReader();
  // One client for the job reads (accepted upgrades) and the version reads (unconfirmed ones).
  const taurusDb = createTaurusDb(config, secrets);
  return {
    tracker: createTracker({
      jobs: taurusDb,
      proxyVersions: taurusDb,
      publisher: createPublisher(config),
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
