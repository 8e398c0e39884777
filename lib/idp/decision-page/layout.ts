import { escapeHtml as e } from "../html";

/**
 * The frame of every approval page: server-rendered HTML with inline CSS in the app's dark
 * palette, no external assets, and at most one small script (the countdown) allowed by nonce.
 */
export interface PageFrame {
  title: string;
  body: string;
  nonce: string;
  script?: string;
}

const STYLE = `
:root{color-scheme:dark}
*{box-sizing:border-box}
body{margin:0;min-height:100vh;background:radial-gradient(1200px 600px at 50% -200px,#0c1a33 0%,#020617 60%);color:#e2e8f0;
  font:15px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;display:flex;justify-content:center}
.wrap{width:100%;max-width:500px;padding:28px 16px 40px}
.brand{display:flex;align-items:center;gap:8px;font-weight:700;letter-spacing:-.01em;margin-bottom:16px;color:#f8fafc}
.brand svg{width:22px;height:22px;color:#38bdf8}.brand small{font-weight:600;color:#64748b;font-size:12px;text-transform:uppercase;letter-spacing:.08em;margin-left:4px}
.card{background:rgba(15,23,42,.85);border:1px solid #1e293b;border-radius:18px;padding:24px;box-shadow:0 20px 50px -20px rgba(0,0,0,.6)}
.eyebrow{font-size:12px;font-weight:700;letter-spacing:.08em;text-transform:uppercase;color:#38bdf8;margin:0 0 8px}
h1{font-size:23px;line-height:1.25;margin:0 0 8px;color:#f8fafc;letter-spacing:-.01em}
p{margin:0 0 12px}.muted{color:#94a3b8}.small{font-size:13px}
.row{display:flex;align-items:center;justify-content:space-between;gap:12px;flex-wrap:wrap}
.pill{display:inline-flex;align-items:center;gap:6px;border-radius:999px;padding:4px 10px;font-size:13px;font-weight:600;background:#1e293b;color:#cbd5e1}
.pill.time{background:rgba(245,158,11,.12);color:#fbbf24;font-variant-numeric:tabular-nums}
.pill.time.urgent{background:rgba(244,63,94,.15);color:#fda4af}
.side{display:inline-block;border-radius:6px;padding:1px 8px;font-weight:800;font-size:13px;letter-spacing:.04em}
.side.BUY{background:rgba(16,185,129,.15);color:#6ee7b7}.side.SELL{background:rgba(244,63,94,.15);color:#fda4af}
table.order{width:100%;border-collapse:collapse;margin:14px 0 16px}
table.order th{white-space:nowrap;padding-right:12px;text-align:left;font-weight:500;color:#94a3b8;font-size:13px;padding:9px 0;border-bottom:1px solid #1e293b}
table.order td{text-align:right;font-weight:650;color:#f1f5f9;padding:9px 0;border-bottom:1px solid #1e293b;font-variant-numeric:tabular-nums;word-break:break-all}
.code{background:#020617;border:1px dashed #334155;border-radius:12px;padding:12px 14px;margin:0 0 16px}
.code b{display:block;margin-top:2px;font:700 16px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:#f8fafc;word-break:break-word}
ul.perms{margin:0 0 16px;padding-left:18px;color:#cbd5e1;font-size:14px}
label{display:block;font-size:13px;font-weight:600;color:#cbd5e1;margin:12px 0 6px}
input[type=text],input[type=email],input[type=password]{width:100%;background:#020617;border:1px solid #334155;border-radius:10px;padding:11px 12px;color:#f8fafc;font-size:15px}
input:focus{border-color:#38bdf8}
.actions{display:flex;gap:10px;margin-top:18px;flex-wrap:wrap}
.btn{flex:1 1 140px;font-family:inherit;font-size:15px;font-weight:700;line-height:1;padding:14px 18px;border-radius:12px;border:1px solid transparent;cursor:pointer;transition:filter .15s}
.btn:hover{filter:brightness(1.1)}.btn:disabled{opacity:.45;cursor:not-allowed;filter:none}
.btn.primary{background:#0284c7;color:#fff}.btn.approve{background:#059669;color:#fff}
.btn.deny{background:transparent;color:#fda4af;border-color:#9f1239}.btn.deny.preselected{background:#881337;color:#fff}
.btn.approve.preselected{box-shadow:0 0 0 2px #020617,0 0 0 4px #10b981}
:focus-visible{outline:3px solid #38bdf8;outline-offset:2px}
.alert{border-radius:12px;padding:10px 12px;margin:0 0 14px;font-size:14px;background:rgba(136,19,55,.35);border:1px solid #9f1239;color:#fecdd3}
.notice{border-radius:12px;padding:10px 12px;margin:0 0 14px;font-size:14px;background:rgba(3,105,161,.2);border:1px solid #075985;color:#bae6fd}
.result{text-align:center;padding:8px 0}
.result .icon{width:56px;height:56px;border-radius:999px;display:inline-flex;align-items:center;justify-content:center;font-size:28px;font-weight:800;margin-bottom:10px}
.result.approved .icon{background:rgba(16,185,129,.15);color:#34d399}.result.denied .icon{background:rgba(244,63,94,.15);color:#fb7185}
.result.neutral .icon{background:#1e293b;color:#94a3b8}
footer{margin-top:16px;text-align:center;font-size:12px;color:#475569}
`;

const SHIELD = `<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" aria-hidden="true"><path d="M12 3l7 3v6c0 4.5-3 7.7-7 9-4-1.3-7-4.5-7-9V6l7-3z"/><path d="M9 12l2 2 4-4"/></svg>`;

export function renderFrame(frame: PageFrame): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="same-origin"><title>${e(frame.title)} · Sleeping Guardian</title><style>${STYLE}</style></head>
<body><div class="wrap"><div class="brand">${SHIELD}Sleeping Guardian <small>Identity</small></div>
<main class="card">${frame.body}</main>
<footer>Embedded identity server (development) · sign-in and approvals</footer></div>
${frame.script ? `<script nonce="${e(frame.nonce)}">${frame.script}</script>` : ""}</body></html>`;
}

/** Content-Security-Policy for the pages: nothing external, forms post only to this origin. */
export function pageCsp(nonce: string, formTargets: string[] = []): string {
  return [
    "default-src 'none'",
    "style-src 'unsafe-inline'",
    `script-src 'nonce-${nonce}'`,
    // Browsers apply form-action to the redirects after a POST too: a page whose answer sends the
    // browser on to a client's redirect URI names that origin.
    ["form-action 'self'", ...formTargets].join(" "),
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join("; ");
}

/** Live countdown to `data-expires-at`; disables the decision buttons when time is up. */
export const COUNTDOWN_SCRIPT = `(function(){
var el=document.querySelector('[data-testid="countdown"]');if(!el)return;
var end=Date.parse(el.getAttribute('data-expires-at'));var out=el.querySelector('[data-countdown-value]');
function tick(){var s=Math.max(0,Math.round((end-Date.now())/1000));
out.textContent=Math.floor(s/60)+':'+String(s%60).padStart(2,'0');
if(s<=30)el.classList.add('urgent');
if(s<=0){clearInterval(t);out.textContent='expired';
document.querySelectorAll('[data-decision-button]').forEach(function(b){b.disabled=true});
var n=document.querySelector('[data-testid="expired-note"]');if(n)n.hidden=false;}}
var t=setInterval(tick,1000);tick();})();`;
