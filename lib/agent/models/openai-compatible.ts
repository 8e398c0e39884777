import "server-only";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import type { ModelChoice } from "./select";

/**
 * A model behind an OpenAI-compatible chat-completions API: Ollama (http://localhost:11434/v1),
 * LM Studio, vLLM, llama.cpp's server. The agent calls it like Gemini: generateText with the
 * proposal tools, which this provider offers as `tools` of type "function" and reads back from
 * the answer's `tool_calls`. The model must support tool calling.
 */
export interface OpenAICompatibleSettings {
  /** The prefix of /chat/completions, e.g. http://localhost:11434/v1. */
  baseUrl: string;
  /** The model id the server serves (MODEL_NAME). */
  name: string;
  /** Sent as `Authorization: Bearer …` when set; many local servers need none. */
  apiKey?: string;
  /** Replaces fetch for the API (tests). */
  fetch?: typeof fetch;
}

export function openAICompatibleModel({ baseUrl, name, apiKey, fetch }: OpenAICompatibleSettings): ModelChoice {
  const provider = createOpenAICompatible({ name: "openai-compatible", baseURL: baseUrl, ...(apiKey ? { apiKey } : {}), ...(fetch ? { fetch } : {}) });
  return { model: provider.chatModel(name), label: name, kind: "openai-compatible" };
}
