/**
 * @module A thin route helper over Fastify: every route declares its zod schemas once; they
 * validate the request (errors name the field) and feed the OpenAPI document at
 * `/v1/openapi.json`. Each route is looked up in the operations table (src/api/operations.ts) for
 * its `operationId`, success status and success-response schema; a route not in the table fails
 * at startup.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { WebSocket } from 'ws';
import { z } from 'zod';
import { type Method, operationFor } from '../api/operations.js';
import { InvalidRequest, MarionetteError, Unauthorized } from '../core/errors.js';
import { type OrgScope, orgScope } from '../store/scope.js';
import { rejectNul } from './input-guards.js';

export interface RouteSpec<B extends z.ZodType, Q extends z.ZodType> {
  summary: string;
  tag: string;
  body?: B;
  query?: Q;
  /** Success status; must match the operations table's (which is the default). */
  status?: number;
  /** Responds with `text/event-stream` when asked to follow (documented from the operations table). */
  streams?: boolean;
  auth?: boolean;
}

type Handler<B extends z.ZodType, Q extends z.ZodType> = (ctx: {
  req: FastifyRequest;
  reply: FastifyReply;
  params: Record<string, string>;
  body: z.infer<B>;
  query: z.infer<Q>;
  /** The caller's org (its principal's): every read and write of the route is scoped by it. */
  org: OrgScope;
}) => Promise<unknown>;

/** The scope of the request's principal (an authenticated route always has one). */
function callerOrg(req: FastifyRequest): OrgScope {
  const p = req.principal;
  if (!p) throw new Unauthorized('this route needs an API token');
  return orgScope(p.orgId);
}

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

/** A plain request to a WebSocket route (answered 400 naming the upgrade it needs). */
class UpgradeRequired extends MarionetteError {
  constructor(message: string) {
    super('invalid_request', message, { hint: 'use `mctl sessions exec -it`, or a WebSocket client' });
  }
}

export class Api {
  private readonly paths: Record<string, Record<string, unknown>> = {};
  constructor(private readonly app: FastifyInstance) {}

  route<B extends z.ZodType = z.ZodUndefined, Q extends z.ZodType = z.ZodUndefined>(
    method: Method,
    url: string,
    spec: RouteSpec<B, Q>,
    handler: Handler<B, Q>,
  ): void {
    const { id: operationId, op: operation } = operationFor(method, url);
    if (spec.status !== undefined && spec.status !== operation.status)
      throw new Error(
        `route ${method} ${url}: status ${spec.status} differs from its operation's (${operation.status})`,
      );
    const status = operation.status;
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
    const success = (schema: z.ZodType, description: string) => {
      const json = { schema: z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' }) };
      const sse = { schema: { type: 'string', description: 'Server-Sent Events (see docs/api.md)' } };
      const content =
        operation.sse === 'always'
          ? { 'text/event-stream': sse }
          : operation.sse
            ? { 'application/json': json, 'text/event-stream': sse }
            : { 'application/json': json };
      return { description, content };
    };
    const op: Record<string, unknown> = {
      operationId,
      summary: spec.summary,
      tags: [spec.tag],
      parameters: [...params, ...query],
      responses: {
        [String(status)]: success(operation.response, 'OK'),
        ...(operation.also
          ? { [String(operation.also.status)]: success(operation.also.response, operation.also.description) }
          : {}),
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
      config: { auth: spec.auth !== false, operationId },
      handler: async (req, reply) => {
        // The success status, set first so that a handler may answer another (a dry run's 200).
        reply.code(status);
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
          get org() {
            return callerOrg(req);
          },
        });
        if (reply.sent) return reply;
        return out;
      },
    });
  }

  /**
   * A WebSocket route: `GET url` with `Upgrade: websocket` passes the same auth and role check as
   * any route (its operation's), then `handler` gets the socket. A plain GET is answered 426.
   * Needs @fastify/websocket registered on the app (./app.ts) before this is called.
   */
  websocket(
    url: string,
    spec: { summary: string; tag: string; description: string },
    handler: (ctx: { socket: WebSocket; req: FastifyRequest; params: Record<string, string>; org: OrgScope }) => void,
  ): void {
    const { id: operationId } = operationFor('GET', url);
    const oaPath = url.replace(/:([A-Za-z]+)/g, '{$1}');
    const parameters = [...url.matchAll(/:([A-Za-z]+)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    this.paths[oaPath] = {
      ...(this.paths[oaPath] ?? {}),
      get: {
        operationId,
        summary: spec.summary,
        tags: [spec.tag],
        parameters,
        responses: {
          '101': { description: `Switching Protocols: a WebSocket. ${spec.description}` },
          default: {
            description: 'Problem',
            content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
          },
        },
      },
    };
    // In a child scope: loaded after the websocket plugin, whose route hook must see this route.
    this.app.register(async (scope) => {
      scope.route({
        method: 'GET',
        url,
        config: { auth: true, operationId },
        handler: async (_req: FastifyRequest, reply: FastifyReply) => {
          reply.header('upgrade', 'websocket');
          throw new UpgradeRequired(`${url} is a WebSocket: connect with Upgrade: websocket`);
        },
        wsHandler: (socket: WebSocket, req: FastifyRequest) => {
          rejectNul('path', req.params);
          handler({ socket, req, params: req.params as Record<string, string>, org: callerOrg(req) });
        },
      } as unknown as RouteOptions);
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
