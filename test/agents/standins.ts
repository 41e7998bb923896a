/**
 * @module Loopback stand-ins of the Anthropic Messages API (`POST /v1/messages`) and the OpenAI
 * Responses API (`POST /v1/responses`), streaming (server-sent events) and not, written from the
 * vendors' public API documentation. Test-only (never shipped). Each plays one scripted turn: it
 * asks the agent to write `hello.txt`, then to run a command, then answers with a final text;
 * requests without the agent's tools (titles, probes) get a short text. `mode: 'unauthorized'`
 * answers every request with the documented 401 error body. Every request is recorded.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown> | null;
}

export interface StandIn {
  /** `http://127.0.0.1:PORT` (the stand-in listens on loopback only). */
  url: string;
  requests: RecordedRequest[];
  /** 'script' (default) or 'unauthorized'. */
  mode: 'script' | 'unauthorized';
  /** The text of every user message the model was sent (prompts and tool results). */
  userTexts(): string[];
  close(): Promise<void>;
}

/** The command the scripted model asks the agent to run (it writes `ran.txt`). */
export const SCRIPT_COMMAND = 'echo ran > ran.txt';
export const SCRIPT_FINAL = 'Wrote hello.txt and ran the command.';

type Handler = (req: IncomingMessage, body: Record<string, unknown> | null, res: ServerResponse, s: StandIn) => void;

async function serve(handler: Handler, collectTexts: (r: RecordedRequest[]) => string[]): Promise<StandIn> {
  const requests: RecordedRequest[] = [];
  let server: Server;
  const s: StandIn = {
    url: '',
    requests,
    mode: 'script',
    userTexts: () => collectTexts(requests),
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: Record<string, unknown> | null = null;
      const text = Buffer.concat(chunks).toString('utf8');
      if (text) {
        try {
          body = JSON.parse(text) as Record<string, unknown>;
        } catch {
          body = null;
        }
      }
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
      try {
        handler(req, body, res, s);
      } catch (e: unknown) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: String(e) }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  s.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return s;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function sse(res: ServerResponse, events: { event: string; data: unknown }[]): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  for (const e of events) res.write(`event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`);
  res.end();
}

// ---- Anthropic Messages API ------------------------------------------------------------------

interface AnthropicBlock {
  type: string;
  text?: string;
  id?: string;
  name?: string;
  input?: unknown;
  tool_use_id?: string;
  content?: unknown;
}

function anthropicBlocks(content: unknown): AnthropicBlock[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  return Array.isArray(content) ? (content as AnthropicBlock[]) : [];
}

function textOf(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map(textOf).join('\n');
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof o.text === 'string') return o.text;
    if ('content' in o) return textOf(o.content);
  }
  return '';
}

/** The next assistant content for the scripted conversation. */
function anthropicTurn(body: Record<string, unknown>): { content: AnthropicBlock[]; stop: string } {
  const tools = (body.tools as { name?: string }[] | undefined) ?? [];
  const names = new Set(tools.map((t) => t.name));
  if (!names.has('Write') || !names.has('Bash')) return { content: [{ type: 'text', text: 'ok' }], stop: 'end_turn' };
  const messages = (body.messages as { role: string; content: unknown }[] | undefined) ?? [];
  const last = messages[messages.length - 1];
  const results = last?.role === 'user' ? anthropicBlocks(last.content).filter((b) => b.type === 'tool_result') : [];
  const resultFor = (prefix: string) => results.find((b) => b.tool_use_id?.startsWith(prefix));
  const n = messages.length;
  if (resultFor('toolu_write')) {
    return {
      content: [
        { type: 'text', text: 'Now the command.' },
        {
          type: 'tool_use',
          id: `toolu_bash_${n}`,
          name: 'Bash',
          input: { command: SCRIPT_COMMAND, description: 'Write ran.txt' },
        },
      ],
      stop: 'tool_use',
    };
  }
  if (resultFor('toolu_bash')) return { content: [{ type: 'text', text: SCRIPT_FINAL }], stop: 'end_turn' };
  const system = textOf(body.system);
  const cwd = /[Ww]orking directory: ([^\s]+)/.exec(system)?.[1] ?? '.';
  return {
    content: [
      { type: 'text', text: 'I will write the file.' },
      {
        type: 'tool_use',
        id: `toolu_write_${n}`,
        name: 'Write',
        input: { file_path: `${cwd.replace(/\/$/, '')}/hello.txt`, content: 'hello\n' },
      },
    ],
    stop: 'tool_use',
  };
}

/** Starts the Anthropic Messages API stand-in on loopback. */
export function startAnthropicStandIn(): Promise<StandIn> {
  let ids = 0;
  return serve(
    (req, body, res, s) => {
      const path = (req.url ?? '').split('?')[0];
      if (s.mode === 'unauthorized')
        return json(res, 401, {
          type: 'error',
          error: { type: 'authentication_error', message: 'invalid x-api-key' },
        });
      if (req.method === 'POST' && path === '/v1/messages/count_tokens') return json(res, 200, { input_tokens: 10 });
      if (req.method !== 'POST' || path !== '/v1/messages' || !body)
        return json(res, 404, { type: 'error', error: { type: 'not_found_error', message: `no route ${path}` } });
      const model = String(body.model ?? 'claude-test');
      const { content, stop } = anthropicTurn(body);
      const id = `msg_standin_${++ids}`;
      const usage = {
        input_tokens: 100,
        output_tokens: 20,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
      };
      if (!body.stream)
        return json(res, 200, {
          id,
          type: 'message',
          role: 'assistant',
          model,
          content,
          stop_reason: stop,
          stop_sequence: null,
          usage,
        });
      const events: { event: string; data: unknown }[] = [
        {
          event: 'message_start',
          data: {
            type: 'message_start',
            message: {
              id,
              type: 'message',
              role: 'assistant',
              model,
              content: [],
              stop_reason: null,
              stop_sequence: null,
              usage: { ...usage, output_tokens: 1 },
            },
          },
        },
      ];
      content.forEach((b, index) => {
        if (b.type === 'text') {
          events.push({
            event: 'content_block_start',
            data: { type: 'content_block_start', index, content_block: { type: 'text', text: '' } },
          });
          events.push({
            event: 'content_block_delta',
            data: { type: 'content_block_delta', index, delta: { type: 'text_delta', text: b.text } },
          });
        } else {
          events.push({
            event: 'content_block_start',
            data: {
              type: 'content_block_start',
              index,
              content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} },
            },
          });
          events.push({
            event: 'content_block_delta',
            data: {
              type: 'content_block_delta',
              index,
              delta: { type: 'input_json_delta', partial_json: JSON.stringify(b.input) },
            },
          });
        }
        events.push({ event: 'content_block_stop', data: { type: 'content_block_stop', index } });
      });
      events.push({
        event: 'message_delta',
        data: {
          type: 'message_delta',
          delta: { stop_reason: stop, stop_sequence: null },
          usage: { output_tokens: 20 },
        },
      });
      events.push({ event: 'message_stop', data: { type: 'message_stop' } });
      sse(res, events);
    },
    (requests) =>
      requests.flatMap((r) =>
        ((r.body?.messages as { role: string; content: unknown }[] | undefined) ?? [])
          .filter((m) => m.role === 'user')
          .map((m) => textOf(m.content)),
      ),
  );
}

// ---- OpenAI Responses API --------------------------------------------------------------------

interface OpenAITool {
  type?: string;
  name?: string;
  parameters?: { properties?: Record<string, { type?: string }> };
}

interface InputItem {
  type?: string;
  role?: string;
  content?: unknown;
  call_id?: string;
  output?: unknown;
}

/** Every tool the request offers: `tools`, and the tools of `additional_tools` input items (namespaced). */
function offeredTools(body: Record<string, unknown>): OpenAITool[] {
  const out: OpenAITool[] = [];
  const add = (list: unknown) => {
    for (const t of (Array.isArray(list) ? list : []) as (OpenAITool & { tools?: unknown })[]) {
      if (t.type === 'namespace') add(t.tools);
      else out.push(t);
    }
  };
  add(body.tools);
  for (const it of (Array.isArray(body.input) ? body.input : []) as { type?: string; tools?: unknown }[])
    if (it.type === 'additional_tools') add(it.tools);
  return out;
}

/**
 * The output item that asks the agent to do `what` (write hello.txt, or run the command), in the
 * tool shape the agent offers: Codex's code-mode `exec` custom tool (JavaScript calling
 * `tools.apply_patch` / `tools.exec_command`), or a plain shell function tool.
 */
function toolCall(tools: OpenAITool[], what: 'write' | 'cmd', n: number): Record<string, unknown> | null {
  const callId = `call_${what}_${n}`;
  const exec = tools.find((t) => t.type === 'custom' && t.name === 'exec');
  if (exec) {
    const input =
      what === 'write'
        ? `const r = await tools.apply_patch(${JSON.stringify('*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n')});\ntext(JSON.stringify(r));`
        : `const r = await tools.exec_command({ cmd: ${JSON.stringify(SCRIPT_COMMAND)} });\ntext(JSON.stringify(r));`;
    return { type: 'custom_tool_call', id: `ctc_${n}`, call_id: callId, name: 'exec', input, status: 'completed' };
  }
  const command = what === 'write' ? 'printf "hello\\n" > hello.txt' : SCRIPT_COMMAND;
  for (const name of ['exec_command', 'shell_command', 'shell']) {
    const t = tools.find((x) => x.name === name && (x.type ?? 'function') === 'function');
    if (!t) continue;
    const props = t.parameters?.properties ?? {};
    const args =
      'cmd' in props
        ? { cmd: command }
        : props.command?.type === 'array'
          ? { command: ['bash', '-lc', command] }
          : { command };
    return {
      type: 'function_call',
      id: `fc_${n}`,
      call_id: callId,
      name,
      arguments: JSON.stringify(args),
      status: 'completed',
    };
  }
  return null;
}

/** Starts the OpenAI Responses API stand-in on loopback. */
export function startOpenAIStandIn(): Promise<StandIn> {
  let ids = 0;
  return serve(
    (req, body, res, s) => {
      const path = (req.url ?? '').split('?')[0];
      if (s.mode === 'unauthorized')
        return json(res, 401, {
          error: {
            message: 'Incorrect API key provided: sk-bad. You can find your API key at your account page.',
            type: 'invalid_request_error',
            param: null,
            code: 'invalid_api_key',
          },
        });
      if (req.method === 'GET' && path?.endsWith('/models'))
        return json(res, 200, {
          object: 'list',
          data: [{ id: 'gpt-test', object: 'model', created: 0, owned_by: 'standin' }],
        });
      if (req.method !== 'POST' || !path?.endsWith('/responses') || !body)
        return json(res, 404, { error: { message: `no route ${path}`, type: 'invalid_request_error', code: null } });
      const model = String(body.model ?? 'gpt-test');
      const tools = offeredTools(body);
      const input = (Array.isArray(body.input) ? body.input : []) as InputItem[];
      const lastUser = input.map((x) => x.role).lastIndexOf('user');
      const after = input
        .slice(lastUser + 1)
        .filter((x) => x.type === 'function_call_output' || x.type === 'custom_tool_call_output');
      const done = (prefix: string) => after.some((x) => x.call_id?.startsWith(prefix));
      const n = ++ids;
      const canAct = toolCall(tools, 'write', n) !== null;
      const item: Record<string, unknown> =
        !canAct || done('call_cmd')
          ? {
              type: 'message',
              id: `msg_${n}`,
              role: 'assistant',
              status: 'completed',
              content: [{ type: 'output_text', text: canAct ? SCRIPT_FINAL : 'ok', annotations: [] }],
            }
          : toolCall(tools, done('call_write') ? 'cmd' : 'write', n)!;
      const usage = {
        input_tokens: 200,
        input_tokens_details: { cached_tokens: 50 },
        output_tokens: 30,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: 230,
      };
      const response = {
        id: `resp_${n}`,
        object: 'response',
        created_at: Math.floor(Date.now() / 1000),
        status: 'completed',
        model,
        output: [item],
        usage,
        error: null,
        incomplete_details: null,
      };
      if (!body.stream) return json(res, 200, response);
      let seq = 0;
      const ev = (type: string, data: Record<string, unknown>) => ({
        event: type,
        data: { type, sequence_number: seq++, ...data },
      });
      const events = [
        ev('response.created', { response: { ...response, status: 'in_progress', output: [], usage: null } }),
        ev('response.in_progress', { response: { ...response, status: 'in_progress', output: [], usage: null } }),
        ev('response.output_item.added', {
          output_index: 0,
          item:
            item.type === 'message'
              ? { ...item, status: 'in_progress', content: [] }
              : item.type === 'custom_tool_call'
                ? { ...item, input: '' }
                : { ...item, arguments: '' },
        }),
      ];
      if (item.type === 'message') {
        const text = (item.content as { text: string }[])[0]!.text;
        events.push(
          ev('response.content_part.added', {
            item_id: item.id,
            output_index: 0,
            content_index: 0,
            part: { type: 'output_text', text: '', annotations: [] },
          }),
          ev('response.output_text.delta', { item_id: item.id, output_index: 0, content_index: 0, delta: text }),
          ev('response.output_text.done', { item_id: item.id, output_index: 0, content_index: 0, text }),
          ev('response.content_part.done', {
            item_id: item.id,
            output_index: 0,
            content_index: 0,
            part: { type: 'output_text', text, annotations: [] },
          }),
        );
      } else if (item.type === 'custom_tool_call') {
        events.push(
          ev('response.custom_tool_call_input.delta', { item_id: item.id, output_index: 0, delta: item.input }),
          ev('response.custom_tool_call_input.done', { item_id: item.id, output_index: 0, input: item.input }),
        );
      } else {
        events.push(
          ev('response.function_call_arguments.delta', { item_id: item.id, output_index: 0, delta: item.arguments }),
          ev('response.function_call_arguments.done', { item_id: item.id, output_index: 0, arguments: item.arguments }),
        );
      }
      events.push(ev('response.output_item.done', { output_index: 0, item }), ev('response.completed', { response }));
      sse(res, events);
    },
    (requests) =>
      requests.flatMap((r) =>
        ((Array.isArray(r.body?.input) ? r.body.input : []) as InputItem[])
          .filter((x) => x.role === 'user')
          .map((x) => textOf(x.content)),
      ),
  );
}

// ---- Gemini API (generativelanguage, v1beta) ------------------------------------------------

interface GeminiPart {
  text?: string;
  functionCall?: { name: string; args: unknown };
  functionResponse?: { name: string };
}
interface GeminiContent {
  role?: string;
  parts?: GeminiPart[];
}

/** Starts the Gemini API stand-in on loopback (`generateContent`, `streamGenerateContent?alt=sse`, `countTokens`). */
export function startGeminiStandIn(): Promise<StandIn> {
  return serve(
    (req, body, res, s) => {
      const path = (req.url ?? '').split('?')[0] ?? '';
      if (s.mode === 'unauthorized')
        return json(res, 400, {
          error: { code: 400, message: 'API key not valid. Please pass a valid API key.', status: 'INVALID_ARGUMENT' },
        });
      if (path.endsWith(':countTokens')) return json(res, 200, { totalTokens: 10 });
      const stream = path.endsWith(':streamGenerateContent');
      if (req.method !== 'POST' || !body || (!stream && !path.endsWith(':generateContent')))
        return json(res, 404, { error: { code: 404, message: `no route ${path}`, status: 'NOT_FOUND' } });
      const tools = ((body.tools as { functionDeclarations?: { name: string }[] }[] | undefined) ?? []).flatMap((t) =>
        (t.functionDeclarations ?? []).map((f) => f.name),
      );
      const contents = (body.contents as GeminiContent[] | undefined) ?? [];
      const answered = (contents[contents.length - 1]?.parts ?? []).flatMap((p) =>
        p.functionResponse ? [p.functionResponse.name] : [],
      );
      // The working directory heads the directory listing Gemini CLI sends with the first prompt.
      const listing = /Showing up to \d+ items[^\n]*\n\n(\/[^\n]*?)\/?\n/.exec(
        contents.map((c) => c.parts?.map((p) => p.text ?? '').join('\n') ?? '').join('\n'),
      );
      const dir = listing?.[1] ?? '.';
      let parts: GeminiPart[];
      if (!tools.includes('write_file') || !tools.includes('run_shell_command'))
        parts = [
          {
            text: JSON.stringify({
              reasoning: 'simple',
              model_choice: 'flash',
              complexity_reasoning: 'simple',
              complexity_score: 1,
            }),
          },
        ];
      else if (answered.includes('write_file'))
        parts = [
          {
            functionCall: {
              name: 'run_shell_command',
              args: { command: SCRIPT_COMMAND, description: 'Write ran.txt' },
            },
          },
        ];
      else if (answered.includes('run_shell_command')) parts = [{ text: SCRIPT_FINAL }];
      else
        parts = [{ functionCall: { name: 'write_file', args: { file_path: `${dir}/hello.txt`, content: 'hello\n' } } }];
      const response = {
        candidates: [{ content: { role: 'model', parts }, finishReason: 'STOP', index: 0 }],
        usageMetadata: { promptTokenCount: 40, candidatesTokenCount: 20, totalTokenCount: 60 },
        modelVersion: 'gemini-standin',
      };
      if (!stream) return json(res, 200, response);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`data: ${JSON.stringify(response)}\n\n`);
    },
    (requests) =>
      requests.flatMap((r) =>
        ((r.body?.contents as GeminiContent[] | undefined) ?? [])
          .filter((c) => c.role === 'user')
          .flatMap((c) => (c.parts ?? []).flatMap((p) => (p.text ? [p.text] : []))),
      ),
  );
}
