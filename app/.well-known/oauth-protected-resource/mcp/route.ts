import { getConfig } from "@/lib/config";
import { protectedResourceMetadataResponse } from "@/mcp/metadata";

export const dynamic = "force-dynamic";

/** RFC 9728 protected resource metadata for /mcp (the URL the 401 challenge points to). */
export function GET(): Promise<Response> {
  return protectedResourceMetadataResponse(getConfig());
}
