import * as z from 'zod';
import { TRIGGER_KINDS } from '../http/triggers.ts';
import { ROLLOUT_ID_PATTERN } from '../rollouts/rollout-id.ts';
import { upgradeRequestSchema } from '../upgrade/request.ts';
import {
  DETAIL_TYPES,
  MAX_UPSTREAM_FIELD_BYTES,
  MAX_UPSTREAM_TEXT_BYTES,
  type PLAN_VERDICTS,
  ROLLOUT_DETAIL_TYPES,
  TRACKING_DETAIL_TYPES,
  TRACKING_EVENT_NAMESPACE,
  UNCONFIRMED_REASON,
} from './detail-types.ts';

/**
 * The zod schemas of every published event's `Detail`: the upgrade function's (result-events.ts
 * builds them) and the tracker's (tracking-events.ts). They are the source of docs/schemas/*.json,
 * what tests check every built event against, and what the tracker reads an Accepted event with. The
 * upgrade function imports only their types, so its bundle leaves them out.
 */

const shape = upgradeRequestSchema.shape;
const nullableText = (description: string) => z.string().nullable().meta({ description });

/** Every event's id: its content address (lib/events/event-id.ts); each family says what that promises. */
const eventIdSchema = (description: string) => z.uuid({ version: 'v8' }).meta({ description });

/** Every time in an event, as Date.prototype.toISOString writes it. */
const dateTimeSchema = (description: string) => z.iso.datetime().meta({ description });

const resultEventIdSchema = eventIdSchema(
  "The event's content address (lib/events/event-id.ts): the same id always means the same event, field for field, so a republished stored result can be deduplicated; an event that differs in anything (another error on a retry that was not stored, another time) has another id.",
);

const requestDetailSchema = z
  .strictObject({
    project_id: shape.project_id,
    instance_id: shape.instance_id,
    region: shape.region.unwrap().optional().meta({
      description: 'The Huawei region the request named; absent when it used the default (HUAWEI_REGION).',
    }),
    proxy_id: shape.proxy_id.unwrap().meta({ description: 'Database proxy id.' }),
    all_proxies: z
      .literal(true)
      .optional()
      .meta({ description: 'Present when the proxy was found by listing its instance (all_proxies: true).' }),
    source_version: shape.source_version.unwrap().optional().meta({
      description: 'The source_version the request gave; absent when it left it to the version read.',
    }),
    target_version: shape.target_version,
    dry_run: z.literal(true).optional().meta({ description: 'Present on every event of a dry run.' }),
  })
  .meta({ description: 'The target of the upgrade, as requested ("latest" literally).' });

// A Failed event may concern a whole instance: its proxies could not be listed, or there were none.
const failedRequestDetailSchema = requestDetailSchema
  .extend({
    proxy_id: shape.proxy_id.unwrap().optional().meta({
      description: 'Absent when an all_proxies request failed before any proxy was listed.',
    }),
  })
  .meta({ description: 'The target of the upgrade, as requested ("latest" literally).' });

const versionText = (description: string) => shape.source_version.unwrap().meta({ description });

const versionsDetailSchema = z
  .strictObject({
    current_version: versionText('The version the proxy runs.'),
    latest_version: versionText('The latest version TaurusDB offers for the proxy.'),
    can_upgrade: z.boolean().meta({ description: 'Whether TaurusDB says the proxy can be upgraded.' }),
  })
  .meta({
    description:
      'What the version read (GET .../taurusproxy/proxy-version) found before the upgrade; absent when the request said "preflight": false.',
  });

const advisoryText = (description: string) =>
  z
    .string()
    .nullable()
    .meta({
      description: `${description} Free text as TaurusDB gave it, cut to 1000 characters; null when absent.`,
    });

const advisoryDetailSchema = z
  .strictObject({
    level: z.int().nullable().meta({ description: 'Risk level; 1 is a first-level risk. Null when absent.' }),
    suggest: advisoryText('Why Huawei recommends the upgrade.'),
    influence: advisoryText('What the upgrade affects.'),
    guidance: advisoryText('Upgrade guidance.'),
    service_impact_duration: advisoryText('How long the service is affected.'),
    upgrade_duration: advisoryText(
      "How long the upgrade takes; when it reads as minutes or an ISO 8601 duration it sizes the tracker's first re-check.",
    ),
  })
  .optional()
  .meta({
    description:
      "Huawei's upgrade advisory: the `risk` of the proxy-version answer (GET .../taurusproxy/proxy-version); absent when TaurusDB gave none.",
  });

const resolvedDetailSchema = z
  .strictObject({
    source_version: versionText('The source_version of the upgrade call.'),
    target_version: versionText('The target_version of the upgrade call.'),
  })
  .meta({
    description:
      'The versions the upgrade call carried (or would carry): the request\'s own, "latest" replaced by latest_version and an omitted source by current_version.',
  });

const jwtClaimText = (description: string) =>
  z
    .string()
    .regex(/^[\x20-\x7e]{1,256}$/)
    .optional()
    .meta({ description });

const triggerDetailSchema = z
  .strictObject({
    kind: z.enum(TRIGGER_KINDS).meta({ description: 'What started the function.' }),
    id: z.string().min(1).meta({
      description:
        'Delivery id: webhook-id or svix-id (http), the Idempotency-Key header (http on the JWT route), EventBridge event id (event), delivery_id or Lambda request id (schedule), rollout/<rollout_id>/<project>/<instance>/<proxy>#<attempt> (rollout).',
    }),
    auth: z.literal('jwt').optional().meta({
      description:
        "Present when API Gateway's JWT authorizer let the caller in (POST /upgrades/oauth) instead of a webhook signature.",
    }),
    client_id: jwtClaimText("The token's client_id claim (JWT route), when it has one."),
    sub: jwtClaimText("The token's sub claim (JWT route), when it has one."),
    change_id: shape.change_id,
    requested_by: shape.requested_by,
    rollout_id: z.string().regex(ROLLOUT_ID_PATTERN).optional().meta({
      description:
        'Present when kind is rollout: the fleet rollout (README.md "Fleet rollouts") this upgrade is a target of.',
    }),
    attempt: z.int().min(2).optional().meta({
      description:
        'Present on a deferred attempt (README.md "Deferred upgrades"): its number, 2 for the first; kind and id stay those of the delivery that first asked.',
    }),
  })
  .meta({ description: 'The delivery that asked for the upgrade.' });

const resultOccurredAtSchema = dateTimeSchema(
  'When TaurusDB answered, or the decision was taken (kept when a stored result is republished).',
);

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
    event_id: resultEventIdSchema,
    request: requestDetailSchema,
    resolved: resolvedDetailSchema,
    versions: versionsDetailSchema.optional(),
    result: resultDetail(z.literal('ACCEPT').meta({ description: 'Always ACCEPT.' })),
    advisory: advisoryDetailSchema,
    trigger: triggerDetailSchema,
    occurred_at: resultOccurredAtSchema,
  })
  .meta({
    title: 'Proxy Upgrade Accepted (event detail)',
    description: 'TaurusDB accepted the upgrade of a proxy: an update_result item with state ACCEPT.',
  });

export const rejectedDetailSchema = z
  .strictObject({
    event_id: resultEventIdSchema,
    request: requestDetailSchema,
    resolved: resolvedDetailSchema,
    versions: versionsDetailSchema.optional(),
    result: resultDetail(
      z
        .string()
        // "Not ACCEPT" in a form JSON Schema and OpenAPI carry (a zod refinement would not be exported).
        .regex(/^(?!ACCEPT$)/)
        .nullable()
        .meta({ description: 'Any state but ACCEPT (e.g. REJECT); null when TaurusDB sent none.' }),
    ),
    trigger: triggerDetailSchema,
    occurred_at: resultOccurredAtSchema,
  })
  .meta({
    title: 'Proxy Upgrade Rejected (event detail)',
    description:
      'TaurusDB answered 200 but did not accept the upgrade: an update_result item with a state other than ACCEPT.',
  });

export const failedDetailSchema = z
  .strictObject({
    event_id: resultEventIdSchema,
    request: failedRequestDetailSchema,
    resolved: resolvedDetailSchema.optional().meta({
      description: 'Present once both versions were known (given, or filled in by the version read).',
    }),
    versions: versionsDetailSchema.optional(),
    error: z
      .strictObject({
        status: z
          .int()
          .min(100)
          .max(599)
          .optional()
          .meta({ description: 'HTTP status TaurusDB answered; absent when no answer came back.' }),
        error_code: z.string().optional().meta({
          description:
            "TaurusDB error code such as DBS.05000008, or the function's own: VERSION_MISMATCH (the proxy is not at the source_version requested), NO_PROXIES (all_proxies on an instance that lists none), TOO_MANY_TARGETS, UNREADABLE_VERSION, AUTHENTICATION_FAILED, CREDENTIALS_UNAVAILABLE, JOB_FAILED (the upgrade's workflow failed after it was accepted), INSTANCE_BUSY (the instance stayed busy until busy_retry_for ended), INSTANCE_UNAVAILABLE (a maintenance-window request found the instance FROZEN, FAILED, STORAGE FULL or without a window); absent when there was none.",
        }),
        error_msg: z.string().meta({
          description:
            'What went wrong. A long upstream text (a workflow fail_reason) is cut to 8 KiB of UTF-8 and then ends with "…[truncated from N bytes]", so the event stays under the EventBridge entry limit.',
        }),
      })
      .meta({ description: 'Why the call failed as a whole.' }),
    workflow_id: z.string().min(1).optional().meta({
      description:
        "Present when an accepted upgrade's workflow then failed (error_code JOB_FAILED, published by the tracker): its workflow (job) id.",
    }),
    fail_reason: z.string().nullable().optional().meta({
      description:
        "Present with workflow_id: TaurusDB's fail_reason (cut like error_msg when longer than 8 KiB); null when it gave none.",
    }),
    trigger: triggerDetailSchema,
    occurred_at: resultOccurredAtSchema,
  })
  .meta({
    title: 'Proxy Upgrade Failed (event detail)',
    description:
      'The upgrade failed as a whole: TaurusDB answered 4xx/5xx, could not be reached, timed out, or answered 200 without any update_result item; or it was refused before the upgrade call (the proxy is not at the source_version requested, the instance lists no proxy, the version read failed).',
  });

export const skippedDetailSchema = z
  .strictObject({
    event_id: resultEventIdSchema,
    request: requestDetailSchema,
    resolved: resolvedDetailSchema,
    versions: versionsDetailSchema.meta({ description: 'What the version read found.' }),
    reason: z.string().min(1).meta({
      description:
        'Why no upgrade call was made, e.g. "proxy is already at 2.24.03.000" or "TaurusDB reports no upgrade available … (can_upgrade is false)".',
    }),
    advisory: advisoryDetailSchema,
    trigger: triggerDetailSchema,
    occurred_at: resultOccurredAtSchema,
  })
  .meta({
    title: 'Proxy Upgrade Skipped (event detail)',
    description:
      'No upgrade call was made: the version read found the proxy already at or past the target, or the target was "latest" and TaurusDB reported can_upgrade false.',
  });

const plannedFields = {
  event_id: resultEventIdSchema,
  request: requestDetailSchema
    .extend({ dry_run: z.literal(true).meta({ description: 'Always true: this is a dry run.' }) })
    .meta({ description: 'The target of the upgrade, as requested ("latest" literally).' }),
  resolved: resolvedDetailSchema,
  versions: versionsDetailSchema.optional(),
  advisory: advisoryDetailSchema,
  trigger: triggerDetailSchema,
  occurred_at: resultOccurredAtSchema,
};

const planReason = z.string().min(1).meta({ description: 'Why it would skip, refuse or defer.' });

/** One variant per verdict, so that a skip or a refusal cannot come without its reason. */
const plannedVariant = <R extends z.ZodType>(
  would: (typeof PLAN_VERDICTS)[number],
  description: string,
  reason: R,
) => z.strictObject({ ...plannedFields, would: z.literal(would).meta({ description }), reason });

export const plannedDetailSchema = z
  .discriminatedUnion('would', [
    plannedVariant(
      'upgrade',
      'The real run would call TaurusDB with resolved.',
      z.string().min(1).optional().meta({ description: 'Absent for upgrade.' }),
    ),
    plannedVariant('skip', 'The real run would skip the proxy (a Skipped event).', planReason),
    plannedVariant(
      'refuse',
      'The real run would refuse it (a Failed event: VERSION_MISMATCH, INSTANCE_UNAVAILABLE).',
      planReason,
    ),
    plannedVariant(
      'defer',
      'The real run would defer it (a Deferred event: outside the maintenance window, or the instance busy; the reason says until when).',
      planReason,
    ),
  ])
  .meta({
    title: 'Proxy Upgrade Planned (event detail)',
    description:
      'A dry run ("dry_run": true): every check ran (version read, proxy listing) and nothing that changes state was called. Says what a real run would do with this proxy (would), and why when it would skip or refuse (reason).',
  });

export const unconfirmedDetailSchema = z
  .strictObject({
    event_id: resultEventIdSchema,
    request: requestDetailSchema,
    resolved: resolvedDetailSchema.meta({
      description: 'The versions the earlier attempt was about to send (recorded with its "sending" state).',
    }),
    versions: versionsDetailSchema.optional().meta({
      description:
        'What the reconciliation read (GET .../taurusproxy/proxy-version) found: the proxy still below the target; absent when that read failed.',
    }),
    read_error: z
      .string()
      .optional()
      .meta({ description: 'Why the reconciliation read failed; absent when it succeeded.' }),
    sending_at: dateTimeSchema(
      'When the earlier attempt recorded that it was about to send the upgrade request; tracking counts from here.',
    ),
    reason: z
      .string()
      .min(1)
      .meta({
        description: `Always starts "${UNCONFIRMED_REASON}".`,
      }),
    trigger: triggerDetailSchema,
    occurred_at: resultOccurredAtSchema,
  })
  .meta({
    title: 'Proxy Upgrade Unconfirmed (event detail)',
    description:
      'A redelivery found that an earlier attempt of the same delivery and proxy may have sent the upgrade request (it crashed, timed out or could not record the answer). No second request is ever sent for that delivery; the tracker follows the proxy version to Proxy Upgrade Completed (workflow_id null) or Tracking Timed Out. A new delivery id is the deliberate way to try again.',
  });

const errorDetailSchema = failedDetailSchema.shape.error;

export const deferredDetailSchema = z
  .strictObject({
    event_id: resultEventIdSchema,
    request: requestDetailSchema,
    resolved: failedDetailSchema.shape.resolved,
    versions: versionsDetailSchema.optional(),
    reason: z.string().min(1).meta({
      description:
        'Why the upgrade waits and when it runs again, e.g. "instance … is busy with another operation (DBS.201205); nothing ran; attempt 2 runs at …".',
    }),
    error: errorDetailSchema.optional().meta({
      description: "TaurusDB's busy refusal (status, error_code, error_msg); absent when nothing was called.",
    }),
    next_attempt: z.int().min(2).meta({
      description:
        'The number of the next attempt: for a Scheduler deferral the deferred attempt (2 for the first), inside a rollout the rollout attempt that follows (trigger.id ends in "#<next_attempt - 1>").',
    }),
    next_attempt_at: dateTimeSchema(
      "When the next attempt runs (UTC): the Scheduler schedule's at(), or inside a rollout the time from which its loop starts it (at its first tick at or after it).",
    ),
    deadline: dateTimeSchema(
      'When busy_retry_for (BUSY_RETRY_FOR) ends, counted from the first busy answer: a still busy instance whose next attempt would fall after it ends the target as Failed INSTANCE_BUSY.',
    ),
    retried_by: z.enum(['scheduler', 'rollout']).meta({
      description:
        'Who runs the next attempt: scheduler (a one-time EventBridge Scheduler schedule, schedule_name) or rollout (the rollout loop of trigger.rollout_id, with a new attempt and delivery id; no schedule).',
    }),
    schedule_name: z
      .string()
      .regex(/^[0-9a-zA-Z-_.]{1,64}$/)
      .optional()
      .meta({
        description:
          "Present when retried_by is scheduler: the one-time EventBridge Scheduler schedule (in this stack's group) that delivers the attempt.",
      }),
    advisory: advisoryDetailSchema,
    trigger: triggerDetailSchema,
    occurred_at: resultOccurredAtSchema,
  })
  .meta({
    title: 'Proxy Upgrade Deferred (event detail)',
    description:
      "Nothing was upgraded yet, and nothing ran: TaurusDB refused because the instance is busy with another operation. The upgrade runs again at next_attempt_at (as an ordinary Scheduler delivery of the same request, or inside a rollout as the loop's next attempt), until deadline; then it ends in Proxy Upgrade Accepted (or another outcome) or, once, Proxy Upgrade Failed with INSTANCE_BUSY. A busy attempt never publishes Failed while another attempt follows.",
  });

export type AcceptedDetail = z.infer<typeof acceptedDetailSchema>;
export type DeferredDetail = z.infer<typeof deferredDetailSchema>;
export type RejectedDetail = z.infer<typeof rejectedDetailSchema>;
export type FailedDetail = z.infer<typeof failedDetailSchema>;
export type SkippedDetail = z.infer<typeof skippedDetailSchema>;
export type PlannedDetail = z.infer<typeof plannedDetailSchema>;
export type UnconfirmedDetail = z.infer<typeof unconfirmedDetailSchema>;

/** The Detail schema of each DetailType. */
export const DETAIL_SCHEMAS = {
  [DETAIL_TYPES.accepted]: acceptedDetailSchema,
  [DETAIL_TYPES.rejected]: rejectedDetailSchema,
  [DETAIL_TYPES.failed]: failedDetailSchema,
  [DETAIL_TYPES.skipped]: skippedDetailSchema,
  [DETAIL_TYPES.planned]: plannedDetailSchema,
  [DETAIL_TYPES.unconfirmed]: unconfirmedDetailSchema,
  [DETAIL_TYPES.deferred]: deferredDetailSchema,
} as const;

// The tracker's events (tracking-events.ts builds them). They carry request, resolved and trigger over
// from the Accepted (or Unconfirmed) event with the same schemas, so the two cannot drift apart.

const TRUNCATION_NOTE = `Longer than ${MAX_UPSTREAM_TEXT_BYTES} bytes of UTF-8, it is cut at a character boundary and ends with "…[truncated from N bytes]" (N: the full length), the whole at most ${MAX_UPSTREAM_TEXT_BYTES} bytes.`;
const FIELD_TRUNCATION_NOTE = `Cut the same way beyond ${MAX_UPSTREAM_FIELD_BYTES} bytes.`;

const accepted = acceptedDetailSchema.shape;

const trackingEventIdSchema = eventIdSchema(
  `The event's content address (lib/events/event-id.ts: sha256 of "${TRACKING_EVENT_NAMESPACE}", the DetailType and this Detail without event_id): the same id always means the same event, field for field, so a repeat can be dropped. Two checks that see the same workflow end (dated by the job's own ended time) publish the same id; events that differ in anything (a Timed Out event's checks or occurred_at, a Completed event of a followed version, dated by the check that read it) have different ids.`,
);

const workflowIdSchema = z
  .string()
  .min(1)
  .meta({ description: 'The workflow (job) id TaurusDB gave when it accepted the upgrade.' });

const followedWorkflowIdSchema = workflowIdSchema.nullable().meta({
  description:
    "The workflow (job) id TaurusDB gave when it accepted the upgrade; null when the upgrade was unconfirmed (Proxy Upgrade Unconfirmed: nobody knows TaurusDB's answer) and the tracker followed the proxy version instead.",
});

const versionsSchema = accepted.versions.unwrap();

const jobTimeSchema = z
  .string()
  .nullable()
  .meta({
    description: `As TaurusDB reports it (e.g. 2026-11-27T10:05:00+0000); null when it gave none. ${FIELD_TRUNCATION_NOTE}`,
  });

const trackingOccurredAtSchema = dateTimeSchema(
  'When the workflow ended (its `ended` time, when TaurusDB gave a readable one), else when the tracker saw it end (for a followed version: the check that read the target version).',
);

export const completedDetailSchema = z
  .strictObject({
    event_id: trackingEventIdSchema,
    request: accepted.request,
    resolved: accepted.resolved,
    workflow_id: followedWorkflowIdSchema,
    job: z
      .strictObject({
        status: z.literal('Completed'),
        created: jobTimeSchema,
        ended: jobTimeSchema,
      })
      .nullable()
      .meta({
        description:
          'The workflow as GET /v3/{project_id}/jobs?id= reported it; null when there was no workflow to follow (workflow_id null).',
      }),
    versions: versionsSchema.optional().meta({
      description:
        'Present when workflow_id is null: what the version read (GET .../taurusproxy/proxy-version) found, current_version at or past resolved.target_version. Absent when the workflow was followed.',
    }),
    trigger: accepted.trigger,
    occurred_at: trackingOccurredAtSchema,
  })
  .meta({
    title: 'Proxy Upgrade Completed (event detail)',
    description:
      'The upgrade finished: TaurusDB reports the workflow of the accepted upgrade Completed, or (for an unconfirmed upgrade, workflow_id null) the proxy version read reached resolved.target_version. The proxy now runs resolved.target_version.',
  });

/**
 * A workflow that TaurusDB reports Failed. The Detail of every `Proxy Upgrade Failed` event, plus the
 * workflow id and TaurusDB's `fail_reason`. (failedDetailSchema above, which documents the DetailType
 * as a whole, needs these two as optional fields.)
 */
export const jobFailedDetailSchema = failedDetailSchema
  .extend({
    workflow_id: workflowIdSchema,
    fail_reason: z
      .string()
      .nullable()
      .meta({
        description: `TaurusDB's fail_reason for the workflow; null when it gave none. ${TRUNCATION_NOTE}`,
      }),
  })
  .meta({
    title: 'Proxy Upgrade Failed, workflow failed (event detail)',
    description: `The workflow of an accepted upgrade failed: TaurusDB reports the job Failed. error.error_code is JOB_FAILED and error.error_msg its fail_reason (cut and marked the same way).`,
  });

export const timedOutDetailSchema = z
  .strictObject({
    event_id: trackingEventIdSchema,
    request: accepted.request,
    resolved: accepted.resolved,
    workflow_id: followedWorkflowIdSchema,
    started_at: dateTimeSchema(
      "When TaurusDB accepted the upgrade (the Accepted event's occurred_at), or, for an unconfirmed upgrade, when the earlier attempt was about to send it (the Unconfirmed event's sending_at).",
    ),
    max_seconds: z
      .int()
      .positive()
      .meta({ description: 'The maximum tracking time (TRACKING_MAX_SECONDS).' }),
    checks: z.int().positive().meta({
      description: 'How many times the job (or, with workflow_id null, the proxy version) was read.',
    }),
    last_status: z
      .string()
      .nullable()
      .meta({
        description: `The job status the last check read (Pending, Running); null when the job was never visible or could not be read, and when no workflow was followed. ${FIELD_TRUNCATION_NOTE}`,
      }),
    last_versions: versionsSchema.nullable().optional().meta({
      description:
        'Present when workflow_id is null: what the last version read found (the proxy still below resolved.target_version); null when that read failed.',
    }),
    last_error: z
      .string()
      .optional()
      .meta({
        description: `Why the last check could not read the job or the proxy version (TaurusDB unreachable, 5xx, 403…); absent when it read it. ${TRUNCATION_NOTE}`,
      }),
    trigger: accepted.trigger,
    occurred_at: dateTimeSchema('When the tracker gave up.'),
  })
  .meta({
    title: 'Proxy Upgrade Tracking Timed Out (event detail)',
    description:
      'The maximum tracking time passed before the workflow of an accepted upgrade completed or failed, or before the proxy of an unconfirmed upgrade (workflow_id null) reached the target version. The upgrade may still finish; its outcome is no longer reported.',
  });

export type CompletedDetail = z.infer<typeof completedDetailSchema>;
export type JobFailedDetail = z.infer<typeof jobFailedDetailSchema>;
export type TimedOutDetail = z.infer<typeof timedOutDetailSchema>;

/** The Detail schema of each DetailType the tracker publishes. */
export const TRACKING_DETAIL_SCHEMAS = {
  [TRACKING_DETAIL_TYPES.completed]: completedDetailSchema,
  [TRACKING_DETAIL_TYPES.failed]: jobFailedDetailSchema,
  [TRACKING_DETAIL_TYPES.timedOut]: timedOutDetailSchema,
} as const;

// The rollout's events (lib/rollouts/lifecycle.ts builds them): one Detail shape for every
// `Proxy Rollout …` DetailType, which says what happened.
const countSchema = z.int().nonnegative();
export const rolloutDetailSchema = z
  .strictObject({
    event_id: z
      .string()
      .min(1)
      .meta({ description: 'Content address of the event (lib/events/event-id.ts).' }),
    rollout_id: z.string().regex(ROLLOUT_ID_PATTERN).meta({ description: 'The rollout.' }),
    status: z.string().min(1).meta({
      description:
        'Where the rollout stands after the tick: planning, running, soaking, awaiting_approval, paused, halting, halted, cancelling, cancelled or completed.',
    }),
    wave: z
      .int()
      .nonnegative()
      .meta({ description: 'The wave the event is about, counted from 0 (the canary).' }),
    waves: z.int().nonnegative().meta({ description: 'How many waves the plan has.' }),
    counts: z
      .strictObject({
        pending: countSchema,
        started: countSchema,
        in_flight: countSchema,
        completed: countSchema,
        skipped: countSchema,
        failed: countSchema,
        rejected: countSchema,
        timed_out: countSchema,
        unconfirmed: countSchema,
      })
      .meta({ description: 'Targets per state (pending, started, in_flight) or outcome (the others).' }),
    failures: z
      .array(
        z.strictObject({
          project_id: z.string(),
          instance_id: z.string(),
          proxy_id: z.string(),
          outcome: z.string(),
          error_code: z.string().optional(),
          error_msg: z.string().optional(),
        }),
      )
      .max(100)
      .optional()
      .meta({ description: 'Proxy Rollout Halted: the failures that reached max_failures (at most 100).' }),
    change_id: shape.change_id,
    requested_by: shape.requested_by,
    occurred_at: dateTimeSchema('When the tick saw it happen.'),
  })
  .meta({
    title: 'Proxy rollout event',
    description: `The Detail of every rollout event: ${Object.values(ROLLOUT_DETAIL_TYPES).join(', ')}.`,
  });
export type RolloutDetail = z.infer<typeof rolloutDetailSchema>;
