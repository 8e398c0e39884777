import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * An OpenAI-compatible chat-completions server on loopback: the wire format of Ollama, LM Studio,
 * vLLM and llama.cpp's server, as @ai-sdk/openai-compatible speaks it. The client POSTs
 * `{base}/chat/completions` with `model`, `messages` and `tools` (each `{type: "function",
 * function: {name, description, parameters}}`); the answer is one choice whose `message` has
 * `content`, or `tool_calls` whose `function.arguments` is a JSON *string*. A tool's result comes
 * back as a `{role: "tool", tool_call_id, content}` message. `reply` decides each answer from the
 * request; every request is recorded as it arrived (headers included).
 */
export interface ChatToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export interface ChatMessage {
  role: "system" | "user" | "assistant" | "tool";
  content: string | null;
  tool_calls?: ChatToolCall[];
  tool_call_id?: string;
}

export interface ChatTool {
  type: "function";
  function: { name: string; description?: string; parameters: { type?: string; properties?: Record<string, { type?: string }>; required?: string[] } };
}

export interface ChatBody {
  model: string;
  messages: ChatMessage[];
  tools?: ChatTool[];
  tool_choice?: unknown;
  temperature?: number;
  stream?: boolean;
}

export interface ChatRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: ChatBody;
}

export interface ChatAnswer {
  status?: number;
  body: unknown;
}

export interface ChatCompletionsServer {
  /** The OPENAI_BASE_URL to configure: http://127.0.0.1:{port}/v1. */
  baseUrl: string;
  requests: ChatRequest[];
  close(): Promise<void>;
}

const MAX_BODY = 1024 * 1024;

export async function startChatCompletionsServer(reply: (body: ChatBody, request: ChatRequest) => ChatAnswer | Promise<ChatAnswer>): Promise<ChatCompletionsServer> {
  const requests: ChatRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on("end", () => {
      void (async () => {
        const path = req.url ?? "";
        if (req.method !== "POST" || path !== "/v1/chat/completions") return send(res, errorAnswer(404, `no route ${req.method} ${path}`));
        if (size > MAX_BODY) return send(res, errorAnswer(413, "request too large"));
        let body: ChatBody;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as ChatBody;
        } catch {
          return send(res, errorAnswer(400, "the body is not JSON"));
        }
        const request = { method: req.method, path, headers: req.headers, body };
        requests.push(request);
        try {
          send(res, await reply(body, request));
        } catch (error) {
          send(res, errorAnswer(500, `the test server failed: ${(error as Error).message}`));
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function send(res: http.ServerResponse, answer: ChatAnswer): void {
  const json = JSON.stringify(answer.body);
  res.writeHead(answer.status ?? 200, { "content-type": "application/json", "content-length": Buffer.byteLength(json) });
  res.end(json);
}

let sequence = 0;

function completion(message: Record<string, unknown>, finishReason: string): ChatAnswer {
  sequence += 1;
  return {
    body: {
      id: `chatcmpl-${sequence}`,
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model: "served-model",
      choices: [{ index: 0, message: { role: "assistant", ...message }, finish_reason: finishReason }],
      usage: { prompt_tokens: 300, completion_tokens: 20, total_tokens: 320 },
    },
  };
}

/** The model calls one tool. `args` is sent as given when a string (so it may be broken JSON). */
export function toolCallAnswer(name: string, args: string | Record<string, unknown>, id = `call_${Math.random().toString(36).slice(2, 10)}`): ChatAnswer {
  const call: ChatToolCall = { id, type: "function", function: { name, arguments: typeof args === "string" ? args : JSON.stringify(args) } };
  return completion({ content: null, tool_calls: [call] }, "tool_calls");
}

export function textAnswer(text: string): ChatAnswer {
  return completion({ content: text }, "stop");
}

/** An error in the OpenAI error format. */
export function errorAnswer(status: number, message: string): ChatAnswer {
  return { status, body: { error: { message, type: status >= 500 ? "server_error" : "invalid_request_error", code: null } } };
}

/** Answers in order, one per request; a request past the script gets a 500. */
export function scripted(answers: ChatAnswer[]): (body: ChatBody) => ChatAnswer {
  return () => answers.shift() ?? errorAnswer(500, "no more scripted answers");
}

/** The tool results the model has been sent so far, by tool name (matched through tool_call_id). */
export function toolResultsIn(body: ChatBody): { name: string; content: string }[] {
  const names = new Map<string, string>();
  for (const m of body.messages) for (const c of m.tool_calls ?? []) names.set(c.id, c.function.name);
  return body.messages.filter((m) => m.role === "tool").map((m) => ({ name: names.get(m.tool_call_id ?? "") ?? "?", content: m.content ?? "" }));
}
