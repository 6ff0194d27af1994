/**
 * The web console's files: `GET /` is its page, `GET /console/app.js|app.css` its bundle
 * (preact, htm and uPlot, built into dist/console at build time: it works offline). The page
 * itself is public (it asks for the credentials); everything it shows comes from the admin
 * API and REST routes, which check them.
 */
import { readFileSync, existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join, dirname } from 'node:path'
import type { IncomingMessage, ServerResponse } from 'node:http'

const FILES: Record<string, [file: string, type: string]> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/console/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/console/app.css': ['app.css', 'text/css; charset=utf-8']
}

/** dist/console next to the running code (dist/cli.js), or the built one when run from src. */
function consoleDir (): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url))
  for (const dir of [join(here, 'console'), join(here, '..', 'dist', 'console')]) {
    if (existsSync(join(dir, 'app.js'))) return dir
  }
  return undefined
}

/**
 * The console's request handler (true when it answered), or undefined when the console was
 * not built (the listener then answers 404 for it).
 */
export function createConsoleHandler (): ((req: IncomingMessage, res: ServerResponse, pathname: string) => boolean) | undefined {
  const dir = consoleDir()
  if (dir === undefined) return undefined
  const cache = new Map<string, Buffer>()
  return (_req, res, pathname) => {
    const entry = FILES[pathname]
    if (entry === undefined) return false
    let body = cache.get(entry[0])
    if (body === undefined) {
      try {
        body = readFileSync(join(dir, entry[0]))
      } catch {
        return false
      }
      cache.set(entry[0], body)
    }
    res.writeHead(200, {
      'content-type': entry[1],
      'content-length': body.length,
      'cache-control': 'no-cache',
      // everything is served from here: no CDN, no inline script
      'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
      'x-content-type-options': 'nosniff'
    })
    res.end(body)
    return true
  }
}
