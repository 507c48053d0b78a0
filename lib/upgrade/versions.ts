/**
 * TaurusDB proxy kernel versions are dotted numbers such as `2.24.03.000`. Huawei pads some segments
 * with zeros and not others, so versions compare numerically segment by segment: `2.24.03.000` and
 * `2.24.3.0` are the same version. A version with fewer segments counts its missing segments as 0, so
 * `2.24` equals `2.24.0.0` and is older than `2.24.0.1`.
 *
 * The format is strict so a version is safe to put in a request body and an error message: 2 to 6
 * segments of 1 to 6 ASCII digits, separated by single dots, nothing else (no `v` prefix, no `-beta`
 * suffix, no sign, no whitespace). Six digits per segment keeps every segment an exact integer.
 */
export const VERSION_PATTERN = /^[0-9]{1,6}(?:\.[0-9]{1,6}){1,5}$/;

/** The longest text VERSION_PATTERN accepts: 6 segments of 6 digits and 5 dots. */
export const MAX_VERSION_LENGTH = 41;

/** The numeric segments of a version, or undefined when the text is not a dotted version number. */
export function parseVersion(text: string): number[] | undefined {
  if (text.length > MAX_VERSION_LENGTH || !VERSION_PATTERN.test(text)) return undefined;
  return text.split('.').map(Number);
}

export function isVersion(text: unknown): text is string {
  return typeof text === 'string' && parseVersion(text) !== undefined;
}

/**
 * Negative when `a` is older than `b`, 0 when they are the same version, positive when `a` is newer.
 * Throws a TypeError for text that is not a dotted version number: comparing garbage has no answer.
 */
export function compareVersions(a: string, b: string): number {
  const left = parseVersion(a);
  const right = parseVersion(b);
  if (left === undefined || right === undefined) {
    throw new TypeError('compareVersions expects dotted version numbers such as 2.24.03.000');
  }
  const segments = Math.max(left.length, right.length);
  for (let index = 0; index < segments; index += 1) {
    const difference = (left[index] ?? 0) - (right[index] ?? 0);
    if (difference !== 0) return Math.sign(difference);
  }
  return 0;
}

/** What `GET .../proxy/{proxy_id}/taurusproxy/proxy-version` reports for a proxy. */
export interface ProxyVersions {
  current_version: string;
  latest_version: string;
  can_upgrade: boolean;
}

/** The target a request may name instead of a version: whatever TaurusDB reports as latest_version. */
export const LATEST = 'latest';

/** What a request asks for: a target (a version or "latest") and, optionally, the version it expects. */
export interface WantedVersions {
  source_version?: string | undefined;
  target_version: string;
}

/** The two versions an upgrade call carries, after "latest" and an omitted source were filled in. */
export interface ResolvedVersions {
  source_version: string;
  target_version: string;
}

export type UpgradeDecision = { resolved: ResolvedVersions } & (
  | { action: 'upgrade' }
  | { action: 'skip'; reason: string }
  | { action: 'refuse'; reason: string }
);

/**
 * Decides from a proxy's versions what one request should do, in this order:
 * 1. already at or past the target → skip. This comes before the source check so that sending the same
 *    change again after it completed says "done" instead of reporting a conflict;
 * 2. "latest" while TaurusDB says `can_upgrade: false` → skip. An explicit target is still sent: TaurusDB
 *    is the judge of whether that version can be installed, and its refusal is reported as it comes;
 * 3. an explicit source that is not the current version → refuse: the caller's picture of the proxy is
 *    wrong, and upgrading from a version it did not expect is not what it asked for;
 * 4. otherwise upgrade from the request's source (or the current version) to the resolved target.
 * Versions compare numerically (`2.24.3` is `2.24.03.000`). Throws a TypeError when a version TaurusDB
 * reported is not a dotted number: callers check with isVersion first.
 */
export function decideUpgrade(wanted: WantedVersions, found: ProxyVersions): UpgradeDecision {
  const latest = wanted.target_version === LATEST;
  const resolved: ResolvedVersions = {
    source_version: wanted.source_version ?? found.current_version,
    target_version: latest ? found.latest_version : wanted.target_version,
  };
  const current = found.current_version;
  const position = compareVersions(current, resolved.target_version);
  if (position === 0) return { action: 'skip', resolved, reason: `proxy is already at ${current}` };
  if (position > 0) {
    return {
      action: 'skip',
      resolved,
      reason: `proxy is already at ${current}, newer than the target ${resolved.target_version}`,
    };
  }
  if (latest && !found.can_upgrade) {
    return {
      action: 'skip',
      resolved,
      reason: `TaurusDB reports no upgrade available for the proxy at ${current} (can_upgrade is false)`,
    };
  }
  if (wanted.source_version !== undefined && compareVersions(wanted.source_version, current) !== 0) {
    return {
      action: 'refuse',
      resolved,
      reason: `proxy is at ${current}, request says ${wanted.source_version}`,
    };
  }
  return { action: 'upgrade', resolved };
}
