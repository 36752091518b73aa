import { request as httpRequest, type Agent, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Inject } from '@nestjs/common';
import { RequestFilteringHttpAgent, RequestFilteringHttpsAgent } from 'request-filtering-agent';
import type { ActivityContext } from '#rsm';
import { RsmActivity, type RsmActivityHandlerOf } from '#rsm/nest';
import { notifyActivity, type NotifyRequest } from '#contracts';
import type { DeliveryConfig } from '../config.js';
import { DELIVERY_CONFIG } from '../tokens.js';
import { dnsResolve, lookupVia, WEBHOOK_LOOKUP_TIMEOUT_MS } from './webhook-policy.js';

/**
 * Calls the webhook a customer registered with `notifymerequests`, once the delivery completes.
 * At least once, with the same `Idempotency-Key` on every attempt so the receiver can drop repeats.
 * The connection is refused unless the name resolves to a public address at connect time (the
 * agent checks the address it connects to, so a name that changed since registration gains
 * nothing); redirects are not followed; the call has a timeout and at most a bounded answer is read.
 */
@RsmActivity(notifyActivity, { maxAttempts: 8, initialBackoffMs: 500, maxBackoffMs: 30_000, timeoutMs: 10_000 })
export class NotifyActivity implements RsmActivityHandlerOf<typeof notifyActivity> {
  private readonly agents: { http: Agent; https: Agent };

  constructor(@Inject(DELIVERY_CONFIG) private readonly config: DeliveryConfig) {
    // Public receivers only: their names are resolved by DNS queries that hold no libuv thread (see
    // dnsResolve), so slow names cannot starve the service's own lookups. Local runs that allow
    // private receivers keep the system resolver, which reads /etc/hosts.
    const lookup = config.WEBHOOK_ALLOW_PRIVATE ? {} : { lookup: lookupVia(dnsResolve(WEBHOOK_LOOKUP_TIMEOUT_MS)) };
    const filter = { allowPrivateIPAddress: config.WEBHOOK_ALLOW_PRIVATE, allowMetaIPAddress: config.WEBHOOK_ALLOW_PRIVATE, ...lookup };
    this.agents = { http: new RequestFilteringHttpAgent(filter), https: new RequestFilteringHttpsAgent(filter) };
  }

  async run(input: NotifyRequest, ctx: ActivityContext): Promise<{ status: number }> {
    const url = new URL(input.url);
    const secure = url.protocol === 'https:';
    if (!secure && !(url.protocol === 'http:' && this.config.WEBHOOK_ALLOW_HTTP)) return { status: 0 }; // registered under another policy: dropped
    const body = JSON.stringify({ deliveryId: input.deliveryId, stage: input.stage });
    const status = await new Promise<number>((resolve, reject) => {
      const request = (secure ? httpsRequest : httpRequest)(
        url,
        {
          method: 'POST',
          agent: secure ? this.agents.https : this.agents.http,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'idempotency-key': ctx.idempotencyKey },
          timeout: this.config.WEBHOOK_TIMEOUT_MS,
          signal: ctx.signal,
        },
        (response: IncomingMessage) => {
          let read = 0;
          response.on('data', (chunk: Buffer) => {
            read += chunk.length;
            if (read > this.config.WEBHOOK_MAX_RESPONSE_BYTES) response.destroy();
          });
          response.on('close', () => resolve(response.statusCode ?? 0));
          response.on('error', () => resolve(response.statusCode ?? 0));
        },
      );
      request.on('timeout', () => request.destroy(new Error(`webhook took longer than ${this.config.WEBHOOK_TIMEOUT_MS} ms`)));
      request.on('error', reject);
      request.end(body);
    });
    if (status >= 500 || status === 429) throw new Error(`webhook answered ${status}`);
    return { status };
  }
}
