// biome-ignore-all lint/suspicious/noExplicitAny: Lambda events of several shapes, changed field by field
/**
 * The HTTP shapes real deployments deliver, written from AWS's documented event formats (API Gateway
 * HTTP API payload 2.0 and 1.0, REST API proxy integration, Lambda Function URLs), each derived from
 * the plain samples in events/ by changing what that deployment changes. Every builder takes an event
 * already signed (signedHttpEvent) and returns it reshaped; none of them touches the body or the
 * signature headers, so what is signed is what arrives.
 */

/** HTTP API, payload 2.0, a named stage and the `$default` route: the stage is the first path segment. */
export function httpApiNamedStageDefaultRoute(event: any, stage = 'prod'): any {
  event.routeKey = '$default';
  event.rawPath = `/${stage}${event.rawPath}`;
  event.requestContext.routeKey = '$default';
  event.requestContext.stage = stage;
  event.requestContext.http.path = event.rawPath;
  return event;
}

/** HTTP API, payload 2.0, a greedy route (`ANY /{proxy+}`, `POST /{proxy+}`), optionally on a named stage. */
export function httpApiGreedyRoute(event: any, routeKey = 'ANY /{proxy+}', stage?: string): any {
  const relative = event.rawPath.replace(/^\//, '');
  event.routeKey = routeKey;
  event.requestContext.routeKey = routeKey;
  event.pathParameters = { proxy: relative };
  if (stage !== undefined) {
    event.rawPath = `/${stage}${event.rawPath}`;
    event.requestContext.stage = stage;
    event.requestContext.http.path = event.rawPath;
  }
  return event;
}

/**
 * HTTP API, payload 1.0 (the REST-compatible format an HTTP API integration may choose), a named stage
 * and the `$default` route: `path` carries the stage, `resource` and `requestContext.resourcePath`
 * the route's own path (`$default` here), headers both single- and multi-valued, lower-cased.
 */
export function httpApiPayload1NamedStage(v2: any, stage = 'prod'): any {
  const path = `/${stage}${v2.rawPath}`;
  return {
    version: '1.0',
    resource: '$default',
    path,
    httpMethod: v2.requestContext.http.method,
    headers: { ...v2.headers },
    multiValueHeaders: Object.fromEntries(Object.entries(v2.headers).map(([name, value]) => [name, [value]])),
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    requestContext: {
      accountId: v2.requestContext.accountId,
      apiId: v2.requestContext.apiId,
      domainName: v2.requestContext.domainName,
      extendedRequestId: v2.requestContext.requestId,
      httpMethod: v2.requestContext.http.method,
      identity: { sourceIp: v2.requestContext.http.sourceIp, userAgent: v2.requestContext.http.userAgent },
      path,
      protocol: 'HTTP/1.1',
      requestId: v2.requestContext.requestId,
      requestTime: v2.requestContext.time,
      requestTimeEpoch: v2.requestContext.timeEpoch,
      resourceId: '$default',
      resourcePath: '$default',
      stage,
    },
    pathParameters: null,
    stageVariables: null,
    body: v2.body,
    isBase64Encoded: v2.isBase64Encoded,
  };
}

/** REST API behind a custom domain whose base path mapping is `basePath`: `resource` stays the API's own. */
export function restApiBasePath(event: any, basePath = 'api'): any {
  event.path = `/${basePath}${event.resource}`;
  event.requestContext.path = event.path;
  return event;
}

/** REST API with a greedy proxy resource (`/{proxy+}`, method ANY). */
export function restApiGreedyResource(event: any): any {
  event.pathParameters = { proxy: event.path.replace(/^\//, '') };
  event.resource = '/{proxy+}';
  event.requestContext.resourcePath = '/{proxy+}';
  event.requestContext.httpMethod = event.httpMethod;
  return event;
}

/**
 * REST API: headers that arrive only in `multiValueHeaders` (API Gateway fills `headers` with the last
 * value of each, but a caller's own mapping template or a test console may leave it empty).
 */
export function restApiMultiValueOnly(event: any, names: string[]): any {
  for (const name of Object.keys(event.headers)) {
    if (names.includes(name.toLowerCase())) delete event.headers[name];
  }
  return event;
}

/** Renames the three Standard Webhooks headers to Svix's default names (`svix-id`, ...), casing kept. */
export function asSvixHeaders(event: any): any {
  for (const container of [event.headers, event.multiValueHeaders]) {
    if (!container) continue;
    for (const name of Object.keys(container)) {
      const match = /^(webhook)-(id|timestamp|signature)$/i.exec(name);
      if (!match) continue;
      const renamed = `${name.slice(0, 7) === 'Webhook' ? 'Svix' : 'svix'}-${name.slice(8)}`;
      container[renamed] = container[name];
      delete container[name];
    }
  }
  return event;
}

/** The header of a given lower-case name, whatever its casing in the event. */
export function headerName(event: any, lowerCase: string): string {
  return Object.keys(event.headers).find((name) => name.toLowerCase() === lowerCase) ?? lowerCase;
}

/**
 * HTTP API, payload 2.0, on a route protected by API Gateway's JWT authorizer: the validated token's
 * claims (all strings, as API Gateway passes them) and scopes in `requestContext.authorizer.jwt`.
 */
export function withJwtClaims(
  event: any,
  claims: Record<string, string>,
  scopes: string[] | null = null,
): any {
  event.requestContext.authorizer = { jwt: { claims, scopes } };
  return event;
}
