/**
 * The HTTP side of the WebSocket listeners: static files from `--http-static` and the
 * @culex/client browser bundle at `/culex-client.js`.
 *
 * Path safety: the URL path is percent-decoded once, must not contain NUL or a backslash,
 * is resolved under the root, and the real path (symlinks followed) must stay inside the
 * real root; anything else is 404 (never "403 exists"). Only GET and HEAD are served.
 */
import { createReadStream } from 'node:fs'
import { realpath, stat } from 'node:fs/promises'
import { join, resolve, sep, extname } from 'node:path'
import type { IncomingMessage, ServerResponse } from 'node:http'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm'
}

/** The content type for a file name (application/octet-stream when unknown). */
export function contentType (file: string): string {
  return TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream'
}

/**
 * Map a request URL to a file under `root`, or null when it is not a safe path.
 * Pure: does not touch the file system (symlinks are checked by the caller).
 */
export function resolveUnder (root: string, url: string): string | null {
  const q = url.search(/[?#]/)
  const rawPath = q === -1 ? url : url.slice(0, q)
  let path: string
  try {
    path = decodeURIComponent(rawPath)
  } catch {
    return null
  }
  if (!path.startsWith('/') || path.includes('\0') || path.includes('\\')) return null
  const absRoot = resolve(root)
  const full = resolve(absRoot, '.' + path)
  if (full !== absRoot && !full.startsWith(absRoot + sep)) return null
  return full
}

/** Where the client bundle is; undefined when @culex/client has none. */
export function findClientBundle (): string | undefined {
  try {
    return new URL(import.meta.resolve('@culex/client/browser')).pathname
  } catch {
    return undefined
  }
}

async function sendFile (req: IncomingMessage, res: ServerResponse, file: string, size: number): Promise<void> {
  res.writeHead(200, { 'content-type': contentType(file), 'content-length': size, 'x-content-type-options': 'nosniff' })
  if (req.method === 'HEAD') { res.end(); return }
  await new Promise<void>((resolve) => {
    const s = createReadStream(file)
    s.on('error', () => { res.destroy(); resolve() })
    s.on('end', resolve)
    s.pipe(res)
  })
}

function notFound (res: ServerResponse, status = 404, text = 'Not Found'): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...(status === 405 ? { allow: 'GET, HEAD' } : {}) })
  res.end(text + '\n')
}

/**
 * A request handler for the HTTP(S) server of the WebSocket listeners.
 *
 * @param root - directory to serve, or undefined to serve only `/culex-client.js`
 * @param clientBundle - path of the browser bundle, or undefined
 */
export function createHttpHandler (root: string | undefined, clientBundle: string | undefined): (req: IncomingMessage, res: ServerResponse) => void {
  let realRoot: Promise<string> | undefined
  return (req, res) => {
    (async () => {
      if (req.method !== 'GET' && req.method !== 'HEAD') return notFound(res, 405, 'Method Not Allowed')
      const url = req.url ?? '/'
      if (clientBundle !== undefined && url.split(/[?#]/)[0] === '/culex-client.js') {
        try {
          const st = await stat(clientBundle)
          return await sendFile(req, res, clientBundle, st.size)
        } catch {
          return notFound(res)
        }
      }
      if (root === undefined) return notFound(res)
      const full = resolveUnder(root, url)
      if (full === null) return notFound(res)
      try {
        realRoot ??= realpath(root)
        const base = await realRoot
        let target = await realpath(full)
        let st = await stat(target)
        if (st.isDirectory()) {
          target = await realpath(join(target, 'index.html'))
          st = await stat(target)
        }
        if (!st.isFile() || (target !== base && !target.startsWith(base + sep))) return notFound(res)
        await sendFile(req, res, target, st.size)
      } catch {
        if (!res.headersSent) notFound(res)
      }
    })().catch(() => { res.destroy() })
  }
}
