import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';

export const SERVICE_NAME = 'taurusdb-proxy-upgrader';
export const METRICS_NAMESPACE = 'TaurusDbProxyUpgrader';

// One of each per container, as Powertools intends: the Lambda context and the EMF flush are wired
// in by their Middy middlewares in functions/. Options given to the constructors win over
// Powertools' own variables, so ours are only defaults for POWERTOOLS_SERVICE_NAME and
// POWERTOOLS_METRICS_NAMESPACE (POWERTOOLS_LOG_LEVEL and the rest apply as documented).
const env = process.env;
export const logger = new Logger({ serviceName: env.POWERTOOLS_SERVICE_NAME || SERVICE_NAME });

/**
 * Metrics' own messages, as our log lines. An invocation refused before any outcome (a bad
 * signature, an invalid payload) has no metric, and Metrics warns "No application metrics to
 * publish" about it on every such request: expected here, so that one is debug, the rest warnings.
 */
const metricsLogger = {
  debug: (...args: unknown[]) => logger.debug(String(args[0])),
  info: (...args: unknown[]) => logger.info(String(args[0])),
  error: (...args: unknown[]) => logger.error(String(args[0])),
  warn: (...args: unknown[]) =>
    String(args[0]).startsWith('No application metrics to publish')
      ? logger.debug(String(args[0]))
      : logger.warn(String(args[0])),
};

export const metrics = new Metrics({
  namespace: env.POWERTOOLS_METRICS_NAMESPACE || METRICS_NAMESPACE,
  serviceName: env.POWERTOOLS_SERVICE_NAME || SERVICE_NAME,
  logger: metricsLogger,
});
