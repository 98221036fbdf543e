/**
 * OpenTelemetry API spans of a real gyre process: a local node:http server plays the OTLP/HTTP
 * collector (endpoint from OTEL_EXPORTER_OTLP_ENDPOINT), and a server API request carrying a
 * W3C traceparent arrives there as a SERVER span of that trace, child of the caller's span.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { apiCall } from '../helpers/api.js';
import { startGyre, type GyreProcess } from '../helpers/server-process.js';
import { waitFor } from '../helpers/wait.js';

const API_KEY = 'otel-key';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: Record<string, unknown> }[];
}

describe('OpenTelemetry API tracing', { timeout: 30_000 }, () => {
  let gyre: GyreProcess;
  let collector: http.Server;
  const requests: { path: string; contentType: string; body: any }[] = [];

  before(async () => {
    collector = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        requests.push({ path: req.url ?? '', contentType: String(req.headers['content-type']), body: JSON.parse(text) });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', () => resolve()));
    const port = (collector.address() as AddressInfo).port;
    gyre = await startGyre(
      { http_api: { key: API_KEY }, opentelemetry: { enabled: true, api: true } },
      { env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_BSP_SCHEDULE_DELAY: '100', OTEL_SERVICE_NAME: 'gyre-e2e' } },
    );
  });
  after(async () => {
    await gyre?.stop();
    await new Promise<void>((resolve) => collector.close(() => resolve()));
  });

  const spans = (): { span: OtlpSpan; resource: Record<string, unknown> }[] =>
    requests.flatMap((r) =>
      (r.body.resourceSpans ?? []).flatMap((rs: any) => {
        const resource = Object.fromEntries((rs.resource?.attributes ?? []).map((a: any) => [a.key, Object.values(a.value)[0]]));
        return (rs.scopeSpans ?? []).flatMap((ss: any) => (ss.spans ?? []).map((span: OtlpSpan) => ({ span, resource })));
      }),
    );

  it('exports a SERVER span per API request, continuing the W3C trace context', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parent = '00f067aa0ba902b7';
    const r = await apiCall(gyre.apiUrl, API_KEY, 'info', {}, { traceparent: `00-${traceId}-${parent}-01` });
    assert.equal(r.status, 200);
    const found = await waitFor(() => spans().find((s) => s.span.traceId === traceId), 'span at the collector', 10_000);
    assert.equal(requests[0]?.path, '/v1/traces');
    assert.match(requests[0]?.contentType ?? '', /application\/json/);
    assert.equal(found.span.parentSpanId, parent);
    assert.equal(found.span.name, 'POST /api/info');
    assert.equal(found.span.kind, 2, 'SPAN_KIND_SERVER');
    const attrs = Object.fromEntries(found.span.attributes.map((a) => [a.key, Object.values(a.value)[0]]));
    assert.equal(attrs['centrifugo.api.method'], 'info');
    assert.equal(attrs['http.response.status_code'], 200);
    assert.equal(found.resource['service.name'], 'gyre-e2e');
  });

  it('starts a new trace without a traceparent and flushes spans on shutdown', async () => {
    const before = spans().length;
    await apiCall(gyre.apiUrl, API_KEY, 'channels', {});
    assert.equal(await gyre.stop(), 0);
    const fresh = spans().slice(before).find((s) => s.span.name === 'POST /api/channels');
    assert.ok(fresh, 'the span of the last request was flushed at shutdown');
    assert.equal(fresh.span.parentSpanId ?? '', '');
    assert.match(fresh.span.traceId, /^[0-9a-f]{32}$/);
  });
});
