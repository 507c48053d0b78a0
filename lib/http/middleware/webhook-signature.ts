import type { MiddlewareObj } from '@middy/core';
import { assertUpgradeRoute, type HttpEvent, rawBodyOf } from '../triggers.ts';

export interface WebhookVerifierLike {
  verify(rawBody: string, headers: Record<string, string | undefined>): Promise<unknown>;
}

/**
 * Checks the route, then the Standard Webhooks signature over the raw body, before anything parses
 * the body: an unsigned or stale request is refused (401) without touching its content. Expects
 * lower-case header names (http-header-normalizer runs first).
 */
export default function webhookSignature({
  verifier,
}: {
  verifier: WebhookVerifierLike;
}): MiddlewareObj<HttpEvent> {
  return {
    name: 'webhookSignature',
    before: async (request) => {
      assertUpgradeRoute(request.event);
      await verifier.verify(rawBodyOf(request.event), request.event.headers ?? {});
      // The signature covered the body as a string; anything else (only a direct invocation can send
      // it) must not reach the parser, which would read it differently. Without a body it answers 422.
      if (typeof request.event.body !== 'string') delete request.event.body;
    },
  };
}
