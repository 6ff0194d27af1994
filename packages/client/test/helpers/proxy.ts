/**
 * A TCP pass-through between the client and the broker, so tests can cut every
 * connection mid-flow (`cut()`) the way a network failure would. It forwards bytes only;
 * TLS and WebSocket pass through it unchanged.
 */
import { createServer, connect, type Socket } from 'node:net'

export interface Proxy {
  port: number
  /** Destroys every open connection (both sides). */
  cut: () => void
  /** Number of connections accepted so far. */
  accepted: () => number
  close: () => Promise<void>
}

export async function startProxy (t: { teardown: (fn: () => unknown) => void }, target: () => number): Promise<Proxy> {
  const open = new Set<Socket>()
  let accepted = 0
  const server = createServer((client) => {
    accepted++
    const upstream = connect(target(), '127.0.0.1')
    open.add(client)
    open.add(upstream)
    client.setNoDelay(true)
    upstream.setNoDelay(true)
    client.pipe(upstream)
    upstream.pipe(client)
    const done = (): void => {
      client.destroy()
      upstream.destroy()
      open.delete(client)
      open.delete(upstream)
    }
    client.on('error', done)
    upstream.on('error', done)
    client.on('close', done)
    upstream.on('close', done)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const close = async (): Promise<void> => {
    for (const s of open) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  t.teardown(close)
  return {
    port: (server.address() as { port: number }).port,
    cut: () => { for (const s of open) s.destroy() },
    accepted: () => accepted,
    close
  }
}
