/**
 * The names every event module shares: the DetailTypes of the upgrade function's events, the verdicts
 * of a dry run and the reason of an Unconfirmed outcome. A leaf module, so the Detail schemas
 * (contract.ts) and the builders (result-events.ts) both import it and never each other's values.
 */

export const DETAIL_TYPES = {
  accepted: 'Proxy Upgrade Accepted',
  rejected: 'Proxy Upgrade Rejected',
  failed: 'Proxy Upgrade Failed',
  skipped: 'Proxy Upgrade Skipped',
  planned: 'Proxy Upgrade Planned',
  unconfirmed: 'Proxy Upgrade Unconfirmed',
} as const;
export type DetailType = (typeof DETAIL_TYPES)[keyof typeof DETAIL_TYPES];

/** What a dry run found the real run would do. */
export const PLAN_VERDICTS = ['upgrade', 'skip', 'refuse'] as const;
export type PlanVerdict = (typeof PLAN_VERDICTS)[number];

export const UNCONFIRMED_REASON =
  'an earlier attempt may have started this upgrade; no second upgrade request was sent';
