import type { InstanceDetail } from '../huawei/taurusdb-client.ts';

/**
 * Maintenance windows (README.md "Maintenance windows"): what `"window": "maintenance"` reads from the
 * instance detail (`instance.maintenance_window`, UTC "HH:MM-HH:MM", possibly crossing midnight, and
 * `instance.status`) and what it makes of them.
 */

const WINDOW_PATTERN = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)$/;
const DAY_MINUTES = 24 * 60;

/** Minutes after midnight UTC at which the window opens and closes; undefined for an unreadable one. */
export function parseWindow(text: string): { start: number; end: number } | undefined {
  const match = WINDOW_PATTERN.exec(text.trim());
  if (!match) return undefined;
  const [start, end] = [
    Number(match[1]) * 60 + Number(match[2]),
    Number(match[3]) * 60 + Number(match[4]),
  ] as [number, number];
  return end > DAY_MINUTES ? undefined : { start, end: end % DAY_MINUTES };
}

/**
 * Inside the window, or when it next opens. A window whose end is before its start crosses midnight
 * (22:00-02:00); one whose start equals its end is open all day. Minute precision, as the API gives.
 */
export function windowPosition(
  window: { start: number; end: number },
  now: Date,
): { inside: true } | { inside: false; opensAt: Date } {
  const minute = now.getUTCHours() * 60 + now.getUTCMinutes();
  const { start, end } = window;
  const inside =
    start === end || (start < end ? minute >= start && minute < end : minute >= start || minute < end);
  if (inside) return { inside: true };
  const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const today = midnight + start * 60_000;
  return { inside: false, opensAt: new Date(today > now.getTime() ? today : today + DAY_MINUTES * 60_000) };
}

// Huawei's instance statuses: ACTIVE is the one that takes an upgrade; these three need a human;
// anything else (BACKING UP, MODIFYING, REBOOTING, RESTORING, SWITCHOVER, MIGRATING, …) passes.
const UNAVAILABLE_STATUSES: ReadonlySet<string> = new Set(['FROZEN', 'FAILED', 'STORAGE FULL']);

export type WindowVerdict =
  | { go: true }
  | { go: false; kind: 'unavailable' | 'busy'; reason: string }
  | { go: false; kind: 'closed'; opensAt: Date; reason: string };

/** What a maintenance-window request does now with the instance as its detail describes it. */
export function judgeInstance(instanceId: string, detail: InstanceDetail, now: Date): WindowVerdict {
  const status = (detail.status ?? '').trim().toUpperCase();
  const shown = status === '' ? 'no status' : `status ${status.slice(0, 64)}`;
  if (UNAVAILABLE_STATUSES.has(status)) {
    return {
      go: false,
      kind: 'unavailable',
      reason: `instance ${instanceId} has ${shown}; it needs a human before any upgrade`,
    };
  }
  if (status !== 'ACTIVE') {
    return {
      go: false,
      kind: 'busy',
      reason: `instance ${instanceId} has ${shown}, another operation is running; nothing ran`,
    };
  }
  const window = parseWindow(detail.maintenance_window ?? '');
  if (window === undefined) {
    return {
      go: false,
      kind: 'unavailable',
      reason: `instance ${instanceId} reports no readable maintenance window, so "window": "maintenance" cannot be honoured`,
    };
  }
  const position = windowPosition(window, now);
  if (position.inside) return { go: true };
  return {
    go: false,
    kind: 'closed',
    opensAt: position.opensAt,
    reason: `outside the maintenance window ${detail.maintenance_window} (UTC) of instance ${instanceId}; nothing ran`,
  };
}
