import { createHash } from 'node:crypto';

/**
 * event_id = the first 128 bits of
 *   sha256(canonicalJson([namespace, detailType, detail without event_id, part]))
 * written as an RFC 9562 version 8 (custom) UUID: the version nibble set to 8 and the variant bits to
 * 10, so 122 bits of the hash remain.
 *
 * The id is the event's content address: the same id always means the same event, field for field,
 * and a different event always gets a different id. A stored result republished by a redelivery is
 * rebuilt from what was stored (its occurred_at included), so it keeps its id and consumers may drop
 * the repeat; a failure that was not stored and comes back different on the next attempt (another
 * error, another time) is another event with another id. Canonical JSON sorts object keys, so the id
 * does not depend on the order in which a builder happened to write them. `part` tells apart the
 * events of one answer that carry the same content (two identical update_result items are two events).
 */
export function contentEventId(namespace: string, detailType: string, detail: object, part = 0): string {
  const { event_id: _ignored, ...content } = detail as Record<string, unknown>;
  const material = canonicalJson([namespace, detailType, content, part]);
  const bytes = createHash('sha256').update(material).digest().subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x80;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** JSON with object keys sorted at every depth; `undefined` members are left out, as JSON.stringify does. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    const member = (value as Record<string, unknown>)[key];
    if (member !== undefined) sorted[key] = sortKeys(member);
  }
  return sorted;
}
