/**
 * PROXY protocol v1 (text) and v2 (binary), as sent by HAProxy (`send-proxy`,
 * `send-proxy-v2`) and cloud load balancers in front of the TCP and TLS listeners.
 *
 * {@link ProxyHeaderParser} is a pure, incremental parser: feed it socket chunks in any split;
 * it answers `more`, then exactly one `done` (header + the bytes after it) or one `error`,
 * and stays in that state. It never throws and buffers at most {@link V1_MAX_LENGTH} bytes
 * (v1) or 16 + `maxV2Length` bytes (v2) before deciding.
 *
 * {@link proxyProtocol} wraps the listeners' connection handlers: with the option off it
 * only passes the socket's own address on; with it on it reads the header from the raw
 * socket (under a timeout), closes and logs once any connection whose header is missing or
 * malformed, and hands the bytes after it on by `unshift` into the same socket — for TLS
 * (the PROXY header precedes the handshake, as with HAProxy `send-proxy` in front of a TLS
 * port) before a server `TLSSocket` takes over the socket's handle, which first reads what
 * is buffered; after the handshake, TLS runs on the native handle as on a `tls.Server`.
 * A LOCAL command (a proxy's own health check) or an UNKNOWN / AF_UNSPEC / AF_UNIX address
 * keeps the socket's own address.
 */
import net from 'node:net'
import tls from 'node:tls'
import type { Logger } from 'pino'

/** Longest v1 header, CRLF included (spec §2.1). */
export const V1_MAX_LENGTH = 107
/** The 12-byte v2 signature (spec §2.2). */
export const V2_SIGNATURE = Buffer.from([0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A])
const V1_PREFIX = Buffer.from('PROXY ', 'latin1')
/** Default bound of the v2 address + TLV block; HAProxy's own TLVs stay well below it. */
export const DEFAULT_MAX_V2_LENGTH = 4096

/** Error codes of a refused header. */
export type ProxyErrorCode =
  | 'PROXY_ERR_NO_HEADER'
  | 'PROXY_ERR_V1_TOO_LONG'
  | 'PROXY_ERR_V1_SYNTAX'
  | 'PROXY_ERR_V2_VERSION'
  | 'PROXY_ERR_V2_COMMAND'
  | 'PROXY_ERR_V2_FAMILY'
  | 'PROXY_ERR_V2_TOO_LONG'
  | 'PROXY_ERR_V2_SHORT_ADDRESS'
  | 'PROXY_ERR_TIMEOUT'
  | 'PROXY_ERR_CLOSED'

/** A refused PROXY header. */
export class ProxyProtocolError extends Error {
  readonly code: ProxyErrorCode
  constructor (code: ProxyErrorCode, message: string) {
    super(message)
    this.name = 'ProxyProtocolError'
    this.code = code
  }
}

/** A parsed header. Addresses are absent for LOCAL, UNKNOWN, AF_UNSPEC and AF_UNIX. */
export interface ProxyHeader {
  version: 1 | 2
  command: 'proxy' | 'local'
  family: 'tcp4' | 'tcp6' | 'unknown'
  sourceAddress?: string
  sourcePort?: number
  destinationAddress?: string
  destinationPort?: number
  /** Bytes the header took on the wire. */
  length: number
}

/** What {@link ProxyHeaderParser.push} answers. `rest` is a view of the last chunk. */
export type ProxyParseResult =
  | { state: 'more' }
  | { state: 'done', header: ProxyHeader, rest: Buffer }
  | { state: 'error', error: ProxyProtocolError }

const MORE = { state: 'more' } as const
const EMPTY = Buffer.alloc(0)

function fail (code: ProxyErrorCode, message: string): ProxyParseResult {
  return { state: 'error', error: new ProxyProtocolError(code, message) }
}

/** Whether `buf` starts with the first `buf.length` bytes of `prefix` (or all of it). */
function prefixMatches (buf: Buffer, prefix: Buffer): boolean {
  const n = Math.min(buf.length, prefix.length)
  for (let i = 0; i < n; i++) if (buf[i] !== prefix[i]) return false
  return true
}

const PORT = /^(?:0|[1-9]\d{0,4})$/

function v1 (line: string, length: number): ProxyParseResult {
  // line is everything before CRLF, e.g. "PROXY TCP4 1.2.3.4 5.6.7.8 1234 1883"
  const parts = line.split(' ')
  const proto = parts[1]
  if (proto === 'UNKNOWN') {
    // [spec 2.1] the receiver must ignore anything after UNKNOWN
    return { state: 'done', header: { version: 1, command: 'proxy', family: 'unknown', length }, rest: EMPTY }
  }
  if ((proto !== 'TCP4' && proto !== 'TCP6') || parts.length !== 6) {
    return fail('PROXY_ERR_V1_SYNTAX', `PROXY v1: expected "PROXY TCP4|TCP6 <src> <dst> <sport> <dport>" or "PROXY UNKNOWN", got ${JSON.stringify(line)}`)
  }
  const [, , src, dst, sport, dport] = parts as [string, string, string, string, string, string]
  const want = proto === 'TCP4' ? 4 : 6
  if (net.isIP(src) !== want || net.isIP(dst) !== want) {
    return fail('PROXY_ERR_V1_SYNTAX', `PROXY v1: expected two IPv${want} addresses after ${proto}, got ${JSON.stringify(src)} and ${JSON.stringify(dst)}`)
  }
  if (!PORT.test(sport) || !PORT.test(dport) || Number(sport) > 65535 || Number(dport) > 65535) {
    return fail('PROXY_ERR_V1_SYNTAX', `PROXY v1: expected ports 0 to 65535, got ${JSON.stringify(sport)} and ${JSON.stringify(dport)}`)
  }
  return {
    state: 'done',
    header: { version: 1, command: 'proxy', family: want === 4 ? 'tcp4' : 'tcp6', sourceAddress: src, sourcePort: Number(sport), destinationAddress: dst, destinationPort: Number(dport), length },
    rest: EMPTY
  }
}

function ipv6 (buf: Buffer, at: number): string {
  const words: string[] = []
  for (let i = 0; i < 16; i += 2) words.push(buf.readUInt16BE(at + i).toString(16))
  // canonical short form (1:0:0:0:0:0:0:1 → ::1) through the URL host parser
  return new URL(`http://[${words.join(':')}]/`).hostname.slice(1, -1)
}

function v2 (buf: Buffer, maxLength: number): ProxyParseResult | undefined {
  if (buf.length < 16) return undefined
  const verCmd = buf[12] as number
  const famProto = buf[13] as number
  const len = buf.readUInt16BE(14)
  if (verCmd >> 4 !== 2) return fail('PROXY_ERR_V2_VERSION', `PROXY v2: expected version 2, got ${verCmd >> 4}`)
  const cmd = verCmd & 0x0F
  if (cmd > 1) return fail('PROXY_ERR_V2_COMMAND', `PROXY v2: expected command LOCAL (0) or PROXY (1), got ${cmd}`)
  const family = famProto >> 4
  const transport = famProto & 0x0F
  if (family > 3 || transport > 2) return fail('PROXY_ERR_V2_FAMILY', `PROXY v2: expected address family 0-3 and transport 0-2, got 0x${famProto.toString(16).padStart(2, '0')}`)
  if (len > maxLength) return fail('PROXY_ERR_V2_TOO_LONG', `PROXY v2: expected at most ${maxLength} bytes after the header, got ${len}`)
  if (buf.length < 16 + len) return undefined
  const length = 16 + len
  if (cmd === 0) return { state: 'done', header: { version: 2, command: 'local', family: 'unknown', length }, rest: EMPTY }
  // A PROXY command over UDP makes no sense for an MQTT stream listener.
  if (transport === 2) return fail('PROXY_ERR_V2_FAMILY', 'PROXY v2: expected a STREAM (TCP) connection, got DGRAM')
  if (family === 1) {
    if (len < 12) return fail('PROXY_ERR_V2_SHORT_ADDRESS', `PROXY v2: AF_INET needs 12 address bytes, got ${len}`)
    return {
      state: 'done',
      header: {
        version: 2,
        command: 'proxy',
        family: 'tcp4',
        sourceAddress: `${buf[16]}.${buf[17]}.${buf[18]}.${buf[19]}`,
        destinationAddress: `${buf[20]}.${buf[21]}.${buf[22]}.${buf[23]}`,
        sourcePort: buf.readUInt16BE(24),
        destinationPort: buf.readUInt16BE(26),
        length
      },
      rest: EMPTY
    }
  }
  if (family === 2) {
    if (len < 36) return fail('PROXY_ERR_V2_SHORT_ADDRESS', `PROXY v2: AF_INET6 needs 36 address bytes, got ${len}`)
    return {
      state: 'done',
      header: { version: 2, command: 'proxy', family: 'tcp6', sourceAddress: ipv6(buf, 16), destinationAddress: ipv6(buf, 32), sourcePort: buf.readUInt16BE(48), destinationPort: buf.readUInt16BE(50), length },
      rest: EMPTY
    }
  }
  if (family === 3 && len < 216) return fail('PROXY_ERR_V2_SHORT_ADDRESS', `PROXY v2: AF_UNIX needs 216 address bytes, got ${len}`)
  // AF_UNSPEC, AF_UNIX: no usable IP address; TLVs (after the addresses) are skipped.
  return { state: 'done', header: { version: 2, command: 'proxy', family: 'unknown', length }, rest: EMPTY }
}

/** Options of {@link ProxyHeaderParser}. */
export interface ProxyParserOptions {
  /** Largest v2 length field accepted (addresses + TLVs), bytes. Default 4096. */
  maxV2Length?: number
}

/**
 * Incremental PROXY v1/v2 header parser (one per connection).
 *
 * @example
 * const p = new ProxyHeaderParser()
 * const r = p.push(Buffer.from('PROXY TCP4 10.0.0.1 10.0.0.2 5000 1883\r\n'))
 * if (r.state === 'done') console.log(r.header.sourceAddress) // 10.0.0.1
 */
export class ProxyHeaderParser {
  #buf: Buffer = EMPTY
  #result: ProxyParseResult = MORE
  readonly #maxV2Length: number

  constructor (opts: ProxyParserOptions = {}) {
    this.#maxV2Length = opts.maxV2Length ?? DEFAULT_MAX_V2_LENGTH
  }

  /** The current state: `more` until a header or an error was found. */
  get result (): ProxyParseResult { return this.#result }

  /** Feed the next chunk. Once `done` or `error`, later chunks are ignored and the same result returned. */
  push (chunk: Buffer): ProxyParseResult {
    if (this.#result.state !== 'more') return this.#result
    const buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk])
    const r = this.#parse(buf)
    if (r === undefined) {
      // bounded: v1 ≤ 107 bytes and v2 ≤ 16 + maxV2Length were checked by #parse
      this.#buf = buf
      return MORE
    }
    this.#buf = EMPTY
    if (r.state === 'done') {
      r.rest = buf.subarray(r.header.length)
    }
    this.#result = r
    return r
  }

  /** Mark the header as missing (timeout, early close) unless it already completed. */
  abort (code: 'PROXY_ERR_TIMEOUT' | 'PROXY_ERR_CLOSED', message: string): ProxyParseResult {
    if (this.#result.state === 'more') {
      this.#buf = EMPTY
      this.#result = fail(code, message)
    }
    return this.#result
  }

  #parse (buf: Buffer): ProxyParseResult | undefined {
    if (buf[0] === 0x50) { // 'P'
      if (!prefixMatches(buf, V1_PREFIX)) return fail('PROXY_ERR_NO_HEADER', `expected a PROXY header, got ${JSON.stringify(buf.subarray(0, 16).toString('latin1'))}`)
      const end = buf.subarray(0, V1_MAX_LENGTH).indexOf('\r\n', 0, 'latin1')
      const scan = end === -1 ? buf.length : end
      if (end === -1 ? buf.length >= V1_MAX_LENGTH : end + 2 > V1_MAX_LENGTH) {
        return fail('PROXY_ERR_V1_TOO_LONG', `PROXY v1: expected a line of at most ${V1_MAX_LENGTH} bytes ending in CRLF, got ${scan} bytes without one`)
      }
      for (let i = V1_PREFIX.length; i < scan; i++) {
        const c = buf[i] as number
        // a lone CR (unless it may be the start of the CRLF) or any other control byte is refused at once
        if ((c < 0x20 || c > 0x7E) && !(c === 0x0D && end === -1 && i === buf.length - 1)) {
          return fail('PROXY_ERR_V1_SYNTAX', `PROXY v1: unexpected byte 0x${c.toString(16).padStart(2, '0')} at offset ${i}`)
        }
      }
      if (end === -1) return undefined
      const line = buf.toString('latin1', 0, end)
      return v1(line, end + 2)
    }
    if (buf[0] === 0x0D) {
      if (!prefixMatches(buf, V2_SIGNATURE)) return fail('PROXY_ERR_NO_HEADER', 'expected a PROXY v2 signature, got other bytes')
      if (buf.length < V2_SIGNATURE.length) return undefined
      return v2(buf, this.#maxV2Length)
    }
    if (buf.length === 0) return undefined
    return fail('PROXY_ERR_NO_HEADER', `expected a PROXY header (v1 "PROXY " or the v2 signature), got first byte 0x${(buf[0] as number).toString(16).padStart(2, '0')}`)
  }
}

/** The peer address handed to `broker.handle`. */
export interface Peer {
  remoteAddress?: string
  remotePort?: number
}

function ownPeer (socket: net.Socket): Peer {
  return {
    ...(socket.remoteAddress === undefined ? {} : { remoteAddress: socket.remoteAddress }),
    ...(socket.remotePort === undefined ? {} : { remotePort: socket.remotePort })
  }
}

function peerOf (header: ProxyHeader, socket: net.Socket): Peer {
  if (header.sourceAddress === undefined || header.sourcePort === undefined) return ownPeer(socket)
  return { remoteAddress: header.sourceAddress, remotePort: header.sourcePort }
}

/**
 * The chain verification result of a server-side TLSSocket made by hand. Unlike those of a
 * `tls.Server`, such sockets neither set `authorized` nor enforce `rejectUnauthorized` when a
 * certificate was sent (OpenSSL accepts the chain and Node checks it in JS); the result is
 * read where `tls.Server` reads it. Fails closed if that internal is ever missing.
 */
function peerVerifyError (socket: tls.TLSSocket): Error | null {
  const handle = (socket as unknown as { _handle?: { verifyError?: () => Error | null | undefined } })._handle
  if (typeof handle?.verifyError !== 'function') return new Error('cannot verify the client certificate on this Node.js version')
  return handle.verifyError() ?? null
}

/** Options of {@link proxyProtocol}. */
export interface ProxyProtocolOptions {
  enabled: boolean
  /** Milliseconds the header may take to arrive. */
  timeout: number
  logger: Logger
  maxV2Length?: number
}

/** TLS settings of a proxied TLS listener. */
export type ProxiedTlsOptions = tls.TlsOptions

/** Wrappers for the listeners' connection handlers; see {@link proxyProtocol}. */
export interface ProxyProtocolWrappers {
  /** A TCP connection handler receiving the peer (the proxy's client when enabled). */
  tcp: (handler: (socket: net.Socket, peer: Peer) => void) => (socket: net.Socket) => void
  /**
   * A TLS server: `tls.createServer` when disabled; when enabled a plain `net.Server` that reads
   * the PROXY header, then runs the TLS handshake with `opts` and calls `handler` once secure.
   * Failed handshakes are emitted as `tlsClientError` on the returned server either way.
   */
  tlsServer: (opts: ProxiedTlsOptions, handler: (socket: tls.TLSSocket, peer: Peer) => void) => SecureServer
}

/** A server whose certificate can be replaced for new handshakes (SIGHUP reload). */
export type SecureServer = net.Server & { setSecureContext (options: tls.SecureContextOptions): void }

/**
 * Build the connection wrappers for `--proxy-protocol`.
 *
 * @example
 * const proxy = proxyProtocol({ enabled: true, timeout: 5000, logger })
 * net.createServer(proxy.tcp((socket, peer) => broker.handle(socket, { transport: 'tcp', ...peer })))
 */
export function proxyProtocol (opts: ProxyProtocolOptions): ProxyProtocolWrappers {
  const { logger } = opts
  const parserOpts: ProxyParserOptions = opts.maxV2Length === undefined ? {} : { maxV2Length: opts.maxV2Length }

  /** Read the header from `socket`; call `done(header, rest)` or close the socket and log once. */
  const readHeader = (socket: net.Socket, done: (header: ProxyHeader, rest: Buffer) => void): void => {
    const parser = new ProxyHeaderParser(parserOpts)
    const cleanup = (): void => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('close', onClose)
    }
    const settle = (r: ProxyParseResult): void => {
      if (r.state === 'more') return
      cleanup()
      if (r.state === 'error') {
        if (r.error.code !== 'PROXY_ERR_CLOSED') {
          logger.warn({ remote: socket.remoteAddress, remotePort: socket.remotePort, code: r.error.code, reason: r.error.message }, 'PROXY protocol header refused; connection closed')
        }
        socket.destroy()
        return
      }
      socket.pause()
      done(r.header, r.rest)
    }
    const onData = (chunk: Buffer): void => { settle(parser.push(chunk)) }
    const onClose = (): void => { settle(parser.abort('PROXY_ERR_CLOSED', 'closed before the PROXY header')) }
    const timer = setTimeout(() => settle(parser.abort('PROXY_ERR_TIMEOUT', `PROXY header not complete after ${opts.timeout} ms`)), opts.timeout)
    socket.on('error', () => {})
    socket.on('data', onData)
    socket.on('close', onClose)
  }

  if (!opts.enabled) {
    return {
      tcp: handler => socket => handler(socket, ownPeer(socket)),
      tlsServer: (tlsOpts, handler) => tls.createServer(tlsOpts, socket => handler(socket, ownPeer(socket)))
    }
  }
  return {
    tcp: handler => socket => {
      readHeader(socket, (header, rest) => {
        if (rest.length > 0) socket.unshift(rest)
        handler(socket, peerOf(header, socket))
        socket.resume()
      })
    },
    tlsServer: (tlsOpts, handler) => {
      let secureContext = tls.createSecureContext(tlsOpts)
      const requestCert = tlsOpts.requestCert === true
      const rejectUnauthorized = tlsOpts.rejectUnauthorized !== false
      const server = net.createServer({ noDelay: true }, socket => {
        readHeader(socket, (header, rest) => {
          const peer = peerOf(header, socket)
          // The bytes read past the header go back into the socket's buffer; a TLSSocket
          // made on a net.Socket takes over its handle and first feeds it what is buffered.
          if (rest.length > 0) socket.unshift(rest)
          const secure = new tls.TLSSocket(socket, { isServer: true, secureContext, requestCert, rejectUnauthorized })
          const handshake = setTimeout(() => secure.destroy(new Error('TLS handshake timeout')), opts.timeout)
          const onError = (err: Error): void => {
            clearTimeout(handshake)
            server.emit('tlsClientError', err, secure)
            secure.destroy()
          }
          secure.once('error', onError)
          secure.once('secure', () => {
            clearTimeout(handshake)
            secure.off('error', onError)
            if (requestCert) {
              const verifyError = peerVerifyError(secure)
              if (verifyError === null) secure.authorized = true
              else {
                secure.authorizationError = verifyError
                if (rejectUnauthorized) {
                  onError(new Error(`client certificate refused: ${verifyError.message}`))
                  return
                }
              }
            }
            handler(secure, peer)
          })
          socket.on('close', () => clearTimeout(handshake))
        })
      })
      // as tls.Server does: new handshakes use the new certificate, established ones go on
      return Object.assign(server, {
        setSecureContext (options: tls.SecureContextOptions): void { secureContext = tls.createSecureContext(options) }
      })
    }
  }
}
