/**
 * The HTTP side of Mosca's `http` / `https` listeners: MQTT over WebSocket on any path,
 * `bundle: true` → the `@culex/client` browser bundle at `/culex-client.js`, `static: dir` →
 * files from that directory.
 *
 * Path safety: the URL path is percent-decoded once, must not contain NUL or a backslash,
 * is resolved under the root, and its real path (symlinks followed) must stay under the real
 * root; anything else is 404. Only GET and HEAD are served.
 */
import { createReadStream } from 'node:fs'
import { realpath, stat } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { extname, resolve, sep, join } from 'node:path'

/** The URL path of the browser bundle. */
export const BUNDLE_PATH = '/culex-client.js'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.gif': 'image/gif',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8'
}

/** Where the @culex/client browser bundle is; undefined when that package is not installed or built. */
export function findClientBundle (): string | undefined {
  try {
    return new URL(import.meta.resolve('@culex/client/browser')).pathname
  } catch {
    return undefined
  }
}

/** A request URL mapped to a file under `root`, or null when it is not a safe path. */
export function resolveUnder (root: string, url: string): string | null {
  const q = url.search(/[?#]/)
  const raw = q === -1 ? url : url.slice(0, q)
  let path: string
  try {
    path = decodeURIComponent(raw)
  } catch {
    return null
  }
  if (!path.startsWith('/') || path.includes('\0') || path.includes('\\')) return null
  const absRoot = resolve(root)
  const full = resolve(absRoot, '.' + path)
  if (full !== absRoot && !full.startsWith(absRoot + sep)) return null
  return full
}

function reply (res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...(status === 405 ? { allow: 'GET, HEAD' } : {}) })
  res.end(text + '\n')
}

async function sendFile (req: IncomingMessage, res: ServerResponse, file: string, size: number): Promise<void> {
  res.writeHead(200, { 'content-type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream', 'content-length': size, 'x-content-type-options': 'nosniff' })
  if (req.method === 'HEAD') {
    res.end()
    return
  }
  await new Promise<void>((resolve) => {
    const s = createReadStream(file)
    s.on('error', () => { res.destroy(); resolve() })
    s.on('end', resolve)
    s.pipe(res)
  })
}

/** The request handler of an http/https listener. */
export function httpHandler (opts: { bundle: string | undefined, staticDir: string | undefined }): (req: IncomingMessage, res: ServerResponse) => void {
  const realRoot = opts.staticDir === undefined ? undefined : realpath(opts.staticDir).catch(() => undefined)
  return (req, res) => {
    serve(req, res, opts.bundle, opts.staticDir, realRoot).catch(() => {
      if (!res.headersSent) reply(res, 500, 'Internal Server Error')
      else res.destroy()
    })
  }
}

async function serve (req: IncomingMessage, res: ServerResponse, bundle: string | undefined, root: string | undefined, realRoot: Promise<string | undefined> | undefined): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    reply(res, 405, 'Method Not Allowed')
    return
  }
  const url = req.url ?? '/'
  const path = url.split(/[?#]/, 1)[0]
  if (bundle !== undefined && path === BUNDLE_PATH) {
    const st = await stat(bundle).catch(() => null)
    if (st === null) {
      reply(res, 404, 'Not Found')
      return
    }
    await sendFile(req, res, bundle, st.size)
    return
  }
  if (root === undefined || realRoot === undefined) {
    reply(res, 404, 'Not Found')
    return
  }
  let file = resolveUnder(root, url)
  const rr = await realRoot
  if (file === null || rr === undefined) {
    reply(res, 404, 'Not Found')
    return
  }
  let st = await stat(file).catch(() => null)
  if (st?.isDirectory() === true) {
    file = join(file, 'index.html')
    st = await stat(file).catch(() => null)
  }
  if (st === null || !st.isFile()) {
    reply(res, 404, 'Not Found')
    return
  }
  const real = await realpath(file).catch(() => null)
  if (real === null || (real !== rr && !real.startsWith(rr + sep))) {
    reply(res, 404, 'Not Found')
    return
  }
  await sendFile(req, res, real, st.size)
}
