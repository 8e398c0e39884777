import { getConfig } from "@/lib/config";
import { protectedResourceMetadataResponse } from "@/mcp/metadata";

export const dynamic = "force-dynamic";

/** The same document at the root well-known path, for clients that probe the origin first. */
export function GET(): Promise<Response> {
  return protectedResourceMetadataResponse(getConfig());
}
