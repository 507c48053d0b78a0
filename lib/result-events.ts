import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { UpdateResultItem } from './taurusdb-client.ts';
import { targetOf, type UpgradeRequest, upgradeRequestSchema } from './upgrade-request.ts';

/**
 * The events published for every upgrade (DESIGN.md "Published events"): their `Detail` schemas
 * (also the source of docs/schemas/*.json) and the one builder that turns a request's outcome into
 * events.
 *
 * - a 200 gives one event per `update_result` item: `state` `ACCEPT` → Accepted, any other state
 *   (including a missing one) → Rejected;
 * - a call that failed as a whole gives one Failed event;
 * - a 200 whose `update_result` is empty also gives one Failed event (status 200, no error_code):
 *   TaurusDB said nothing about the upgrade, and dropping it silently would hide that. It is not a
 *   Rejected event because nothing was refused that we know of.
 */

export const DETAIL_TYPES = {
  accepted: 'Proxy Upgrade Accepted',
  rejected: 'Proxy Upgrade Rejected',
  failed: 'Proxy Upgrade Failed',
} as const;
export type DetailType = (typeof DETAIL_TYPES)[keyof typeof DETAIL_TYPES];

export interface TriggerInfo {
  kind: 'http' | 'schedule' | 'event';
  /** The delivery id: webhook-id, EventBridge event id, Scheduler delivery_id or Lambda request id. */
  id: string;
  change_id?: string;
  requested_by?: string;
}

export type TargetOutcome =
  | { kind: 'completed'; items: UpdateResultItem[] }
  | { kind: 'failed'; error: { status?: number; error_code?: string; error_msg: string } };

export const EMPTY_RESULT_MESSAGE =
  'TaurusDB answered 200 without any update_result item; the state of the upgrade is unknown';

const shape = upgradeRequestSchema.shape;
const nullableText = (description: string) => z.string().nullable().meta({ description });

const eventIdSchema = z.uuid({ version: 'v8' }).meta({
  description:
    'Stable id: the same delivery, target and result item always give the same id, so a republished event can be deduplicated.',
});

const requestDetailSchema = z
  .strictObject({
    project_id: shape.project_id,
    instance_id: shape.instance_id,
    proxy_id: shape.proxy_id,
    source_version: shape.source_version,
    target_version: shape.target_version,
  })
  .meta({ description: 'The target of the upgrade, as requested.' });

const triggerDetailSchema = z
  .strictObject({
    kind: z.enum(['http', 'schedule', 'event']).meta({ description: 'What started the function.' }),
    id: z.string().min(1).meta({
      description:
        'Delivery id: webhook-id (http), EventBridge event id (event), delivery_id or Lambda request id (schedule).',
    }),
    change_id: shape.change_id,
    requested_by: shape.requested_by,
  })
  .meta({ description: 'The delivery that asked for the upgrade.' });

const occurredAtSchema = z.iso
  .datetime()
  .meta({ description: 'When TaurusDB answered (kept when a stored result is republished).' });

const resultDetail = (state: z.ZodType) =>
  z
    .strictObject({
      instance_id: nullableText('Instance id TaurusDB reported; null when it sent none.'),
      workflow_id: nullableText('Workflow (job) id to follow the upgrade; null when TaurusDB sent none.'),
      state,
      error_message: nullableText('TaurusDB message for the item; null when it sent none.'),
    })
    .meta({ description: 'One update_result item of the TaurusDB answer; missing fields are null.' });

export const acceptedDetailSchema = z
  .strictObject({
    event_id: eventIdSchema,
    request: requestDetailSchema,
    result: resultDetail(z.literal('ACCEPT').meta({ description: 'Always ACCEPT.' })),
    trigger: triggerDetailSchema,
    occurred_at: occurredAtSchema,
  })
  .meta({
    title: 'Proxy Upgrade Accepted (event detail)',
    description: 'TaurusDB accepted the upgrade of a proxy: an update_result item with state ACCEPT.',
  });

export const rejectedDetailSchema = z
  .strictObject({
    event_id: eventIdSchema,
    request: requestDetailSchema,
    result: resultDetail(
      z
        .string()
        .nullable()
        .meta({ description: 'Any state but ACCEPT (e.g. REJECT); null when TaurusDB sent none.' }),
    ),
    trigger: triggerDetailSchema,
    occurred_at: occurredAtSchema,
  })
  .meta({
    title: 'Proxy Upgrade Rejected (event detail)',
    description:
      'TaurusDB answered 200 but did not accept the upgrade: an update_result item with a state other than ACCEPT.',
  });

export const failedDetailSchema = z
  .strictObject({
    event_id: eventIdSchema,
    request: requestDetailSchema,
    error: z
      .strictObject({
        status: z
          .int()
          .min(100)
          .max(599)
          .optional()
          .meta({ description: 'HTTP status TaurusDB answered; absent when no answer came back.' }),
        error_code: z
          .string()
          .optional()
          .meta({ description: 'TaurusDB error code such as DBS.05000008; absent when there was none.' }),
        error_msg: z.string().meta({ description: 'What went wrong.' }),
      })
      .meta({ description: 'Why the call failed as a whole.' }),
    trigger: triggerDetailSchema,
    occurred_at: occurredAtSchema,
  })
  .meta({
    title: 'Proxy Upgrade Failed (event detail)',
    description:
      'The upgrade call failed as a whole: TaurusDB answered 4xx/5xx, could not be reached, timed out, or answered 200 without any update_result item.',
  });

export type AcceptedDetail = z.infer<typeof acceptedDetailSchema>;
export type RejectedDetail = z.infer<typeof rejectedDetailSchema>;
export type FailedDetail = z.infer<typeof failedDetailSchema>;

export type ResultEvent =
  | { detailType: typeof DETAIL_TYPES.accepted; detail: AcceptedDetail }
  | { detailType: typeof DETAIL_TYPES.rejected; detail: RejectedDetail }
  | { detailType: typeof DETAIL_TYPES.failed; detail: FailedDetail };

export interface ResultEventInput {
  request: UpgradeRequest;
  trigger: TriggerInfo;
  outcome: TargetOutcome;
  /** When TaurusDB answered; a stored result republished later passes its stored time. */
  occurredAt: Date;
}

export function buildResultEvents(input: ResultEventInput): ResultEvent[] {
  const { request, trigger, outcome } = input;
  const base = {
    request: targetOf(request),
    trigger: {
      kind: trigger.kind,
      id: trigger.id,
      ...(trigger.change_id === undefined ? {} : { change_id: trigger.change_id }),
      ...(trigger.requested_by === undefined ? {} : { requested_by: trigger.requested_by }),
    },
    occurred_at: input.occurredAt.toISOString(),
  };
  const eventId = (detailType: DetailType, index: number) =>
    resultEventId(trigger.id, request, detailType, index);

  if (outcome.kind === 'failed' || outcome.items.length === 0) {
    const error =
      outcome.kind === 'failed' ? outcome.error : { status: 200, error_msg: EMPTY_RESULT_MESSAGE };
    const detailType = DETAIL_TYPES.failed;
    return [
      {
        detailType,
        detail: {
          event_id: eventId(detailType, 0),
          request: base.request,
          error: {
            ...(error.status === undefined ? {} : { status: error.status }),
            ...(error.error_code === undefined ? {} : { error_code: error.error_code }),
            error_msg: error.error_msg,
          },
          trigger: base.trigger,
          occurred_at: base.occurred_at,
        },
      },
    ];
  }

  return outcome.items.map((item, index): ResultEvent => {
    const detailType = item.state === 'ACCEPT' ? DETAIL_TYPES.accepted : DETAIL_TYPES.rejected;
    const detail = {
      event_id: eventId(detailType, index),
      request: base.request,
      result: {
        instance_id: item.instance_id,
        workflow_id: item.workflow_id,
        state: item.state,
        error_message: item.error_message,
      },
      trigger: base.trigger,
      occurred_at: base.occurred_at,
    };
    return detailType === DETAIL_TYPES.accepted
      ? { detailType, detail: { ...detail, result: { ...detail.result, state: 'ACCEPT' } } }
      : { detailType, detail };
  });
}

/**
 * event_id = the first 128 bits of
 *   sha256(JSON.stringify(["taurusdb-proxy-upgrader/result-event/v1", deliveryId, project_id,
 *                          instance_id, proxy_id, source_version, target_version, detailType, index]))
 * written as an RFC 9562 version 8 (custom) UUID: the version nibble set to 8 and the variant bits
 * to 10, so 122 bits of the hash remain.
 *
 * The inputs are what duplicate suppression keys on (delivery id + target) plus the item's position
 * and kind: a redelivery republishes identical ids and consumers can drop the repeat, while a new
 * delivery id (a deliberate new attempt) gets new ids. JSON array encoding keeps the fields from
 * running into each other. The occurrence time is deliberately not an input.
 */
export function resultEventId(
  deliveryId: string,
  request: Pick<
    UpgradeRequest,
    'project_id' | 'instance_id' | 'proxy_id' | 'source_version' | 'target_version'
  >,
  detailType: DetailType,
  index: number,
): string {
  const material = JSON.stringify([
    'taurusdb-proxy-upgrader/result-event/v1',
    deliveryId,
    request.project_id,
    request.instance_id,
    request.proxy_id,
    request.source_version,
    request.target_version,
    detailType,
    index,
  ]);
  const bytes = createHash('sha256').update(material).digest().subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x80;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
