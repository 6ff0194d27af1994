/**
 * A scripted MQTT 5 client for in-process cluster tests: it talks to a `Broker` over an
 * in-memory stream pair, encoding and decoding with @culex/packet, so every PUBACK, PUBREC,
 * PUBREL and PUBCOMP is under the test's control.
 */
import { Duplex } from 'node:stream'
import type { Broker } from '@culex/broker'
import { Parser, encode, type Packet } from '@culex/packet'

export type P = Packet & Record<string, any>

function duplexPair (): [Duplex, Duplex] {
  const make = (peer: () => Duplex): Duplex => new Duplex({
    read () {},
    write (chunk, _enc, cb) { peer().push(chunk); cb() },
    final (cb) { peer().push(null); cb() }
  })
  const a: Duplex = make(() => b)
  const b: Duplex = make(() => a)
  return [a, b]
}

/** A scripted MQTT 5 client on a broker. */
export class Client {
  readonly received: P[] = []
  closed = false
  readonly #stream: Duplex
  #waiters: Array<() => void> = []
  constructor (broker: Broker) {
    const [srv, cli] = duplexPair()
    this.#stream = cli
    const parser = new Parser({ protocolVersion: 5, onPacket: (p) => { this.received.push(p as P); this.#wake() } })
    cli.on('data', (chunk: Buffer) => { parser.parse(chunk) })
    cli.on('end', () => { this.closed = true; this.#wake() })
    cli.on('close', () => { this.closed = true; this.#wake() })
    broker.handle(srv, { transport: 'other', remoteAddress: '127.0.0.1' })
  }

  #wake (): void {
    for (const w of this.#waiters.splice(0)) w()
  }

  send (p: Record<string, unknown>): void {
    this.#stream.write(encode(p as unknown as Packet, 5))
  }

  /** Wait until `ok()` holds (false after `ms`). */
  async until (ok: () => boolean, ms = 5000): Promise<boolean> {
    const end = Date.now() + ms
    while (!ok()) {
      const left = end - Date.now()
      if (left <= 0) return false
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 50))
        this.#waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
    return true
  }

  async next (cmd: string, ms = 5000): Promise<P> {
    let found: P | undefined
    await this.until(() => (found = this.received.find((p) => p.cmd === cmd)) !== undefined, ms)
    if (found === undefined) throw new Error(`no ${cmd} within ${ms} ms; got ${this.received.map((p) => p.cmd).join(',')}${this.closed ? ' (closed)' : ''}`)
    this.received.splice(this.received.indexOf(found), 1)
    return found
  }

  async connect (clientId: string, clean: boolean, expiry = 300): Promise<P> {
    this.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId, clean, keepalive: 0, properties: { sessionExpiryInterval: expiry } })
    return await this.next('connack', 15_000)
  }

  /** The socket goes away without DISCONNECT (the broker sees its end). */
  destroy (): void {
    this.closed = true
    this.#stream.end()
  }
}
