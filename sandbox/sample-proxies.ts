import type { ProxySeed } from '../stand-ins/taurusdb.ts';

/**
 * The sandbox's TaurusDB world: the proxies of the events/ samples, both one version behind the
 * latest, so that the first upgrade of each is accepted and a second one is refused.
 */

export const SAMPLE_PROJECT_ID = '054e292c9880d4992f02c0196d3ea468';

export const SAMPLE_PROXIES: ProxySeed[] = [
  {
    projectId: SAMPLE_PROJECT_ID,
    instanceId: '517ea793ab91438cbfcd9c4b1c958b1ein07',
    proxyId: '0f46fc46396e4fb19a0cb52f578e9511po01',
    version: '2.23.12.000',
  },
  {
    projectId: SAMPLE_PROJECT_ID,
    instanceId: '8a1b2c3d4e5f40718293a4b5c6d7e8f9in07',
    proxyId: 'c0ffee00112233445566778899aabbccpo01',
    version: '2.23.12.000',
  },
];

export const SAMPLE_LATEST_VERSION = '2.24.03.000';

/** A fleet instance's id: 32 hex digits and TaurusDB's `in07` suffix, numbered for the eye. */
const fleetInstanceId = (index: number) => `f1ee7${String(index).padStart(27, '0')}in07`;

/**
 * The sandbox's fleet for events/rollout.json: six instances of five proxies each and one more
 * instance with two proxies (the sample instances stay as the upgrade samples expect them). Three
 * proxies are at the latest version already, so the rollout plans them as skipped.
 */
export const SANDBOX_FLEET_INSTANCES = [0, 1, 2, 3, 4, 5].map(fleetInstanceId);

const AT_LATEST = new Set([7, 18, 26]);

// Proxy n (1 to 30) sits on fleet instance floor((n - 1) / 5).
const FLEET_NUMBERS = Array.from({ length: 30 }, (_, index) => index + 1);

export const SANDBOX_FLEET: ProxySeed[] = [
  ...FLEET_NUMBERS.map((number) => ({
    projectId: SAMPLE_PROJECT_ID,
    instanceId: SANDBOX_FLEET_INSTANCES[Math.floor((number - 1) / 5)] as string,
    proxyId: `f1ee7${String(number).padStart(27, '0')}po01`,
    version: AT_LATEST.has(number) ? SAMPLE_LATEST_VERSION : '2.23.12.000',
  })),
  ...[1, 2].map((proxy) => ({
    projectId: SAMPLE_PROJECT_ID,
    instanceId: '6a1e2f0d8a9b4c3e9d7f5b2c1a0e9f8din07',
    proxyId: `6a1e2f${String(proxy).padStart(26, '0')}po01`,
    version: '2.23.12.000',
  })),
];
