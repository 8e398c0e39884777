import { escapeHtml } from "@/lib/idp/html";

/**
 * A plain page for the end of a sign-in that did not work (the callback is a browser navigation,
 * so it answers with a page, not JSON). Its text comes from a ProtocolError's description.
 */
export function messagePage(status: number, title: string, message: string): Response {
  const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)} · Sleeping Guardian</title>
<style>:root{color-scheme:dark}body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;background:#020617;color:#e2e8f0;font:15px/1.5 system-ui,sans-serif}
main{max-width:460px;margin:16px;padding:24px;border:1px solid #1e293b;border-radius:18px;background:#0f172a}h1{font-size:21px;margin:0 0 8px}p{color:#94a3b8}
a{display:inline-block;margin-top:8px;padding:10px 16px;border-radius:10px;background:#0284c7;color:#fff;font-weight:700;text-decoration:none}a:focus-visible{outline:3px solid #38bdf8;outline-offset:2px}</style></head>
<body><main data-testid="sign-in-problem"><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p><a href="/auth/sign-in">Sign in again</a> <a href="/" style="background:#1e293b">Back to the market</a></main></body></html>`;
  return new Response(body, {
    status,
    headers: {
      "Content-Type": "text/html; charset=utf-8",
      "Cache-Control": "no-store",
      "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
      "Referrer-Policy": "same-origin",
    },
  });
}
