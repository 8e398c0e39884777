import "server-only";
import { createGoogleGenerativeAI } from "@ai-sdk/google";
import type { LanguageModelV3 } from "@ai-sdk/provider";
import type { AppConfig } from "../../config";
import { announceDevDefault, assertDevDefaultAllowed } from "../../dev-defaults";
import { createRulesModel, RULES_MODEL_ID } from "./rules-model";

/**
 * The agent's model: Gemini through @ai-sdk/google when GOOGLE_GENERATIVE_AI_API_KEY is set,
 * otherwise the built-in rules model (a development default). Both are AI SDK language models,
 * so the agent calls them the same way.
 */
export interface ModelChoice {
  model: LanguageModelV3;
  /** What the dashboard shows: "rules" or the Gemini model name. */
  label: string;
  kind: "rules" | "gemini";
}

export interface ModelOptions {
  /** Replaces fetch for the Gemini API (tests replay a recorded exchange through it). */
  fetch?: typeof fetch;
}

export function selectModel(config: AppConfig, options: ModelOptions = {}): ModelChoice {
  const key = config.model.googleApiKey;
  if (key) return geminiModel(key, config.model.name, options.fetch);
  assertDevDefaultAllowed(config, "The built-in rules model (no GOOGLE_GENERATIVE_AI_API_KEY)");
  announceDevDefault(
    "rules-model",
    "The agent uses the built-in deterministic rules model: set GOOGLE_GENERATIVE_AI_API_KEY to let Gemini make the recommendation.",
  );
  return { model: createRulesModel(), label: RULES_MODEL_ID, kind: "rules" };
}

export function geminiModel(apiKey: string, name: string, fetchImpl?: typeof fetch): ModelChoice {
  const google = createGoogleGenerativeAI({ apiKey, ...(fetchImpl ? { fetch: fetchImpl } : {}) });
  return { model: google(name), label: name, kind: "gemini" };
}
