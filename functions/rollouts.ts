import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import httpJsonBodyParser from '@middy/http-json-body-parser';
import type { Context } from 'aws-lambda';
import { createRolloutDependencies, type RolloutDependencies } from '../lib/composition/rollout-function.ts';
import { loadRolloutConfig } from '../lib/config.ts';
import { jsonResponse } from '../lib/http/answers.ts';
import { type HttpEvent, httpMethodOf, httpPathOf, isHttpEvent } from '../lib/http/http-event.ts';
import authentication from '../lib/http/middleware/authentication.ts';
import errorResponse from '../lib/http/middleware/error-response.ts';
import httpOnly from '../lib/http/middleware/http-only.ts';
import { CONTROL_ACTIONS, matchRoute, ROLLOUT_ROUTE, ROLLOUT_ROUTES } from '../lib/http/routes.ts';
import {
  type DeliveryShape,
  ROLLOUT_REQUESTED_DETAIL_TYPE,
  recogniseTrigger,
  SCHEDULED_DETAIL_TYPE,
  triggerKeysOf,
} from '../lib/http/triggers.ts';
import { logger } from '../lib/observability.ts';
import { countsOf } from '../lib/rollouts/record.ts';
import { parseRolloutRequest } from '../lib/rollouts/request.ts';
import type { ExecutionInput } from '../lib/rollouts/tasks.ts';

const routeOf = (event: HttpEvent) => matchRoute(httpMethodOf(event), httpPathOf(event), ROLLOUT_ROUTES);

const ROLLOUT_DELIVERIES: DeliveryShape = {
  detailType: ROLLOUT_REQUESTED_DETAIL_TYPE,
  inputKeys: ['targets'],
  routes: ROLLOUT_ROUTES,
  expected: `POST ${ROLLOUT_ROUTE.path} over HTTP, an EventBridge "${ROLLOUT_REQUESTED_DETAIL_TYPE}" or "${SCHEDULED_DETAIL_TYPE}" event, or a rollout request (an object with targets) as Scheduler input`,
};

/**
 * The rollout intake (POST /rollouts signed like every webhook, `Proxy Rollout Requested` events,
 * Scheduler input), the control routes and the status (signed too, lib/rollouts/control.ts), and
 * the state machine's two task handlers. A new rollout answers 202 with its
 * id and status; the same request again answers 200 with its current status (a replay).
 */
export function createHandlers(dependencies: RolloutDependencies) {
  const { tasks } = dependencies;
  const handler = middy()
    .use(errorResponse({ logger, correlate: (event) => triggerKeysOf(event, ROLLOUT_DELIVERIES) }))
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(httpOnly(httpHeaderNormalizer()))
    .use(httpOnly(authentication({ verifier: dependencies.webhookVerifier, routes: ROLLOUT_ROUTES })))
    // Only the request has a body; status and control calls have none to parse.
    .use(httpOnly(httpJsonBodyParser(), (event) => routeOf(event).route === ROLLOUT_ROUTE))
    .handler(async (event: unknown) => {
      if (isHttpEvent(event)) {
        // The authentication middleware matched the route already; this names which one.
        const { route, params } = routeOf(event);
        const id = params.id ?? '';
        if (route.method === 'GET') return jsonResponse(200, await tasks.status(id));
        const action = CONTROL_ACTIONS.find((name) => route.path.endsWith(`/${name}`));
        if (action !== undefined) return jsonResponse(200, await tasks.control(id, action));
      }
      const delivery = recogniseTrigger(event, ROLLOUT_DELIVERIES);
      // Scheduler input has no envelope id: its delivery_id or rollout_id names it (lib/rollouts/request.ts).
      const deliveryId = delivery.id === undefined ? undefined : `${delivery.kind}:${delivery.id}`;
      const request = parseRolloutRequest(delivery.payload, deliveryId);
      const { record, created } = await tasks.accept(request);
      const answer = {
        rollout_id: record.rollout_id,
        status: record.status,
        wave: record.wave,
        replayed: !created,
        counts: countsOf(record.targets),
      };
      return isHttpEvent(event) ? jsonResponse(created ? 202 : 200, answer) : answer;
    });
  return {
    handler,
    plan: (input: ExecutionInput) => tasks.plan(input),
    advance: (input: ExecutionInput, context: Context) => {
      dependencies.idempotency.registerLambdaContext(context);
      return tasks.advance(input);
    },
  };
}

const handlers = createHandlers(createRolloutDependencies(loadRolloutConfig()));
export const { handler, plan, advance } = handlers;
