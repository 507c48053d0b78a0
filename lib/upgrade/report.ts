import type { ResultEvent } from '../events/result-events.ts';
import type { TargetOutcome } from './outcome.ts';
import type { UpgradeRequest } from './request.ts';
import type { TriggerInfo } from './trigger.ts';

/** One step of a delivery: a proxy to upgrade, or a request that ended before it named one. */
export interface Target {
  /** The request as given; for a proxy of an all_proxies request, with that proxy's id filled in. */
  request: UpgradeRequest;
  trigger: TriggerInfo;
  /**
   * Set when an all_proxies item of the same batch also listed this proxy: the path of that item
   * (`upgrades[1]`), whose step for the proxy this one replaced, so the proxy was upgraded once.
   */
  merged_from?: string | undefined;
}

/** How one target fared, for the answer (lib/http/answers.ts) and the log line. */
export interface TargetReport extends Target {
  outcome: TargetOutcome;
  event_ids: string[];
  /** True when the result came from duplicate suppression's store rather than a TaurusDB call. */
  replayed: boolean;
}

export function reportOf(
  target: Target,
  outcome: TargetOutcome,
  events: ResultEvent[],
  replayed: boolean,
): TargetReport {
  return {
    request: target.request,
    trigger: target.trigger,
    outcome,
    event_ids: events.map((event) => event.detail.event_id),
    replayed,
    ...(target.merged_from === undefined ? {} : { merged_from: target.merged_from }),
  };
}
