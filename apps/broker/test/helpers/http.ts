// HTTP requests for the operator listener tests (node:http, so a test sees every status,
// including answers sent before the request body was read).
import http from 'node:http'

export interface Reply {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
  json: () => any
}

export interface RequestOptions {
  method?: string
  /** `user:password` for HTTP Basic, or `Bearer <token>` as is. */
  auth?: string
  body?: string | Buffer
  headers?: Record<string, string>
}

export function request (port: number, path: string, opts: RequestOptions = {}): Promise<Reply> {
  const headers: Record<string, string | number> = { ...opts.headers }
  if (opts.auth !== undefined) {
    headers.authorization = opts.auth.startsWith('Bearer ') ? opts.auth : 'Basic ' + Buffer.from(opts.auth).toString('base64')
  }
  if (opts.body !== undefined) headers['content-length'] = Buffer.byteLength(opts.body)
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8')
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) })
      })
      res.on('error', reject)
    })
    req.setTimeout(5000, () => req.destroy(new Error(`no answer to ${opts.method ?? 'GET'} ${path} in 5 s`)))
    // an early answer (413) may close the socket while the body is still being written
    req.on('error', (err) => { if (!req.writableFinished) return; reject(err) })
    req.on('close', () => { if (!req.writableFinished) reject(new Error('request closed before it was sent')) })
    req.end(opts.body)
  })
}
