// Anthropic TypeScript SDK capture, no instrumentation library: calls 6 and 7 of the corpus scenario
// with @anthropic-ai/sdk, whose built-in OpenTelemetry tracing (scope com.anthropic.sdk.typescript)
// records through the global TracerProvider; exported by the OpenTelemetry JS SDK over OTLP/HTTP protobuf.
//
//   PROVIDER=http://127.0.0.1:8900  the corpus fake provider
import { setup } from './otel-setup.mjs';
import { trace, SpanStatusCode } from '@opentelemetry/api';
import Anthropic from '@anthropic-ai/sdk';

const otel = setup();
const base = process.env.PROVIDER ?? 'http://127.0.0.1:8900';
const anthropic = new Anthropic({ baseURL: base, apiKey: 'sk-ant-fake' });
const SYSTEM = 'You are the checkout assistant of an online shop. Answer in one sentence.';

const tracer = trace.getTracer('checkout-assistant.app');
await tracer.startActiveSpan('checkout.session', { attributes: { 'app.user_tier': 'gold' } }, async (session) => {
  try {
    // 6
    const r6 = await anthropic.messages.create({
      model: 'claude-3-5-sonnet-20241022',
      max_tokens: 1024,
      system: [{ type: 'text', text: SYSTEM, cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: 'Summarise my order history.' }],
    });
    console.log('6', r6.id, r6.model, JSON.stringify(r6.usage));
    // 7
    const s7 = await anthropic.messages.create({
      model: 'claude-3-5-sonnet-20241022',
      max_tokens: 512,
      stream: true,
      system: SYSTEM,
      messages: [{ role: 'user', content: 'Recommend one accessory for my new phone.' }],
    });
    let text7 = '';
    for await (const ev of s7) {
      if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') text7 += ev.delta.text;
    }
    console.log('7', JSON.stringify(text7));
  } catch (err) {
    session.recordException(err);
    session.setStatus({ code: SpanStatusCode.ERROR, message: String(err) });
    console.error('scenario failed', err);
    process.exitCode = 1;
  } finally {
    session.end();
  }
});
await otel.shutdown();
