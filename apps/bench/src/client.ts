/**
 * BenchClient: one MQTT 3.1.1 connection of the load generator.
 *
 * Receive path: frames are found by their fixed header (FrameScanner) and counted; only
 * what is needed is read in place (packet ids to acknowledge, the payload offset when a
 * scenario asks for it). Acknowledgements produced while handling one TCP chunk are written
 * as one buffer. Writes the handlers make during a chunk are corked together.
 *
 * Failure: every wait has a timeout. Once connected, a close the generator did not ask for
 * (or a malformed frame) is reported through `onFatal` with the broker address and client id.
 */
import net from 'node:net'
import { BenchError, BenchErrorCode } from './errors.ts'
import { FrameScanner } from './scanner.ts'
import { DISCONNECT, PINGREQ, T, encodeConnect, encodeSubscribe, writeAck } from './wire.ts'

/** Options of {@link BenchClient.connect}. */
export interface ClientOptions {
  host: string
  port: number
  clientId: string
  /** Clean session. Default true. */
  clean?: boolean
  /** Seconds to wait for TCP connect + CONNACK, and later for SUBACK. */
  timeout: number
  /** Called once if the connection fails after CONNACK without close() being called. */
  onFatal: (err: BenchError) => void
}

interface Waiter {
  resolve: (body: Buffer) => void
  reject: (err: BenchError) => void
  timer: NodeJS.Timeout
}

const live = new Set<BenchClient>()
let pinger: NodeJS.Timeout | null = null

function startPinger (): void {
  if (pinger !== null) return
  // keepalive is 60 s; a PINGREQ every 30 s keeps long storms/holds alive
  pinger = setInterval(() => {
    for (const c of live) c.socket.write(PINGREQ)
  }, 30000)
  pinger.unref()
}

export class BenchClient {
  readonly id: string
  readonly where: string
  readonly socket: net.Socket
  /** PUBLISH packets received. */
  received = 0
  /** Of those, with the retain flag set. */
  retainedReceived = 0
  /** Optional per-PUBLISH hook: payload is buf[start..end). Keep it cheap. */
  onPublish: ((buf: Buffer, start: number, end: number) => void) | null = null
  /** Optional hook for PUBACK (QoS 1) and PUBCOMP (QoS 2) with the packet id. */
  onAck: ((type: number, packetId: number) => void) | null = null

  readonly #timeoutMs: number
  readonly #onFatal: (err: BenchError) => void
  readonly #scanner: FrameScanner
  readonly #waiters = new Map<number, Waiter>()
  #ackBuf = Buffer.allocUnsafe(8192)
  #ackLen = 0
  #closing = false
  #connected = false
  #nextSubId = 1

  private constructor (socket: net.Socket, opts: ClientOptions) {
    this.socket = socket
    this.id = opts.clientId
    this.where = `${opts.host}:${opts.port}`
    this.#timeoutMs = opts.timeout * 1000
    this.#onFatal = opts.onFatal
    this.#scanner = new FrameScanner(this.#frame, (msg) => {
      this.#fail(new BenchError(BenchErrorCode.protocol, `malformed frame from broker at ${this.where} (client ${this.id}): ${msg}`))
    })
  }

  /**
   * Opens a TCP connection, sends CONNECT and waits for CONNACK.
   * @throws BenchError BENCH_ERR_UNREACHABLE, BENCH_ERR_TIMEOUT or BENCH_ERR_REFUSED
   */
  static connect (opts: ClientOptions): Promise<BenchClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: opts.host, port: opts.port })
      socket.setNoDelay(true)
      const client = new BenchClient(socket, opts)
      const where = client.where
      let settled = false
      const timer = setTimeout(() => {
        if (settled) return
        settled = true
        socket.destroy()
        reject(new BenchError(BenchErrorCode.timeout, `no CONNACK from broker at ${where} within ${opts.timeout} s (client ${opts.clientId})`))
      }, opts.timeout * 1000)
      const early = (err: Error): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        socket.destroy()
        reject(new BenchError(BenchErrorCode.unreachable, `cannot reach broker at ${where}: ${(err as NodeJS.ErrnoException).code ?? err.message} (client ${opts.clientId})`, { cause: err }))
      }
      socket.once('error', early)
      socket.once('close', () => {
        if (!client.#connected) early(new Error('connection closed before CONNACK'))
        else client.#closed()
      })
      socket.on('data', client.#onData)
      socket.once('connect', () => {
        socket.write(encodeConnect({ clientId: opts.clientId, clean: opts.clean ?? true, keepalive: 60 }))
      })
      client.#waiters.set(T.connack, {
        timer,
        reject: (err) => { if (!settled) { settled = true; clearTimeout(timer); socket.destroy(); reject(err) } },
        resolve: (body) => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          const rc = body[1] as number
          if (rc !== 0) {
            socket.destroy()
            reject(new BenchError(BenchErrorCode.refused, `broker at ${where} refused CONNECT of client ${opts.clientId}: return code ${rc}`))
            return
          }
          client.#connected = true
          socket.removeListener('error', early)
          socket.on('error', (err) => client.#fail(new BenchError(BenchErrorCode.disconnected, `connection of client ${client.id} to broker at ${where} failed: ${(err as NodeJS.ErrnoException).code ?? err.message}`, { cause: err })))
          live.add(client)
          startPinger()
          resolve(client)
        }
      })
    })
  }

  /**
   * Subscribes to filters at `qos` and waits for SUBACK.
   * @throws BenchError BENCH_ERR_TIMEOUT, BENCH_ERR_REFUSED (a filter was rejected with 0x80)
   */
  async subscribe (filters: string | readonly string[], qos: 0 | 1 | 2): Promise<void> {
    const list = typeof filters === 'string' ? [filters] : filters
    const id = this.#nextSubId++
    const body = await this.#expect(T.suback, `SUBACK for ${list.join(', ')}`, () => {
      this.socket.write(encodeSubscribe(id, list, qos))
    })
    for (let i = 2; i < body.length; i++) {
      if (body[i] === 0x80) throw new BenchError(BenchErrorCode.refused, `broker at ${this.where} rejected subscription ${list[i - 2] ?? '?'} of client ${this.id} (0x80)`)
    }
  }

  /** Writes bytes (already encoded). Returns socket.write's backpressure signal. */
  write (buf: Buffer): boolean {
    return this.socket.write(buf)
  }

  /** Sends DISCONNECT, ends the socket and waits (at most 1 s) for it to close. Never fails. */
  close (): Promise<void> {
    this.#closing = true
    live.delete(this)
    for (const w of this.#waiters.values()) clearTimeout(w.timer)
    this.#waiters.clear()
    const s = this.socket
    if (s.destroyed) return Promise.resolve()
    return new Promise((resolve) => {
      const t = setTimeout(() => { s.destroy(); resolve() }, 1000)
      s.once('close', () => { clearTimeout(t); resolve() })
      s.on('error', () => {})
      s.end(DISCONNECT)
    })
  }

  /** Closes at once without DISCONNECT (the broker sees a network failure). */
  destroy (): void {
    this.#closing = true
    live.delete(this)
    for (const w of this.#waiters.values()) clearTimeout(w.timer)
    this.#waiters.clear()
    this.socket.destroy()
  }

  #expect (type: number, what: string, send: () => void): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(type)
        reject(new BenchError(BenchErrorCode.timeout, `no ${what} from broker at ${this.where} within ${this.#timeoutMs / 1000} s (client ${this.id})`))
      }, this.#timeoutMs)
      this.#waiters.set(type, { resolve, reject, timer })
      send()
    })
  }

  #closed (): void {
    live.delete(this)
    if (this.#closing) return
    this.#fail(new BenchError(BenchErrorCode.disconnected, `broker at ${this.where} closed the connection of client ${this.id}`))
  }

  #fail (err: BenchError): void {
    if (this.#closing) return
    this.#closing = true
    live.delete(this)
    for (const w of this.#waiters.values()) { clearTimeout(w.timer); w.reject(err) }
    this.#waiters.clear()
    this.socket.destroy()
    if (this.#connected) this.#onFatal(err)
  }

  readonly #onData = (chunk: Buffer): void => {
    const s = this.socket
    s.cork()
    this.#scanner.push(chunk)
    this.#flushAcks()
    s.uncork()
  }

  #flushAcks (): void {
    if (this.#ackLen === 0) return
    // copy: the ack buffer is reused for the next chunk while this write may be pending
    this.socket.write(Buffer.from(this.#ackBuf.subarray(0, this.#ackLen)))
    this.#ackLen = 0
  }

  #queueAck (type: number, packetId: number): void {
    if (this.#ackLen + 4 > this.#ackBuf.length) this.#flushAcks()
    this.#ackLen = writeAck(this.#ackBuf, this.#ackLen, type, packetId)
  }

  readonly #frame = (type: number, flags: number, buf: Buffer, start: number, end: number): void => {
    switch (type) {
      case T.publish: {
        this.received++
        if ((flags & 1) === 1) this.retainedReceived++
        const qos = (flags >> 1) & 3
        if (qos === 0 && this.onPublish === null) return
        let p = start + 2 + (((buf[start] as number) << 8) | (buf[start + 1] as number))
        if (qos > 0) {
          this.#queueAck(qos === 1 ? T.puback : T.pubrec, ((buf[p] as number) << 8) | (buf[p + 1] as number))
          p += 2
        }
        if (this.onPublish !== null) this.onPublish(buf, p, end)
        return
      }
      case T.puback:
      case T.pubcomp:
        if (this.onAck !== null) this.onAck(type, ((buf[start] as number) << 8) | (buf[start + 1] as number))
        return
      case T.pubrec:
        this.#queueAck(T.pubrel, ((buf[start] as number) << 8) | (buf[start + 1] as number))
        return
      case T.pubrel:
        this.#queueAck(T.pubcomp, ((buf[start] as number) << 8) | (buf[start + 1] as number))
        return
      case T.connack:
      case T.suback: {
        const w = this.#waiters.get(type)
        if (w === undefined) return
        this.#waiters.delete(type)
        clearTimeout(w.timer)
        w.resolve(buf.subarray(start, end))
        break
      }
      default:
        // PINGRESP, UNSUBACK and anything else: nothing to do
    }
  }
}
