/**
 * A round-robin TCP proxy on loopback, standing in for the load balancer in front of a
 * cluster: it listens on 127.0.0.1, port 0, and pipes each accepted connection to the next
 * backend in turn (backend i, i+1, …, wrapping), so a client's successive connections land
 * on successive nodes. It never retries another backend: a connection whose backend refuses
 * is closed, as a client would see a dead node behind a plain balancer. `dropAll()` cuts
 * every connection (both sides) at once; `close()` stops listening and cuts them too.
 * Bytes are passed through unchanged; nothing is parsed.
 */
import { connect, createServer, type Socket } from 'node:net'
import type { Teardown } from './proc.ts'

export interface Proxy {
  /** The port it listens on (127.0.0.1). */
  readonly port: number
  /** `mqtt://127.0.0.1:<port>` */
  readonly url: string
  /** The backend ports, in round-robin order; replace entries to move a backend. */
  backends: number[]
  /** The backend port each accepted connection was sent to, in order of arrival. */
  readonly routed: number[]
  /** Connections open now (client side). */
  readonly open: number
  /** Index (in `backends`) of the backend the next connection goes to. */
  next: number
  /** Close every open connection, both sides, now; keep listening. Returns how many were cut. */
  dropAll: () => number
  /** Stop listening and close every open connection. Idempotent. */
  close: () => Promise<void>
}

/**
 * Start a proxy in front of `backends` (ports on 127.0.0.1). With `opts.teardown` it is
 * closed at that test's teardown.
 */
export async function startProxy (backends: number[], opts: { teardown?: Teardown } = {}): Promise<Proxy> {
  if (backends.length === 0) throw new Error('startProxy needs at least one backend port')
  const pairs = new Set<[Socket, Socket]>()
  const routed: number[] = []
  const state = { backends: [...backends], next: 0 }

  const server = createServer((client) => {
    const port = state.backends[state.next % state.backends.length]!
    state.next = (state.next + 1) % state.backends.length
    routed.push(port)
    const upstream = connect(port, '127.0.0.1')
    const pair: [Socket, Socket] = [client, upstream]
    pairs.add(pair)
    // either side ending or failing ends both: no half-open pairs left behind
    const end = (): void => {
      pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as { port: number }).port

  const dropAll = (): number => {
    const n = pairs.size
    for (const [a, b] of pairs) {
      a.destroy()
      b.destroy()
    }
    pairs.clear()
    return n
  }
  let closed: Promise<void> | null = null
  const close = async (): Promise<void> => {
    closed ??= new Promise<void>((resolve) => {
      server.close(() => { resolve() })
      dropAll()
    })
    await closed
  }
  opts.teardown?.teardown(close)
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    get backends () { return state.backends },
    set backends (ports: number[]) { state.backends = [...ports] },
    routed,
    get open () { return pairs.size },
    get next () { return state.next },
    set next (i: number) { state.next = i },
    dropAll,
    close
  }
}
