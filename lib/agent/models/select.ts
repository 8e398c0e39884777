import "server-only";
import { createGoogleGenerativeAI } from "@ai-sdk/google";
import type { LanguageModelV3 } from "@ai-sdk/provider";
import type { AppConfig } from "../../config";
import { announceDevDefault, assertDevDefaultAllowed } from "../../dev-defaults";
import { openAICompatibleModel } from "./openai-compatible";
import { createRulesModel, RULES_MODEL_ID } from "./rules-model";

/**
 * The agent's model, as config.model.provider says (lib/config.ts resolves MODEL_PROVIDER):
 * Gemini through @ai-sdk/google, a model behind an OpenAI-compatible API (Ollama, LM Studio, vLLM,
 * llama.cpp) through @ai-sdk/openai-compatible, or the built-in rules model (a development
 * default). All are AI SDK language models, so the agent calls them the same way, and code holds
 * whatever they propose against the mandate.
 */
export interface ModelChoice {
  model: LanguageModelV3;
  /** What the dashboard shows: "rules" or the model's name. */
  label: string;
  kind: "rules" | "gemini" | "openai-compatible";
}

export interface ModelOptions {
  /** Replaces fetch for the model's API (tests replay a recorded exchange through it). */
  fetch?: typeof fetch;
}

export function selectModel(config: AppConfig, options: ModelOptions = {}): ModelChoice {
  const { provider, name, googleApiKey, openaiCompatible } = config.model;
  if (provider === "gemini" && googleApiKey) return geminiModel(googleApiKey, name, options.fetch);
  if (provider === "openai-compatible" && openaiCompatible) {
    // The URL names no secret (lib/config.ts refuses credentials in it); the key is never printed.
    console.log(`[agent] model ${name} at ${openaiCompatible.baseUrl} (OpenAI-compatible${openaiCompatible.apiKey ? ", with an API key" : ""})`);
    return openAICompatibleModel({ ...openaiCompatible, name, fetch: options.fetch });
  }
  assertDevDefaultAllowed(config, "The built-in rules model (no GOOGLE_GENERATIVE_AI_API_KEY or OPENAI_BASE_URL)");
  announceDevDefault(
    "rules-model",
    "The agent uses the built-in deterministic rules model: set GOOGLE_GENERATIVE_AI_API_KEY (Gemini) or OPENAI_BASE_URL and MODEL_NAME (an OpenAI-compatible server such as Ollama) to let a model make the recommendation.",
  );
  return { model: createRulesModel(), label: RULES_MODEL_ID, kind: "rules" };
}

export function geminiModel(apiKey: string, name: string, fetchImpl?: typeof fetch): ModelChoice {
  const google = createGoogleGenerativeAI({ apiKey, ...(fetchImpl ? { fetch: fetchImpl } : {}) });
  return { model: google(name), label: name, kind: "gemini" };
}
