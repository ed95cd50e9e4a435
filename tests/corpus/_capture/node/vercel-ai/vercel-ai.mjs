// Vercel AI SDK capture: the corpus scenario's calls 1-7 through `ai` + @ai-sdk/openai + @ai-sdk/anthropic,
// traced by @ai-sdk/otel, exported by the OpenTelemetry JS SDK over OTLP/HTTP protobuf.
//
//   VARIANT=otel        (default) registerTelemetry(new OpenTelemetry())             -> GenAI semconv spans
//   VARIANT=otel-extra  registerTelemetry(new OpenTelemetry({usage, providerMetadata})) -> plus ai.* supplemental attrs
//   VARIANT=legacy      registerTelemetry(new LegacyOpenTelemetry())                  -> ai.generateText / doGenerate spans
//   OPENAI_API=responses (default: openai(id), the Responses API) | chat (openai.chat(id), Chat Completions)
//   PROVIDER=http://127.0.0.1:8900  the corpus fake provider
import { setup } from './otel-setup.mjs';
import { trace, SpanStatusCode } from '@opentelemetry/api';
import { embedMany, generateText, registerTelemetry, streamText } from 'ai';
import { LegacyOpenTelemetry, OpenTelemetry } from '@ai-sdk/otel';
import { createOpenAI } from '@ai-sdk/openai';
import { createAnthropic } from '@ai-sdk/anthropic';

const otel = setup();
const variant = process.env.VARIANT ?? 'otel';
const openaiApi = process.env.OPENAI_API ?? 'responses';
const base = process.env.PROVIDER ?? 'http://127.0.0.1:8900';

registerTelemetry(
  variant === 'legacy'
    ? new LegacyOpenTelemetry()
    : variant === 'otel-extra'
      ? new OpenTelemetry({ usage: true, providerMetadata: true })
      : new OpenTelemetry(),
);

const openai = createOpenAI({ baseURL: `${base}/v1`, apiKey: 'sk-fake' });
const anthropic = createAnthropic({ baseURL: `${base}/v1`, apiKey: 'sk-ant-fake' });
const chatModel = (id) => (openaiApi === 'chat' ? openai.chat(id) : openai(id));
const telemetry = { isEnabled: true };

const SYSTEM = 'You are the checkout assistant of an online shop. Answer in one sentence.';
const log = (...a) => console.log(...a);

const tracer = trace.getTracer('checkout-assistant.app');
await tracer.startActiveSpan('checkout.session', { attributes: { 'app.user_tier': 'gold' } }, async (session) => {
  try {
    // 1
    const r1 = await generateText({
      model: chatModel('gpt-4o-2024-08-06'),
      system: SYSTEM,
      prompt: 'When does my order ship?',
      temperature: 0.2,
      maxOutputTokens: 300,
      telemetry,
    });
    log('1', r1.response.id, r1.response.modelId, JSON.stringify(r1.usage));
    // 2
    const r2 = await generateText({
      model: chatModel('o3-mini'),
      prompt: 'Which of my two carts is cheaper after the 15% coupon?',
      maxOutputTokens: 2000,
      providerOptions: { openai: { reasoningEffort: 'medium' } },
      telemetry,
    });
    log('2', r2.response.id, r2.response.modelId, JSON.stringify(r2.usage));
    // 3
    const r3 = streamText({
      model: chatModel('gpt-4o-mini'),
      prompt: 'Say hello to the customer.',
      telemetry,
    });
    let text3 = '';
    for await (const t of r3.textStream) text3 += t;
    log('3', JSON.stringify(text3), (await r3.response).id, JSON.stringify(await r3.usage));
    // 4
    try {
      await generateText({
        model: chatModel('gpt-4o-mini'),
        prompt: 'Is the discount code SAVE15 still valid?',
        maxRetries: 0,
        telemetry,
      });
      log('4 unexpectedly succeeded');
    } catch (err) {
      log('4 error', err?.constructor?.name, err?.statusCode, String(err?.message).slice(0, 80));
    }
    // 5
    const r5 = await embedMany({
      model: openai.embedding('text-embedding-3-small'),
      values: ['wireless earbuds with noise cancelling', 'usb-c charging cable 2m'],
      telemetry,
    });
    log('5', r5.embeddings.length, JSON.stringify(r5.usage));
    // 6
    const r6 = await generateText({
      model: anthropic('claude-3-5-sonnet-20241022'),
      maxOutputTokens: 1024,
      allowSystemInMessages: true,
      messages: [
        { role: 'system', content: SYSTEM, providerOptions: { anthropic: { cacheControl: { type: 'ephemeral' } } } },
        { role: 'user', content: 'Summarise my order history.' },
      ],
      telemetry,
    });
    log('6', r6.response.id, r6.response.modelId, JSON.stringify(r6.usage));
    // 7
    const r7 = streamText({
      model: anthropic('claude-3-5-sonnet-20241022'),
      maxOutputTokens: 512,
      system: SYSTEM,
      prompt: 'Recommend one accessory for my new phone.',
      telemetry,
    });
    let text7 = '';
    for await (const t of r7.textStream) text7 += t;
    log('7', JSON.stringify(text7), (await r7.response).id, JSON.stringify(await r7.usage));
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
