/**
 * TaurusDB's regional endpoint prefix differs by region (Huawei's endpoint table, checked against the
 * official SDKs); every region not listed here uses `gaussdb`.
 */
const PREFIX_BY_REGION: ReadonlyMap<string, string> = new Map([
  ['tr-west-1', 'gaussdbformysql'],
  ['ap-southeast-1', 'gaussdbformysql'],
  ['ap-southeast-2', 'gaussdbformysql'],
  ['cn-north-11', 'gaussdbformysql'],
  ['me-east-1', 'gaussdbformysql'],
  ['af-south-1', 'gaussdb-mysql'],
  ['cn-east-5', 'gaussdb-mysql'],
  ['la-north-2', 'gaussdb-mysql'],
  ['cn-southwest-3', 'gaussdb-mysql'],
]);

/**
 * Region ids where TaurusDB is offered under the default `gaussdb` prefix. A region missing here is a
 * configuration error rather than a guessed host: set `TAURUSDB_ENDPOINT` for a region added later.
 */
const GAUSSDB_REGIONS: ReadonlySet<string> = new Set([
  'af-north-1',
  'ap-southeast-3',
  'ap-southeast-4',
  'ap-southeast-5',
  'cn-east-2',
  'cn-east-3',
  'cn-east-4',
  'cn-north-1',
  'cn-north-2',
  'cn-north-4',
  'cn-north-9',
  'cn-south-1',
  'cn-south-2',
  'cn-southwest-2',
  'la-north-1',
  'la-south-2',
  'me-east-2',
  'my-kualalumpur-1',
  'na-mexico-1',
  'ru-moscow-1',
  'ru-northwest-2',
  'sa-brazil-1',
  'tr-west-2',
  'ae-ad-1',
  'eu-west-0',
  'eu-west-101',
  'eu-west-201',
]);

/** Every region id TaurusDB is known in here (the sandbox aims them all at its stand-in). */
export function knownRegions(): string[] {
  return [...PREFIX_BY_REGION.keys(), ...GAUSSDB_REGIONS];
}

export function isKnownRegion(region: string): boolean {
  return PREFIX_BY_REGION.has(region) || GAUSSDB_REGIONS.has(region);
}

/** Base URL of the TaurusDB API in a region, or undefined when the region is unknown. */
export function taurusDbEndpointFor(region: string): string | undefined {
  if (!isKnownRegion(region)) return undefined;
  const prefix = PREFIX_BY_REGION.get(region) ?? 'gaussdb';
  return `https://${prefix}.${region}.myhuaweicloud.com`;
}

/** The per-region endpoint settings (README.md "Regions"): where each request's region is served. */
export interface RegionalEndpoints {
  /** HUAWEI_REGION: a request without `region` (or naming this one) goes to `defaultEndpoint`. */
  defaultRegion: string | undefined;
  /** TAURUSDB_ENDPOINT, or the endpoint HUAWEI_REGION derives. */
  defaultEndpoint: string;
  /** TAURUSDB_ENDPOINT with a `{region}` placeholder, filled with each request's region. */
  template?: string | undefined;
  /** TAURUSDB_ENDPOINTS: an endpoint per region id, before any other rule. */
  byRegion?: Readonly<Record<string, string>> | undefined;
}

export const REGION_PLACEHOLDER = '{region}';

/**
 * The base URL a region's requests go to, or undefined for a region nothing serves: the region's own
 * entry, else the template, else the default for the default region (and for no region), else the
 * endpoint the three-prefix rule derives for a known region.
 */
export function endpointForRegion(
  endpoints: RegionalEndpoints,
  region: string | undefined,
): string | undefined {
  if (region !== undefined && endpoints.byRegion !== undefined && Object.hasOwn(endpoints.byRegion, region)) {
    return endpoints.byRegion[region];
  }
  if (region !== undefined && endpoints.template !== undefined) {
    return endpoints.template.replaceAll(REGION_PLACEHOLDER, region);
  }
  if (region === undefined || region === endpoints.defaultRegion) return endpoints.defaultEndpoint;
  return taurusDbEndpointFor(region);
}
