/**
 * @module Every error reply of the REST API as RFC 9457 problem+json (`type`, `title`, `status`,
 * `detail`), including the ones Fastify and Node's HTTP parser produce before a route runs: no
 * route, a bad percent-encoding in the path, a path parameter over the length limit (414), a
 * malformed, empty, oversized or non-JSON body, headers over the size limit (431), a request that
 * timed out (408), a request the parser cannot read (400) and one arriving while the server
 * closes (503).
 *
 * `installProblemHandlers` sets the app's error and not-found handlers; `problemServerOptions`
 * are the Fastify options for the replies Fastify sends outside those handlers.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import { InvalidRequest, MarionetteError, NotFound } from '../core/errors.js';
import { PROBLEM_BASE, type Problem, problemFor } from './problem.js';

/** Where the server logs a failure it answered with a 500. */
export type ErrorLog = (err: unknown, url: string) => void;

/** Maps an error that is not a MarionetteError to one (a full disk to a 507, say), or null. */
export type ErrorTranslator = (err: unknown) => MarionetteError | null;

/** A problem for an HTTP-level fault that has no error class of its own (414, 431, 408...). */
export function httpProblem(status: number, detail: string, instance?: string): Problem {
  const title = STATUS_CODES[status] ?? 'Error';
  return {
    type: `${PROBLEM_BASE}${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`,
    title,
    status,
    detail,
    ...(instance ? { instance } : {}),
  };
}

function send(reply: FastifyReply, p: Problem): void {
  reply.code(p.status).type('application/problem+json').send(p);
}

/** The problem for an error thrown while handling a request (by a hook, a body parser or a route). */
export function problemForError(
  err: unknown,
  req: FastifyRequest,
  bodyLimit: number,
  log: ErrorLog,
  translate: ErrorTranslator = () => null,
): Problem {
  if (err instanceof MarionetteError) return problemFor(err, req.url);
  const translated = translate(err);
  if (translated) return problemFor(translated, req.url);
  const e = err as Partial<FastifyError> & Error;
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return problemFor(
        new MarionetteError('payload_too_large', `request body is over the ${bodyLimit} byte limit`),
        req.url,
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return problemFor(
        new InvalidRequest(
          `unsupported content type ${JSON.stringify(req.headers['content-type'] ?? '')}; send application/json`,
        ),
        req.url,
      );
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return problemFor(new InvalidRequest('request body is empty; send a JSON object'), req.url);
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return problemFor(new InvalidRequest(`malformed JSON body: ${e.message}`), req.url);
  }
  if (e.statusCode === 400 && e instanceof SyntaxError)
    return problemFor(new InvalidRequest(`malformed JSON body: ${e.message}`), req.url);
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500)
    return e.statusCode === 400
      ? problemFor(new InvalidRequest(e.message), req.url)
      : httpProblem(e.statusCode, e.message, req.url);
  log(err, req.url);
  return problemFor(new MarionetteError('internal', 'internal error; see the server log'), req.url);
}

/** Sets the error and not-found handlers of `app` (both answer with problem+json); JSON bodies only. */
export function installProblemHandlers(
  app: FastifyInstance,
  log: ErrorLog,
  translate?: ErrorTranslator,
  /** Applied to an error's detail and hint (the server's redaction of known secret values). */
  redact: (text: string) => string = (t) => t,
): void {
  // The API takes JSON only: a text/plain body is refused as an unsupported content type
  // instead of reaching a route as a string.
  app.removeContentTypeParser('text/plain');
  // While the server closes, a request still arriving on an open connection is refused with a
  // 503 problem (Fastify's own 503 for it is plain JSON; `return503OnClosing` is off for this).
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', async (req, reply) => {
    if (!closing) return;
    reply.header('connection', 'close');
    send(reply, httpProblem(503, 'the server is shutting down; retry in a moment', req.url));
    return reply;
  });
  app.setErrorHandler((err, req, reply) => {
    const p = problemForError(err, req, app.initialConfig.bodyLimit ?? 1024 * 1024, log, translate);
    send(reply, { ...p, detail: redact(p.detail), ...(typeof p.hint === 'string' ? { hint: redact(p.hint) } : {}) });
  });
  app.setNotFoundHandler((req, reply) => {
    send(
      reply,
      problemFor(
        new NotFound('route', `${req.method} ${req.url.split('?')[0]}`, 'the API is described at /v1/openapi.json'),
        req.url,
      ),
    );
  });
}

/** Fastify's default for a path parameter over `maxParamLength` characters. */
const MAX_PARAM_LENGTH = 100;

/**
 * Fastify options whose replies bypass the error handler: a bad path (percent-encoding, an
 * over-long parameter) and an HTTP request the parser rejects before Fastify sees it.
 */
export function problemServerOptions(): Pick<
  FastifyServerOptions,
  'frameworkErrors' | 'clientErrorHandler' | 'routerOptions' | 'return503OnClosing'
> {
  return {
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    return503OnClosing: false,
    frameworkErrors(err, req, reply) {
      const path = req.url.split('?')[0] ?? req.url;
      if (err.code === 'FST_ERR_BAD_URL')
        return send(
          reply,
          problemFor(
            new InvalidRequest(
              `the URL path ${JSON.stringify(path)} is not valid percent-encoding (each % must start a %XX escape of UTF-8)`,
            ),
            req.url,
          ),
        );
      if (err.code === 'FST_ERR_MAX_PARAM_LENGTH')
        return send(
          reply,
          httpProblem(414, `a path parameter is over ${MAX_PARAM_LENGTH} characters (no id is that long)`, path),
        );
      return send(reply, problemFor(new MarionetteError('internal', err.message), req.url));
    },
    clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket) {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      const p =
        err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? httpProblem(408, 'the request was not received in time')
          : err.code === 'HPE_HEADER_OVERFLOW'
            ? httpProblem(
                431,
                'the request line and headers are over the size limit (16 KB); a URL cannot be this long',
              )
            : httpProblem(400, `the HTTP request could not be parsed (${err.code ?? err.message})`);
      const body = JSON.stringify(p);
      if (socket.writable)
        socket.write(
          `HTTP/1.1 ${p.status} ${p.title}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      socket.destroy(err);
    },
  };
}
