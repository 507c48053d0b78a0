import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { TrackedUpgrade } from '../../lib/tracking-message.ts';
import { trackedFromAccepted } from '../../lib/tracking-message.ts';
import { sample } from './world.ts';

/** events/tracking-accepted-event.json: an Accepted event as EventBridge delivers it to the tracker. */
export function acceptedEvent() {
  return sample('tracking-accepted-event.json');
}

/** The tracked state of that sample at `attempt`, accepted at `acceptedAt` when given. */
export function trackedSample(overrides: Partial<TrackedUpgrade> = {}): TrackedUpgrade {
  return { ...trackedFromAccepted(acceptedEvent().detail), ...overrides };
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
