/**
 * Ports for servers that cannot listen on port 0 and report the port they got (redis-server,
 * mosquitto, haproxy): {@link freePort} asks the OS for one that is free now. Another process
 * may take it before the server binds it, so the starters here retry on a fresh port when the
 * bind fails.
 */
import { connect, createServer } from 'node:net'

/** A TCP port on `host` (default 127.0.0.1) that the OS considers free right now. */
export async function freePort (host = '127.0.0.1'): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.unref()
    s.on('error', reject)
    s.listen(0, host, () => {
      const port = (s.address() as { port: number }).port
      s.close(() => { resolve(port) })
    })
  })
}

/** Whether something accepts a TCP connection on `host:port` now. */
export async function isListening (port: number, host = '127.0.0.1'): Promise<boolean> {
  return await new Promise<boolean>((resolve) => {
    const s = connect(port, host, () => { s.destroy(); resolve(true) })
    s.on('error', () => { resolve(false) })
  })
}

/**
 * Resolves once `host:port` accepts connections; rejects after `timeoutMs` (default 10000),
 * or as soon as `signal` is aborted (the process it waits for is gone: stop polling).
 */
export async function waitForPort (port: number, opts: { host?: string, timeoutMs?: number, signal?: AbortSignal } = {}): Promise<void> {
  const host = opts.host ?? '127.0.0.1'
  const end = Date.now() + (opts.timeoutMs ?? 10_000)
  for (;;) {
    if (opts.signal?.aborted === true) throw new Error(`stopped waiting for ${host}:${port}: the wait was aborted`)
    if (await isListening(port, host)) return
    if (Date.now() > end) throw new Error(`nothing listens on ${host}:${port} after ${opts.timeoutMs ?? 10_000} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
