// Traceloop (OpenLLMetry-JS) capture: the corpus scenario's calls 1-7 with the official `openai` and
// `@anthropic-ai/sdk` clients, instrumented by @traceloop/node-server-sdk (its OpenAI and Anthropic
// instrumentations, passed the modules through `instrumentModules`), exported by Traceloop's own
// OTLPTraceExporter (@opentelemetry/exporter-trace-otlp-proto, protobuf) to `${baseUrl}/v1/traces`.
//
//   TRACELOOP_BASE_URL  the recorder (default http://127.0.0.1:4318)
//   PROVIDER            the corpus fake provider (default http://127.0.0.1:8900)
// Resource: service.name from `appName`; the other attributes from OTEL_RESOURCE_ATTRIBUTES (set below
// unless given), which the SDK's NodeSDK reads with its default resource detectors.
import { randomUUID } from 'node:crypto';

process.env.OTEL_RESOURCE_ATTRIBUTES ??=
  'service.version=1.4.2,service.namespace=shop,deployment.environment.name=staging,tenant.project=checkout,' +
  `service.instance.id=${randomUUID()}`;

const traceloop = await import('@traceloop/node-server-sdk');
const { default: OpenAI } = await import('openai');
const anthropicModule = await import('@anthropic-ai/sdk');
const { trace, SpanStatusCode } = await import('@opentelemetry/api');

const base = process.env.PROVIDER ?? 'http://127.0.0.1:8900';
traceloop.initialize({
  appName: 'checkout-assistant',
  baseUrl: process.env.TRACELOOP_BASE_URL ?? 'http://127.0.0.1:4318',
  disableBatch: true,
  traceloopSyncEnabled: false,
  instrumentModules: { openAI: OpenAI, anthropic: anthropicModule },
});

const Anthropic = anthropicModule.default;
const openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'sk-fake' });
const openaiNoRetry = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'sk-fake', maxRetries: 0 });
const anthropic = new Anthropic({ baseURL: base, apiKey: 'sk-ant-fake' });

const SYSTEM = 'You are the checkout assistant of an online shop. Answer in one sentence.';
const log = (...a) => console.log(...a);

const tracer = trace.getTracer('checkout-assistant.app');
await tracer.startActiveSpan('checkout.session', { attributes: { 'app.user_tier': 'gold' } }, async (session) => {
  try {
    // 1
    const r1 = await openai.chat.completions.create({
      model: 'gpt-4o-2024-08-06',
      temperature: 0.2,
      max_tokens: 300,
      messages: [
        { role: 'system', content: SYSTEM },
        { role: 'user', content: 'When does my order ship?' },
      ],
    });
    log('1', r1.id, r1.model, JSON.stringify(r1.usage));
    // 2
    const r2 = await openai.chat.completions.create({
      model: 'o3-mini',
      reasoning_effort: 'medium',
      max_completion_tokens: 2000,
      messages: [{ role: 'user', content: 'Which of my two carts is cheaper after the 15% coupon?' }],
    });
    log('2', r2.id, r2.model, JSON.stringify(r2.usage));
    // 3
    const s3 = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'Say hello to the customer.' }],
    });
    let text3 = '';
    let usage3;
    for await (const chunk of s3) {
      text3 += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usage3 = chunk.usage;
    }
    log('3', JSON.stringify(text3), JSON.stringify(usage3));
    // 4
    try {
      await openaiNoRetry.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'Is the discount code SAVE15 still valid?' }],
      });
      log('4 unexpectedly succeeded');
    } catch (err) {
      log('4 error', err?.constructor?.name, err?.status, String(err?.message).slice(0, 80));
    }
    // 5
    const r5 = await openai.embeddings.create({
      model: 'text-embedding-3-small',
      input: ['wireless earbuds with noise cancelling', 'usb-c charging cable 2m'],
    });
    log('5', r5.data.length, JSON.stringify(r5.usage));
    // 6
    const r6 = await anthropic.messages.create({
      model: 'claude-3-5-sonnet-20241022',
      max_tokens: 1024,
      system: [{ type: 'text', text: SYSTEM, cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: 'Summarise my order history.' }],
    });
    log('6', r6.id, r6.model, JSON.stringify(r6.usage));
    // 7
    const s7 = await anthropic.messages.create({
      model: 'claude-3-5-sonnet-20241022',
      max_tokens: 512,
      stream: true,
      system: SYSTEM,
      messages: [{ role: 'user', content: 'Recommend one accessory for my new phone.' }],
    });
    let text7 = '';
    const usage7 = [];
    for await (const ev of s7) {
      if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') text7 += ev.delta.text;
      if (ev.type === 'message_start') usage7.push(ev.message.usage);
      if (ev.type === 'message_delta') usage7.push(ev.usage);
    }
    log('7', JSON.stringify(text7), JSON.stringify(usage7));
  } catch (err) {
    session.recordException(err);
    session.setStatus({ code: SpanStatusCode.ERROR, message: String(err) });
    console.error('scenario failed', err);
    process.exitCode = 1;
  } finally {
    session.end();
  }
});
await traceloop.forceFlush();
