import { createHmac, randomBytes } from 'node:crypto';

export interface WebhookToSign {
  /** `whsec_<base64>` */
  key: string;
  id: string;
  /** Unix seconds. */
  timestamp: number;
  body: string;
}

/** A type alias, not an interface, so it fits the verifier's index-signature `WebhookHeaders`. */
export type SignedWebhookHeaders = Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string>;

/**
 * `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, computed with node:crypto straight from the
 * Standard Webhooks spec, so tests do not check the library against itself.
 */
export function webhookSignature({ key, id, timestamp, body }: WebhookToSign): string {
  if (!key.startsWith('whsec_')) throw new Error('test signer expects a whsec_ key');
  const secret = Buffer.from(key.slice('whsec_'.length), 'base64');
  const mac = createHmac('sha256', secret).update(`${id}.${timestamp}.${body}`, 'utf8').digest('base64');
  return `v1,${mac}`;
}

/** The three headers a Standard Webhooks sender attaches. */
export function signWebhook(toSign: WebhookToSign): SignedWebhookHeaders {
  return {
    'webhook-id': toSign.id,
    'webhook-timestamp': String(toSign.timestamp),
    'webhook-signature': webhookSignature(toSign),
  };
}

/** A fresh random signing key in the `whsec_` form (24 bytes, the spec's recommended minimum). */
export function generateWebhookKey(bytes = 24): string {
  return `whsec_${randomBytes(bytes).toString('base64')}`;
}
