/**
 * The dashboard page's HTML and CSS: hand-written, no framework. The page
 * loads uPlot (served from the installed `uplot` package), the client script
 * (client.ts) and opens the feed; every URL is relative, so the page works
 * behind a path prefix too.
 *
 * @module
 */

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** What the page links to besides itself. */
export interface PageLinks {
  /** `GET /status` is served. */
  readonly status: boolean
  /** `GET /metrics` is served. */
  readonly metrics: boolean
}

/** The page for `GET /`. */
export function dashboardHtml(title: string, links: PageLinks): string {
  const t = escapeHtml(title)
  const endpoints = [links.status && '<a href="status">/status</a>', links.metrics && '<a href="metrics">/metrics</a>'].filter(Boolean).join(' · ')
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${t}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="dashboard/uplot.css">
<link rel="stylesheet" href="dashboard/app.css">
<script src="dashboard/uplot.js" defer></script>
<script src="dashboard/app.js" defer></script>
</head>
<body>
<header>
<h1>${t}</h1>
<span id="conn" class="conn">connecting…</span>
<span id="loop" class="loop" title="event-loop delay of the thread serving this page, since the previous frame"></span>
</header>
<section id="plots" class="plots"></section>
<main id="objects" class="grid"></main>
<footer>threadstate dashboard · live feed <a href="dashboard/feed">dashboard/feed</a> (Server-Sent Events)${endpoints === '' ? '' : ` · ${endpoints}`}</footer>
</body>
</html>
`
}

/** The page's stylesheet. */
export const DASHBOARD_CSS = `:root { color-scheme: light dark; --bg: #f6f7f9; --card: #fff; --fg: #1d2330; --dim: #6b7280; --line: #e2e5ea;
  --ok: #15803d; --warn: #b45309; --bad: #b91c1c; --accent: #2563eb; }
@media (prefers-color-scheme: dark) { :root { --bg: #111418; --card: #1a1e24; --fg: #e5e7eb; --dim: #9ca3af; --line: #2b313a; } }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.4 system-ui, sans-serif; background: var(--bg); color: var(--fg); }
header { display: flex; gap: 16px; align-items: baseline; padding: 10px 16px; border-bottom: 1px solid var(--line); }
h1 { font-size: 16px; margin: 0; }
.conn { color: var(--warn); } .conn.live { color: var(--ok); }
.loop { color: var(--dim); margin-left: auto; font-variant-numeric: tabular-nums; }
.plots, .grid { display: grid; gap: 12px; padding: 12px 16px; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); }
.plots:empty { display: none; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; min-width: 0; }
.card h2 { font-size: 14px; margin: 0 0 6px; display: flex; gap: 8px; align-items: baseline; }
.kind { font-size: 11px; font-weight: normal; color: var(--dim); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 1px 12px; margin: 0 0 6px; }
dt { color: var(--dim); } dd { margin: 0; font-variant-numeric: tabular-nums; }
.alarm { color: var(--bad); font-weight: 600; } .good { color: var(--ok); font-weight: 600; }
.bar { height: 6px; background: var(--line); border-radius: 3px; overflow: hidden; margin-top: 2px; }
.fill { height: 100%; background: var(--ok); } .fill.over { background: var(--bad); }
.state { font-size: 18px; font-weight: 700; }
.timeline { position: relative; height: 22px; background: var(--line); border-radius: 3px; overflow: hidden; margin: 6px 0 2px; }
.seg { position: absolute; top: 0; bottom: 0; color: #fff; font-size: 11px; line-height: 22px; padding-left: 3px; overflow: hidden; white-space: nowrap; }
.s0 { background: #64748b; } .s1 { background: #2563eb; } .s2 { background: #16a34a; } .s3 { background: #0891b2; }
.s4 { background: #dc2626; } .s5 { background: #9333ea; } .s6 { background: #ca8a04; } .s7 { background: #db2777; }
.axis { display: flex; justify-content: space-between; color: var(--dim); font-size: 11px; }
ol.transitions { margin: 4px 0 0; padding-left: 18px; color: var(--dim); font-size: 12px; }
.error { color: var(--bad); }
footer { padding: 8px 16px 16px; color: var(--dim); }
a { color: var(--accent); }
.uplot { font-family: inherit; }
`
