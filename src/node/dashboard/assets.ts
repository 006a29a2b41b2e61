/**
 * The dashboard's static files: the page (page.ts), its script (client.ts)
 * and uPlot's script and stylesheet, read from the installed `uplot`
 * package (a dependency of threadstate: no CDN, works offline). Each is
 * encoded once, on first request, and served with its content type,
 * `x-content-type-options: nosniff` and, for the page, a Content Security
 * Policy that allows scripts, styles and connections to this origin only.
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { DASHBOARD_JS } from './client.js'
import { DASHBOARD_CSS, dashboardHtml, type PageLinks } from './page.js'

/** Headers of every response of the status server. */
export const COMMON_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
}

/**
 * The page's Content Security Policy: its own scripts, styles and feed only;
 * no inline script or style element, no framing, no form posts.
 * (uPlot sets element styles through the CSSOM, which a CSP allows.)
 */
export const DASHBOARD_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/** Paths of the dashboard's files, as served. */
export const DashboardPath = {
  /** The page (page.ts). */
  PAGE: '/',
  /** Its script (client.ts). */
  SCRIPT: '/dashboard/app.js',
  /** Its stylesheet (page.ts). */
  STYLE: '/dashboard/app.css',
  /** uPlot's script, from the installed package. */
  UPLOT_SCRIPT: '/dashboard/uplot.js',
  /** uPlot's stylesheet, from the installed package. */
  UPLOT_STYLE: '/dashboard/uplot.css',
  /** The Server-Sent Events feed (feed.ts). */
  FEED: '/dashboard/feed',
} as const

interface Asset {
  readonly type: string
  readonly body: () => string | Buffer
}

const JS = 'text/javascript; charset=utf-8'
const CSS = 'text/css; charset=utf-8'

const require_ = createRequire(import.meta.url)
/** A file of the installed uplot package. */
const uplotFile = (name: string) => (): Buffer => readFileSync(require_.resolve(`uplot/dist/${name}`))

/** Serves the dashboard's files; `handles(path)` says whether a path is one. */
export class DashboardAssets {
  private readonly assets: ReadonlyMap<string, Asset>
  private readonly cache = new Map<string, Buffer>()

  /** @param title the page's title (escaped); @param links which other endpoints the page links to */
  constructor(title: string, links: PageLinks) {
    this.assets = new Map<string, Asset>([
      [DashboardPath.PAGE, { type: 'text/html; charset=utf-8', body: () => dashboardHtml(title, links) }],
      [DashboardPath.SCRIPT, { type: JS, body: () => DASHBOARD_JS }],
      [DashboardPath.STYLE, { type: CSS, body: () => DASHBOARD_CSS }],
      [DashboardPath.UPLOT_SCRIPT, { type: JS, body: uplotFile('uPlot.iife.min.js') }],
      [DashboardPath.UPLOT_STYLE, { type: CSS, body: uplotFile('uPlot.min.css') }],
    ])
  }

  /** Whether `path` is one of the files. */
  handles(path: string): boolean {
    return this.assets.has(path)
  }

  /** Answers a GET or HEAD of one of the files (`handles(path)` was true). */
  serve(path: string, req: IncomingMessage, res: ServerResponse): void {
    const asset = this.assets.get(path)!
    let body = this.cache.get(path)
    if (body === undefined) {
      try {
        const raw = asset.body()
        body = typeof raw === 'string' ? Buffer.from(raw) : raw
      } catch (error) {
        res.writeHead(500, { ...COMMON_HEADERS, 'content-type': 'text/plain; charset=utf-8' }).end(`dashboard file ${path} unavailable: ${(error as Error).message}\n`)
        return
      }
      this.cache.set(path, body)
    }
    const headers: Record<string, string | number> = {
      ...COMMON_HEADERS,
      'content-type': asset.type,
      'content-length': body.length,
      'cache-control': 'no-cache',
    }
    if (path === DashboardPath.PAGE) headers['content-security-policy'] = DASHBOARD_CSP
    res.writeHead(200, headers).end(req.method === 'HEAD' ? undefined : body)
  }
}
