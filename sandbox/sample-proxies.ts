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
