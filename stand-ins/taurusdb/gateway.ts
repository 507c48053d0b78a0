import { type AkSkVerdict, akSkRejectionBody, verifyAkSkRequest } from '../aksk-verifier.ts';
import type { RecordedRequest } from '../loopback-server.ts';
import { replies, type TaurusDbReply } from './replies.ts';

/**
 * The gateway in front of TaurusDB: which APIs exist (method and path, else 404 APIGW.0101) and who
 * may call them (an X-Auth-Token or an AK/SK signature, else 401 APIGW.0301), both decided before
 * the service sees the request, as Huawei's API Gateway does.
 */

export type RouteName = 'upgrade' | 'version' | 'proxies' | 'jobs' | 'instance';
export type ReadRoute = Exclude<RouteName, 'upgrade'>;

export interface Route {
  name: RouteName;
  /** The path's ids, decoded: project first, then instance and proxy where the path has them. */
  ids: string[];
  query: URLSearchParams;
}

const ROUTES: Record<RouteName, { method: string; path: RegExp }> = {
  upgrade: {
    method: 'POST',
    path: /^\/v3\/([^/]+)\/instances\/([^/]+)\/proxy\/([^/]+)\/upgrade-version$/,
  },
  version: {
    method: 'GET',
    path: /^\/v3\/([^/]+)\/instances\/([^/]+)\/proxy\/([^/]+)\/taurusproxy\/proxy-version$/,
  },
  proxies: { method: 'GET', path: /^\/v3\/([^/]+)\/instances\/([^/]+)\/proxies$/ },
  jobs: { method: 'GET', path: /^\/v3\/([^/]+)\/jobs$/ },
  // Huawei's "query instance details": `instance.status` and `instance.maintenance_window` (UTC).
  instance: { method: 'GET', path: /^\/v3\/([^/]+)\/instances\/([^/]+)$/ },
};

export function pathOf(request: RecordedRequest): string {
  return request.url.split('?')[0] ?? '';
}

/** Whether the request asked for that API (or, without a name, for any read API), however answered. */
export function isOn(request: RecordedRequest, name: RouteName | 'reads'): boolean {
  const names = name === 'reads' ? (['version', 'proxies', 'jobs', 'instance'] as const) : [name];
  return names.some(
    (each) => request.method === ROUTES[each].method && ROUTES[each].path.test(pathOf(request)),
  );
}

/** The API asked for, or undefined for one the gateway does not know (ids that do not decode included). */
export function routeOf(request: RecordedRequest): Route | undefined {
  const path = pathOf(request);
  for (const [name, route] of Object.entries(ROUTES) as Array<[RouteName, (typeof ROUTES)[RouteName]]>) {
    const match = request.method === route.method ? route.path.exec(path) : null;
    if (!match) continue;
    try {
      const ids = match.slice(1).map((id) => decodeURIComponent(id));
      return { name, ids, query: new URLSearchParams(request.url.slice(path.length + 1)) };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export function noApi(request: RecordedRequest): TaurusDbReply {
  return replies.error(
    404,
    'APIGW.0101',
    `The API does not exist or has not been published in the environment (${request.method} ${request.url})`,
  );
}

export interface AkSkGateway {
  /** Secret key by access key; read on every request, so a test may change a Map meanwhile. */
  keys: Map<string, string> | Record<string, string>;
  /** The gateway's clock (default: the real one), to play a client clock that is off. */
  now?: () => Date;
}

export interface GatewayOptions {
  /** X-Auth-Token values accepted for every project. */
  acceptedTokens: Set<string>;
  /**
   * Also accept a token this says is valid for the project in the path (e.g. one the IAM stand-in
   * issued for it: Huawei's tokens are project-scoped).
   */
  isAccepted?: ((token: string, projectId: string) => boolean) | undefined;
  /** Also accept AK/SK-signed requests (`Authorization: SDK-HMAC-SHA256 …`), checked by aksk-verifier.ts. */
  akSk?: AkSkGateway | undefined;
}

/** Who the request is authorised as (`aksk:<AK>` for a signed one), or the gateway's 401. */
export type Authorisation = { as: string } | { refused: TaurusDbReply };

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}

export function header(request: RecordedRequest, name: string): string | undefined {
  return headerText(request.headers[name]);
}

function akSkVerdict(request: RecordedRequest, { keys, now }: AkSkGateway): AkSkVerdict {
  return verifyAkSkRequest(request, {
    secretKeyFor: (accessKey) =>
      keys instanceof Map
        ? keys.get(accessKey)
        : Object.hasOwn(keys, accessKey)
          ? keys[accessKey]
          : undefined,
    ...(now ? { now } : {}),
  });
}

/** Who a request is authorised as, for the project in its path. */
export type Gateway = (request: RecordedRequest, projectId: string) => Authorisation;

/** A gateway; its AK/SK rejections are numbered like request ids. */
export function createGateway(options: GatewayOptions): Gateway {
  let akSkRequests = 0;
  return function authorise(request: RecordedRequest, projectId: string): Authorisation {
    const authorization = header(request, 'authorization');
    if (options.akSk && authorization?.startsWith('SDK-HMAC-SHA256 ')) {
      const verdict = akSkVerdict(request, options.akSk);
      akSkRequests += 1;
      if (verdict.ok) return { as: `aksk:${verdict.accessKey}` };
      return { refused: { status: 401, body: akSkRejectionBody(verdict, `stand-in-aksk-${akSkRequests}`) } };
    }
    const token = header(request, 'x-auth-token');
    if (!token) return { refused: badToken('token is missing') };
    if (options.acceptedTokens.has(token) || options.isAccepted?.(token, projectId)) return { as: token };
    return { refused: badToken('decrypt token fail') };
  };
}

function badToken(reason: string): TaurusDbReply {
  return replies.error(401, 'APIGW.0301', `Incorrect IAM authentication information: ${reason}`);
}
