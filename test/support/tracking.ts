import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import {
  type FollowedVersion,
  type FollowedWorkflow,
  trackedFromAccepted,
  trackedFromUnconfirmed,
} from '../../lib/tracking/message.ts';
import type { TaurusDbReply } from '../../stand-ins/taurusdb.ts';
import { sample } from './world.ts';

/** events/tracking-accepted-event.json: an Accepted event as EventBridge delivers it to the tracker. */
export function acceptedEvent() {
  return sample('tracking-accepted-event.json');
}

/** The tracked state of that sample, with the fields given (e.g. `attempt`, `started_at`) in place of its own. */
export function trackedSample(overrides: Partial<FollowedWorkflow> = {}): FollowedWorkflow {
  return { ...trackedFromAccepted(acceptedEvent().detail), ...overrides };
}

/** events/tracking-unconfirmed-event.json: an Unconfirmed event as EventBridge delivers it to the tracker. */
export function unconfirmedEvent() {
  return sample('tracking-unconfirmed-event.json');
}

/** The tracked state of that sample (the proxy version followed), with the fields given in place of its own. */
export function trackedVersionSample(overrides: Partial<FollowedVersion> = {}): FollowedVersion {
  return { ...trackedFromUnconfirmed(unconfirmedEvent().detail), ...overrides };
}

export interface LogEntry {
  level: 'info' | 'warn';
  message: string;
  attributes: Record<string, unknown>;
}

/** A logger and a metrics sink that keep what they were given, for the tracker's collaborators. */
export function recordingObservability() {
  const logs: LogEntry[] = [];
  const metricNames: string[] = [];
  const record = (level: LogEntry['level']) => (message: string, attributes?: Record<string, unknown>) => {
    logs.push({ level, message, attributes: attributes ?? {} });
  };
  return {
    logs,
    metricNames,
    logger: { info: record('info'), warn: record('warn') } as unknown as Pick<Logger, 'info' | 'warn'>,
    metrics: {
      addMetric: (name: string) => {
        metricNames.push(name);
      },
    } as unknown as Pick<Metrics, 'addMetric'>,
  };
}

/**
 * A job read answered as TaurusDB might garble it: the job Failed, its fail_reason `badBytes` bytes
 * that are not UTF-8 (0xff never is), so each one decodes to U+FFFD, three bytes once re-encoded.
 */
export function failedJobWithBadUtf8(jobId: string, badBytes: number): TaurusDbReply {
  const [head, tail] = JSON.stringify({
    job: {
      id: jobId,
      name: 'UpgradeProxyVersion',
      status: 'Failed',
      created: '2026-11-27T10:00:00+0000',
      ended: '2026-11-27T10:05:00+0000',
      fail_reason: '@',
    },
  }).split('@');
  return {
    raw: Buffer.concat([Buffer.from(head ?? ''), Buffer.alloc(badBytes, 0xff), Buffer.from(tail ?? '')]),
  };
}
