import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

export const SERVICE_NAME = 'taurusdb-proxy-upgrader';
export const METRICS_NAMESPACE = 'TaurusDbProxyUpgrader';

// One of each per container, as Powertools intends: the Lambda context and the EMF flush are wired
// in by their Middy middlewares in functions/. POWERTOOLS_* variables still override these.
export const logger = new Logger({ serviceName: SERVICE_NAME });
export const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });

export { MetricUnit };
