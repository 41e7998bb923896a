/**
 * @module A thin route helper over Fastify: every route declares its zod schemas once; they
 * validate the request (errors name the field) and feed the OpenAPI document at
 * `/v1/openapi.json`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { InvalidRequest } from '../core/errors.js';
import { rejectNul } from './input-guards.js';

export interface RouteSpec<B extends z.ZodType, Q extends z.ZodType> {
  summary: string;
  tag: string;
  body?: B;
  query?: Q;
  /** Success status (default 200). */
  status?: number;
  /** Responds with `text/event-stream` when asked to follow. */
  streams?: boolean;
  auth?: boolean;
}

type Handler<B extends z.ZodType, Q extends z.ZodType> = (ctx: {
  req: FastifyRequest;
  reply: FastifyReply;
  params: Record<string, string>;
  body: z.infer<B>;
  query: z.infer<Q>;
}) => Promise<unknown>;

function issuesToMessage(where: string, error: z.ZodError): string {
  return error.issues
    .map((i) => {
      if (i.code === 'unrecognized_keys')
        return `${where}: unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => JSON.stringify(k)).join(', ')}`;
      if (!i.path.length) return `${where}: ${i.message}`;
      return `${where === 'body' ? '' : `${where}: `}${i.path.join('.')}: ${i.message}`;
    })
    .join('; ');
}

export class Api {
  private readonly paths: Record<string, Record<string, unknown>> = {};
  constructor(private readonly app: FastifyInstance) {}

  route<B extends z.ZodType = z.ZodUndefined, Q extends z.ZodType = z.ZodUndefined>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    spec: RouteSpec<B, Q>,
    handler: Handler<B, Q>,
  ): void {
    const oaPath = url.replace(/:([A-Za-z]+)/g, '{$1}');
    const params = [...url.matchAll(/:([A-Za-z]+)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    const query = spec.query
      ? Object.entries(
          (z.toJSONSchema(spec.query, { io: 'input' }) as { properties?: Record<string, unknown> }).properties ?? {},
        ).map(([name, schema]) => ({ name, in: 'query', required: false, schema }))
      : [];
    const op: Record<string, unknown> = {
      summary: spec.summary,
      tags: [spec.tag],
      parameters: [...params, ...query],
      responses: {
        [String(spec.status ?? 200)]: {
          description: 'OK',
          content: spec.streams ? { 'application/json': {}, 'text/event-stream': {} } : { 'application/json': {} },
        },
        default: {
          description: 'Problem',
          content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
        },
      },
      ...(spec.auth === false ? { security: [] } : {}),
    };
    if (spec.body)
      op.requestBody = {
        required: true,
        content: { 'application/json': { schema: z.toJSONSchema(spec.body, { io: 'input' }) } },
      };
    this.paths[oaPath] = { ...(this.paths[oaPath] ?? {}), [method.toLowerCase()]: op };
    this.app.route({
      method,
      url,
      config: { auth: spec.auth !== false },
      handler: async (req, reply) => {
        rejectNul('path', req.params);
        rejectNul('query', req.query);
        rejectNul('body', req.body);
        let body: unknown;
        if (spec.body) {
          const r = spec.body.safeParse(req.body ?? undefined);
          if (!r.success) throw new InvalidRequest(issuesToMessage('body', r.error));
          body = r.data;
        }
        let q: unknown;
        if (spec.query) {
          const r = spec.query.safeParse(req.query ?? {});
          if (!r.success) throw new InvalidRequest(issuesToMessage('query', r.error));
          q = r.data;
        }
        const out = await handler({
          req,
          reply,
          params: req.params as Record<string, string>,
          body: body as z.infer<B>,
          query: q as z.infer<Q>,
        });
        if (reply.sent) return reply;
        reply.code(spec.status ?? 200);
        return out;
      },
    });
  }

  openapi(version: string): Record<string, unknown> {
    return {
      openapi: '3.1.0',
      info: { title: 'Marionette API', version },
      servers: [{ url: '/' }],
      security: [{ bearer: [] }],
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
        schemas: {
          Problem: {
            type: 'object',
            properties: {
              type: { type: 'string' },
              title: { type: 'string' },
              status: { type: 'integer' },
              detail: { type: 'string' },
              hint: { type: 'string' },
              instance: { type: 'string' },
            },
            required: ['type', 'title', 'status', 'detail'],
          },
        },
      },
      paths: this.paths,
    };
  }
}
