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
    },
  };
}
