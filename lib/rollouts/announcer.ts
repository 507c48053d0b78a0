import { triggerDetailOf } from '../events/result-events.ts';
import {
  buildCompletedEvent,
  buildJobFailedEvent,
  buildTimedOutEvent,
  type TrackedContext,
  type TrackingEvent,
} from '../events/tracking-events.ts';
import { targetOf } from '../upgrade/request.ts';
import { triggerFor } from '../upgrade/trigger.ts';
import { deliveryIdOf, type FollowedEnd } from './advance.ts';
import type { RolloutRecord } from './record.ts';
import { deliveryOf, requestOf } from './upgrade-runner.ts';

export interface TrackingPublisher {
  publish(events: TrackingEvent[]): Promise<unknown>;
}

/**
 * The end events of rollout upgrades, which the tracker leaves to the tick (one poller): the same
 * `Proxy Upgrade Completed`, `Failed` and `Tracking Timed Out` the tracker publishes for every other
 * upgrade, their request, resolved versions and trigger as the upgrade's Accepted event had them
 * (rebuilt from the record: the same request, the same delivery, so the same trigger).
 */
export function announcerFor(
  publisher: TrackingPublisher,
  settings: { trackingMaxSeconds: number; now?: () => Date },
) {
  return (record: RolloutRecord) =>
    async (ends: FollowedEnd[]): Promise<void> => {
      const now = (settings.now ?? (() => new Date()))();
      const events = ends.flatMap(({ target, state }) => {
        if (target.resolved === undefined) return [];
        const request = requestOf(record, target);
        const deliveryId = deliveryIdOf(record.rollout_id, target);
        const trigger = triggerFor(deliveryOf(record, request, deliveryId), request, {
          requestId: deliveryId,
        });
        const tracked: TrackedContext = {
          workflow_id: target.workflow_id ?? null,
          request: { ...targetOf(request), proxy_id: target.proxy_id },
          resolved: target.resolved,
          trigger: triggerDetailOf(trigger),
        };
        const job = 'job' in state && state.job !== undefined ? state.job : { created: null, ended: null };
        if (state.kind === 'completed') return [buildCompletedEvent(tracked, job, now)];
        if (state.kind === 'failed' && tracked.workflow_id !== null) {
          return [buildJobFailedEvent({ ...tracked, workflow_id: tracked.workflow_id }, job, now)];
        }
        return [
          buildTimedOutEvent(
            tracked,
            {
              startedAt: target.started_at ?? now.toISOString(),
              maxSeconds: settings.trackingMaxSeconds,
              checks: 0,
              lastStatus: null,
            },
            now,
          ),
        ];
      });
      if (events.length > 0) await publisher.publish(events);
    };
}
