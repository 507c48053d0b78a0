import type { MiddlewareObj, Request } from '@middy/core';
import { type HttpEvent, isHttpEvent } from '../http-event.ts';

type Phase<E> = ((request: Request<E>) => unknown) | undefined;

/**
 * Runs a middleware only for HTTP events. Middy's JSON body parser answers 415 to any event without
 * a JSON Content-Type, which every schedule and pipeline event is, so HTTP-only middlewares are wrapped.
 */
export default function httpOnly<E>(
  middleware: MiddlewareObj<E>,
  /** Narrows it further, to some HTTP requests (e.g. those of one route). */
  applies: (event: HttpEvent) => boolean = () => true,
): MiddlewareObj {
  const only =
    (phase: Phase<E>) =>
    (request: Request): unknown =>
      phase && isHttpEvent(request.event) && applies(request.event)
        ? phase(request as Request<E>)
        : undefined;
  return {
    ...(middleware.name === undefined ? {} : { name: `httpOnly(${middleware.name})` }),
    ...(middleware.before ? { before: only(middleware.before) } : {}),
    ...(middleware.after ? { after: only(middleware.after) } : {}),
    ...(middleware.onError ? { onError: only(middleware.onError) } : {}),
  };
}
