/** The ISO 8601 durations requests and the configuration take (busy_retry_for, BUSY_RETRY_FOR). */

// PnDTnHnMnS with whole numbers; weeks, years and months are left out (a month has no fixed length).
const DURATION_PATTERN = /^P(?!$)(?:(\d{1,4})D)?(?:T(?!$)(?:(\d{1,4})H)?(?:(\d{1,5})M)?(?:(\d{1,6})S)?)?$/;

/** Milliseconds of an ISO 8601 duration of days, hours, minutes and seconds, or undefined. */
export function parseIsoDuration(text: string): number | undefined {
  const match = DURATION_PATTERN.exec(text);
  if (!match) return undefined;
  const [days, hours, minutes, seconds] = match.slice(1).map((part) => Number(part ?? 0)) as number[];
  return ((((days ?? 0) * 24 + (hours ?? 0)) * 60 + (minutes ?? 0)) * 60 + (seconds ?? 0)) * 1000;
}

export const DURATION_RULE =
  'must be an ISO 8601 duration of days, hours, minutes and seconds such as PT2H or P1DT30M, from PT1M to P7D';
const MIN_BUSY_RETRY_MS = 60_000;
const MAX_BUSY_RETRY_MS = 7 * 24 * 3600_000;

/** Milliseconds of a busy retry time (busy_retry_for, BUSY_RETRY_FOR), or undefined outside DURATION_RULE. */
export function parseBusyRetryFor(text: string): number | undefined {
  const ms = parseIsoDuration(text);
  return ms !== undefined && ms >= MIN_BUSY_RETRY_MS && ms <= MAX_BUSY_RETRY_MS ? ms : undefined;
}

const MINUTES_PATTERN = /^\s*(\d{1,4})\s*(?:min|mins|minute|minutes)?\s*$/i;

/**
 * Huawei's advisory `upgrade_duration` is free text in every SDK: a number of minutes ("30",
 * "30 minutes") or an ISO 8601 duration reads as milliseconds; anything else is undefined (ignored).
 */
export function parseUpgradeDuration(text: string | null | undefined): number | undefined {
  if (text === null || text === undefined) return undefined;
  const minutes = MINUTES_PATTERN.exec(text);
  if (minutes) return Number(minutes[1]) * 60_000 || undefined;
  return parseIsoDuration(text.trim()) || undefined;
}
