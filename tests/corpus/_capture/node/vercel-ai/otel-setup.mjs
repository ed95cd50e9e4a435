// OpenTelemetry JS SDK 3.x setup shared by the Vercel AI SDK captures:
// one TracerProvider (BatchSpanProcessor, exported once at shutdown) and one MeterProvider
// (exported once at shutdown), both OTLP/HTTP protobuf to OTEL_EXPORTER_OTLP_ENDPOINT (default http://127.0.0.1:4318).
import { randomUUID } from 'node:crypto';
import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';

const endpoint = process.env.OTEL_EXPORTER_OTLP_ENDPOINT ?? 'http://127.0.0.1:4318';

export const resource = defaultResource().merge(
  resourceFromAttributes({
    'service.name': 'checkout-assistant',
    'service.version': '1.4.2',
    'service.namespace': 'shop',
    'deployment.environment.name': 'staging',
    'tenant.project': 'checkout',
    'service.instance.id': randomUUID(),
  }),
);

export function setup() {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const tracerProvider = new TracerProvider({
    resource,
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url: `${endpoint}/v1/traces` }),
        scheduledDelayMillis: 600_000,
      }),
    ],
  });
  trace.setGlobalTracerProvider(tracerProvider);
  const meterProvider = new MeterProvider({
    resource,
    readers: [
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: `${endpoint}/v1/metrics` }),
        exportIntervalMillis: 600_000,
      }),
    ],
  });
  metrics.setGlobalMeterProvider(meterProvider);
  return {
    tracerProvider,
    meterProvider,
    async shutdown() {
      await tracerProvider.shutdown(); // traces first: one payload
      await meterProvider.shutdown(); // then one metrics payload
    },
  };
}
