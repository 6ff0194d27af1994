// PROXY protocol v1/v2: the parser on fixed rows and generated input (any split, random
// bytes), then the listeners of startServer in process (TCP and TLS, split headers, bad
// headers, timeout). The real HAProxy in front of the real culex is in haproxy.test.ts.
import t from 'tap'
import fc from 'fast-check'
import net from 'node:net'
import tls from 'node:tls'
import { once } from 'node:events'
import { pino, type Logger } from 'pino'
import { Writable, Duplex } from 'node:stream'
import { ProxyHeaderParser, V2_SIGNATURE, V1_MAX_LENGTH, type ProxyParseResult } from '../src/proxy-protocol.ts'
import { finalize, type PartialOptions } from '../src/config.ts'
import { startServer, type RunningServer } from '../src/server.ts'
import { connect as rawConnect } from './helpers/raw.ts'
import { tempDir, makePki } from './helpers/culex.ts'

/** Build a v2 header: `fam` 0x11 = TCP over IPv4, 0x21 = TCP over IPv6. */
export function v2 (opts: { cmd?: number, fam?: number, src?: string, dst?: string, sport?: number, dport?: number, tlvs?: Buffer, version?: number, length?: number }): Buffer {
  const fam = opts.fam ?? 0x11
  let addr: Buffer
  if (fam >> 4 === 1) {
    addr = Buffer.alloc(12)
    ;(opts.src ?? '10.1.2.3').split('.').forEach((n, i) => { addr[i] = Number(n) })
    ;(opts.dst ?? '10.9.9.9').split('.').forEach((n, i) => { addr[4 + i] = Number(n) })
    addr.writeUInt16BE(opts.sport ?? 40000, 8)
    addr.writeUInt16BE(opts.dport ?? 1883, 10)
  } else if (fam >> 4 === 2) {
    addr = Buffer.alloc(36)
    addr[15] = 1 // src ::1 unless given
    if (opts.src !== undefined) ipv6Bytes(opts.src).copy(addr, 0)
    addr[31] = 2
    addr.writeUInt16BE(opts.sport ?? 40000, 32)
    addr.writeUInt16BE(opts.dport ?? 1883, 34)
  } else {
    addr = Buffer.alloc(fam >> 4 === 3 ? 216 : 0)
  }
  const body = Buffer.concat([addr, opts.tlvs ?? Buffer.alloc(0)])
  const head = Buffer.from([((opts.version ?? 2) << 4) | (opts.cmd ?? 1), fam, 0, 0])
  head.writeUInt16BE(opts.length ?? body.length, 2)
  return Buffer.concat([V2_SIGNATURE, head, body])
}

function ipv6Bytes (a: string): Buffer {
  // expand "2001:db8::7" → 16 bytes
  const [l, r] = a.split('::') as [string, string | undefined]
  const left = l === '' ? [] : l.split(':')
  const right = r === undefined || r === '' ? [] : r.split(':')
  const words = [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
  const b = Buffer.alloc(16)
  words.forEach((w, i) => b.writeUInt16BE(parseInt(w, 16), i * 2))
  return b
}

function parseAll (chunks: Buffer[]): ProxyParseResult {
  const p = new ProxyHeaderParser()
  let r: ProxyParseResult = p.result
  for (const c of chunks) r = p.push(c)
  return r
}

const tlv = Buffer.from([0x01, 0x00, 0x02, 0x68, 0x32, 0x04, 0x00, 0x00]) // ALPN "h2", NOOP

t.test('valid headers', async t => {
  const rows: Array<[string, Buffer, Record<string, unknown>]> = [
    ['v1 TCP4', Buffer.from('PROXY TCP4 192.168.0.1 192.168.0.11 56324 1883\r\n'), { version: 1, command: 'proxy', family: 'tcp4', sourceAddress: '192.168.0.1', sourcePort: 56324, destinationAddress: '192.168.0.11', destinationPort: 1883 }],
    ['v1 TCP6', Buffer.from('PROXY TCP6 2001:db8::1 ::1 65535 0\r\n'), { family: 'tcp6', sourceAddress: '2001:db8::1', sourcePort: 65535, destinationPort: 0 }],
    ['v1 UNKNOWN', Buffer.from('PROXY UNKNOWN\r\n'), { version: 1, family: 'unknown', sourceAddress: undefined }],
    ['v1 UNKNOWN with addresses (ignored)', Buffer.from('PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n'), { family: 'unknown' }],
    ['v1 longest TCP6 line is 104 bytes', Buffer.from('PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n'), { family: 'tcp6', sourcePort: 65535 }],
    ['v2 PROXY TCP4', v2({ src: '203.0.113.7', sport: 51000 }), { version: 2, command: 'proxy', family: 'tcp4', sourceAddress: '203.0.113.7', sourcePort: 51000, destinationAddress: '10.9.9.9', destinationPort: 1883 }],
    ['v2 PROXY TCP6', v2({ fam: 0x21, src: '2001:db8::7', sport: 1 }), { family: 'tcp6', sourceAddress: '2001:db8::7', sourcePort: 1, destinationAddress: '::2' }],
    ['v2 PROXY TCP4 with TLVs (skipped)', v2({ tlvs: tlv }), { family: 'tcp4', sourceAddress: '10.1.2.3' }],
    ['v2 LOCAL (health check)', v2({ cmd: 0, fam: 0x00 }), { version: 2, command: 'local', family: 'unknown', sourceAddress: undefined }],
    ['v2 LOCAL with addresses', v2({ cmd: 0 }), { command: 'local', sourceAddress: undefined }],
    ['v2 PROXY AF_UNSPEC', v2({ fam: 0x00 }), { command: 'proxy', family: 'unknown' }],
    ['v2 PROXY AF_UNIX', v2({ fam: 0x31 }), { command: 'proxy', family: 'unknown' }]
  ]
  for (const [name, bytes, want] of rows) {
    const after = Buffer.from([0x10, 0x0c, 0xff])
    const r = parseAll([Buffer.concat([bytes, after])])
    t.equal(r.state, 'done', name)
    if (r.state !== 'done') continue
    t.match(r.header, { ...want, length: bytes.length }, name)
    t.same(r.rest, after, `${name}: the bytes after the header are kept`)
  }
  t.ok(Buffer.from('PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n').length <= V1_MAX_LENGTH)
})

t.test('refused headers', async t => {
  const rows: Array<[string, Buffer, string]> = [
    ['MQTT CONNECT without a header', rawConnect(4, 'x'), 'PROXY_ERR_NO_HEADER'],
    ['HTTP', Buffer.from('GET / HTTP/1.1\r\n'), 'PROXY_ERR_NO_HEADER'],
    ['lower-case proxy', Buffer.from('proxy TCP4 1.2.3.4 1.2.3.4 1 1\r\n'), 'PROXY_ERR_NO_HEADER'],
    ['PROXY without space', Buffer.from('PROXYTCP4'), 'PROXY_ERR_NO_HEADER'],
    ['v1 no CRLF within 107 bytes', Buffer.from('PROXY TCP4 ' + '1'.repeat(120)), 'PROXY_ERR_V1_TOO_LONG'],
    ['v1 CRLF after byte 107', Buffer.from('PROXY UNKNOWN ' + 'x'.repeat(93) + '\r\n'), 'PROXY_ERR_V1_TOO_LONG'],
    ['v1 bare LF', Buffer.from('PROXY TCP4 1.2.3.4 1.2.3.4 1 1\n'), 'PROXY_ERR_V1_SYNTAX'],
    ['v1 lone CR', Buffer.from('PROXY TCP4 1.2.3.4\r1.2.3.4 1 1\r\n'), 'PROXY_ERR_V1_SYNTAX'],
    ['v1 NUL byte', Buffer.from('PROXY TCP4 1.2.3.4\x001.2.3.4 1 1\r\n'), 'PROXY_ERR_V1_SYNTAX'],
    ['v1 TCP5', Buffer.from('PROXY TCP5 1.2.3.4 1.2.3.4 1 1\r\n'), 'PROXY_ERR_V1_SYNTAX'],
    ['v1 missing port', Buffer.from('PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n'), 'PROXY_ERR_V1_SYNTAX'],
    ['v1 double space', Buffer.from('PROXY TCP4  1.2.3.4 1.2.3.4 1 1\r\n'), 'PROXY_ERR_V1_SYNTAX'],
    ['v1 IPv6 under TCP4', Buffer.from('PROXY TCP4 ::1 ::1 1 1\r\n'), 'PROXY_ERR_V1_SYNTAX'],
    ['v1 bad IPv4', Buffer.from('PROXY TCP4 1.2.3.256 1.2.3.4 1 1\r\n'), 'PROXY_ERR_V1_SYNTAX'],
    ['v1 port 65536', Buffer.from('PROXY TCP4 1.2.3.4 1.2.3.4 65536 1\r\n'), 'PROXY_ERR_V1_SYNTAX'],
    ['v1 port with leading zero', Buffer.from('PROXY TCP4 1.2.3.4 1.2.3.4 01883 1\r\n'), 'PROXY_ERR_V1_SYNTAX'],
    ['v1 negative port', Buffer.from('PROXY TCP4 1.2.3.4 1.2.3.4 -1 1\r\n'), 'PROXY_ERR_V1_SYNTAX'],
    ['v2 broken signature', Buffer.concat([V2_SIGNATURE.subarray(0, 11), Buffer.from([0x0b])]), 'PROXY_ERR_NO_HEADER'],
    ['v2 version 1', v2({ version: 1 }), 'PROXY_ERR_V2_VERSION'],
    ['v2 version 3', v2({ version: 3 }), 'PROXY_ERR_V2_VERSION'],
    ['v2 command 2', v2({ cmd: 2 }), 'PROXY_ERR_V2_COMMAND'],
    ['v2 family 4', v2({ fam: 0x41 }), 'PROXY_ERR_V2_FAMILY'],
    ['v2 transport 3', v2({ fam: 0x13 }), 'PROXY_ERR_V2_FAMILY'],
    ['v2 UDP', v2({ fam: 0x12 }), 'PROXY_ERR_V2_FAMILY'],
    ['v2 length above the bound', v2({ length: 4097 }), 'PROXY_ERR_V2_TOO_LONG'],
    ['v2 length 65535', v2({ length: 65535 }), 'PROXY_ERR_V2_TOO_LONG'],
    ['v2 AF_INET with 4 address bytes', Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0, 4, 1, 2, 3, 4])]), 'PROXY_ERR_V2_SHORT_ADDRESS'],
    ['v2 AF_INET6 with 12 address bytes', Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x21, 0, 12]), Buffer.alloc(12)]), 'PROXY_ERR_V2_SHORT_ADDRESS'],
    ['v2 AF_UNIX with 12 address bytes', Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x31, 0, 12]), Buffer.alloc(12)]), 'PROXY_ERR_V2_SHORT_ADDRESS']
  ]
  for (const [name, bytes, code] of rows) {
    const r = parseAll([bytes])
    t.equal(r.state, 'error', name)
    if (r.state === 'error') t.equal(r.error.code, code, name)
  }
})

t.test('incomplete input waits, then abort gives one error; a finished parser stays finished', async t => {
  const p = new ProxyHeaderParser()
  t.equal(p.push(Buffer.alloc(0)).state, 'more', 'empty chunk')
  t.equal(p.push(Buffer.from('PROXY TCP4 1.2.3.4')).state, 'more')
  const r = p.abort('PROXY_ERR_TIMEOUT', 'timeout')
  t.equal(r.state === 'error' && r.error.code, 'PROXY_ERR_TIMEOUT')
  t.equal(p.push(Buffer.from(' 1.2.3.4 1 1\r\n')), r, 'stays failed')
  t.equal(p.abort('PROXY_ERR_CLOSED', 'closed'), r, 'one error only')

  const q = new ProxyHeaderParser()
  const done = q.push(Buffer.from('PROXY UNKNOWN\r\nabc'))
  t.equal(done.state, 'done')
  t.equal(q.push(Buffer.from('more')), done, 'done ignores later chunks')
  t.equal(q.abort('PROXY_ERR_CLOSED', 'closed'), done, 'abort after done keeps done')
  t.equal(new ProxyHeaderParser({ maxV2Length: 12 }).push(v2({ tlvs: tlv })).state, 'error', 'maxV2Length is configurable')
})

/** Split `bytes` at the given sorted cut points. */
function split (bytes: Buffer, cuts: number[]): Buffer[] {
  const out: Buffer[] = []
  let at = 0
  for (const c of [...cuts].sort((a, b) => a - b)) { out.push(bytes.subarray(at, c)); at = c }
  out.push(bytes.subarray(at))
  return out
}

const arbIpv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map(a => a.join('.'))
const arbPort = fc.nat(65535)
const arbHeader = fc.oneof(
  fc.tuple(arbIpv4, arbIpv4, arbPort, arbPort).map(([s, d, sp, dp]) => ({ bytes: Buffer.from(`PROXY TCP4 ${s} ${d} ${sp} ${dp}\r\n`), src: s, sport: sp })),
  fc.tuple(arbIpv4, arbIpv4, arbPort, arbPort, fc.uint8Array({ maxLength: 64 })).map(([s, d, sp, dp, tl]) => ({ bytes: v2({ src: s, dst: d, sport: sp, dport: dp, tlvs: Buffer.from(tl) }), src: s, sport: sp })),
  fc.ipV6().map(a => new URL(`http://[${a}]/`).hostname.slice(1, -1)).chain(a => fc.tuple(fc.constant(a), arbPort).map(([s, sp]) => ({ bytes: Buffer.from(`PROXY TCP6 ${s} ::1 ${sp} 1883\r\n`), src: s, sport: sp })))
)

t.test('property: any split of a valid header gives the same header and the same rest', async t => {
  fc.assert(fc.property(arbHeader, fc.uint8Array({ maxLength: 40 }), fc.array(fc.nat(400), { maxLength: 8 }), ({ bytes, src, sport }, after, rawCuts) => {
    const all = Buffer.concat([bytes, Buffer.from(after)])
    const cuts = rawCuts.map(c => c % (all.length + 1))
    const p = new ProxyHeaderParser()
    let done: ProxyParseResult | undefined
    const rest: Buffer[] = []
    for (const chunk of split(all, cuts)) {
      if (done !== undefined) { rest.push(chunk); continue }
      const r = p.push(chunk)
      if (r.state === 'error') return false
      if (r.state === 'done') { done = r; rest.push(r.rest) }
    }
    if (done?.state !== 'done') return false
    return done.header.sourceAddress === src && done.header.sourcePort === sport && Buffer.concat(rest).equals(Buffer.from(after))
  }), { numRuns: 500 })
  t.pass('500 generated headers × random splits parsed identically')
})

t.test('property: random bytes never throw and end in one result or one error', async t => {
  const prefixes = [Buffer.alloc(0), Buffer.from('PROXY '), Buffer.from('PROXY TCP4 '), V2_SIGNATURE, Buffer.concat([V2_SIGNATURE, Buffer.from([0x21])])]
  fc.assert(fc.property(fc.nat(prefixes.length - 1), fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(400), { maxLength: 6 }), (pi, raw, rawCuts) => {
    const all = Buffer.concat([prefixes[pi] as Buffer, Buffer.from(raw)])
    const p = new ProxyHeaderParser()
    let terminal: ProxyParseResult | undefined
    for (const chunk of split(all, rawCuts.map(c => c % (all.length + 1)))) {
      const r = p.push(chunk)
      if (terminal !== undefined && r !== terminal) return false // one result, never a second
      if (r.state !== 'more') terminal = r
    }
    const end = p.abort('PROXY_ERR_CLOSED', 'end of input')
    if (terminal !== undefined && end !== terminal) return false
    // input longer than any possible header is always decided
    if (all.length >= 16 + 4096 && terminal === undefined) return false
    return end.state === 'done' || end.state === 'error'
  }), { numRuns: 2000 })
  t.pass('2000 random inputs: no throw, exactly one terminal result')
})

// ---- listeners of startServer ----

interface Logged { level: number, msg: string, [k: string]: unknown }

function capture (): { logger: Logger, lines: Logged[] } {
  const lines: Logged[] = []
  const sink = new Writable({ write (chunk, _e, cb) { lines.push(JSON.parse(String(chunk))); cb() } })
  return { logger: pino({ level: 'debug' }, sink), lines }
}

async function start (t: Tap, o: PartialOptions, logger: Logger): Promise<RunningServer> {
  const server = await startServer(finalize({ port: 0, host: '127.0.0.1', store: 'memory', sysInterval: 0, proxyProtocol: true, ...o }, process.cwd()), logger)
  t.teardown(() => server.close())
  return server
}

type Tap = { teardown: (fn: () => unknown) => void }

function port (server: RunningServer, protocol: 'mqtt' | 'mqtts'): number {
  return server.addresses.find(a => a.protocol === protocol)!.port
}

/** Connect, write `chunks` one per tick, resolve with what the broker answered before close. */
async function exchange (p: number, chunks: Buffer[], opts: { waitClose?: boolean } = {}): Promise<{ data: Buffer, closed: boolean }> {
  const s = net.connect(p, '127.0.0.1')
  await once(s, 'connect')
  const got: Buffer[] = []
  s.on('data', d => got.push(d))
  const closed = once(s, 'close').then(() => true)
  for (const c of chunks) { s.write(c); await new Promise(resolve => setImmediate(resolve)) }
  const gotConnack = new Promise<boolean>(resolve => { s.on('data', () => { if (Buffer.concat(got).length >= 4) resolve(false) }) })
  const timeout = new Promise<boolean>(resolve => setTimeout(() => resolve(false), 3000))
  const c = await Promise.race([closed, opts.waitClose === true ? timeout : gotConnack, timeout])
  s.destroy()
  return { data: Buffer.concat(got), closed: c }
}

t.test('TCP listener: the client address of v1 and v2 headers, split anywhere, reaches the engine', async t => {
  const { logger } = capture()
  const server = await start(t, {}, logger)
  const seen: Array<[string, string | undefined, number | undefined]> = []
  server.broker.on('client', c => { seen.push([c.id, c.info.remoteAddress, c.info.remotePort]) })
  const p = port(server, 'mqtt')
  const connect = rawConnect(4, 'v1-split')
  const v1h = Buffer.from('PROXY TCP4 198.51.100.4 10.0.0.1 41234 1883\r\n')
  const all = Buffer.concat([v1h, connect])
  const r1 = await exchange(p, [all.subarray(0, 3), all.subarray(3, 30), all.subarray(30, v1h.length + 2), all.subarray(v1h.length + 2)])
  t.same([...r1.data.subarray(0, 4)], [0x20, 0x02, 0x00, 0x00], 'CONNACK accepted after a split v1 header')
  const r2 = await exchange(p, [Buffer.concat([v2({ fam: 0x21, src: '2001:db8::42', sport: 5555, tlvs: tlv }), rawConnect(5, 'v2-one-chunk')])])
  t.equal(r2.data[0], 0x20, 'CONNACK after v2 header and CONNECT in one chunk')
  const r3 = await exchange(p, [v2({ cmd: 0, fam: 0 }), rawConnect(4, 'local')])
  t.equal(r3.data[0], 0x20, 'LOCAL: accepted')
  t.same(seen, [
    ['v1-split', '198.51.100.4', 41234],
    ['v2-one-chunk', '2001:db8::42', 5555],
    ['local', '127.0.0.1', seen[2]?.[2]]
  ], 'engine sees the addresses from the headers; LOCAL keeps the socket address')
})

t.test('TCP listener: bad or missing headers are closed and logged once; others carry on', async t => {
  const { logger, lines } = capture()
  const server = await start(t, { connectTimeout: 300 }, logger)
  const p = port(server, 'mqtt')
  const canary = net.connect(p, '127.0.0.1')
  await once(canary, 'connect')
  canary.write(Buffer.concat([Buffer.from('PROXY TCP4 192.0.2.1 192.0.2.2 1000 1883\r\n'), rawConnect(4, 'canary')]))
  const [ack] = await once(canary, 'data') as [Buffer]
  t.equal(ack[0], 0x20, 'canary connected')

  const bad = [
    rawConnect(4, 'no-header'),
    Buffer.from('PROXY TCP4 999.1.1.1 1.1.1.1 1 1\r\n'),
    Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0xff, 0xff])]),
    Buffer.from('PROXY ' + 'x'.repeat(200))
  ]
  for (const b of bad) {
    const r = await exchange(p, [b], { waitClose: true })
    t.ok(r.closed, `closed: ${JSON.stringify(b.subarray(0, 12).toString('latin1'))}`)
    t.equal(r.data.length, 0, 'nothing answered')
  }
  const silent = net.connect(p, '127.0.0.1')
  const t0 = Date.now()
  await once(silent, 'close')
  t.ok(Date.now() - t0 >= 250, 'a silent connection is closed after the timeout')
  const half = net.connect(p, '127.0.0.1')
  half.write('PROXY TCP4 1.2.3.4')
  half.end()
  await once(half, 'close')

  const refused = lines.filter(l => l.msg.startsWith('PROXY protocol header refused'))
  t.same(refused.map(l => l.code), ['PROXY_ERR_NO_HEADER', 'PROXY_ERR_V1_SYNTAX', 'PROXY_ERR_V2_TOO_LONG', 'PROXY_ERR_V1_TOO_LONG', 'PROXY_ERR_TIMEOUT'], 'one log line per refused connection (not for a client that hung up)')
  t.equal(refused[0]?.remote, '127.0.0.1', 'the log names the peer')

  canary.write(Buffer.from([0xc0, 0x00])) // PINGREQ
  const [pong] = await once(canary, 'data') as [Buffer]
  t.same([...pong], [0xd0, 0x00], 'canary still answered')
  canary.destroy()
})

t.test('TLS listener: the PROXY header comes before the handshake', async t => {
  const dir = tempDir(t)
  const pki = makePki(dir)
  const { logger, lines } = capture()
  const server = await start(t, { tlsPort: 0, cert: pki.cert, key: pki.key }, logger)
  const seen: Array<[string, string | undefined]> = []
  server.broker.on('client', c => { seen.push([c.id, c.info.remoteAddress]) })
  const p = port(server, 'mqtts')

  const raw = net.connect(p, '127.0.0.1')
  await once(raw, 'connect')
  raw.write(v2({ src: '192.0.2.77', sport: 6000 }))
  const secure = tls.connect({ socket: raw, ca: pki.caPem, servername: 'localhost' })
  await once(secure, 'secureConnect')
  secure.write(rawConnect(5, 'tls-proxied'))
  const [ack] = await once(secure, 'data') as [Buffer]
  t.equal(ack[0], 0x20, 'CONNACK over TLS after the PROXY header')
  t.same(seen, [['tls-proxied', '192.0.2.77']])
  secure.destroy()

  // the header and the ClientHello in one TCP segment (as a proxy may send them)
  const raw2 = net.connect(p, '127.0.0.1')
  await once(raw2, 'connect')
  let first = true
  const joined = new Duplex({
    read () { raw2.resume() },
    write (chunk: Buffer, _e, cb) {
      raw2.write(first ? Buffer.concat([Buffer.from('PROXY TCP6 2001:db8::9 ::1 7001 8883\r\n'), chunk]) : chunk, cb)
      first = false
    }
  })
  raw2.on('data', d => { if (!joined.push(d)) raw2.pause() })
  raw2.on('end', () => joined.push(null))
  const secure2 = tls.connect({ socket: joined, ca: pki.caPem, servername: 'localhost' })
  await once(secure2, 'secureConnect')
  secure2.write(rawConnect(4, 'tls-one-segment'))
  const [ack2] = await once(secure2, 'data') as [Buffer]
  t.equal(ack2[0], 0x20, 'CONNACK when the ClientHello came with the header')
  t.same(seen[1], ['tls-one-segment', '2001:db8::9'])
  secure2.destroy()
  raw2.destroy()

  // a TLS client that sends no PROXY header: its ClientHello is not a header
  const direct = tls.connect({ port: p, host: '127.0.0.1', ca: pki.caPem, servername: 'localhost' })
  const [err] = await once(direct, 'error') as [Error]
  t.ok(err, 'direct TLS client refused')
  t.ok(lines.some(l => l.code === 'PROXY_ERR_NO_HEADER'), 'logged')

  // a valid header then garbage instead of a ClientHello: handshake error, reported as tlsClientError
  const junk = net.connect(p, '127.0.0.1')
  await once(junk, 'connect')
  junk.write(Buffer.concat([Buffer.from('PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n'), Buffer.from('not tls at all\r\n')]))
  await once(junk, 'close')
  t.pass('handshake failure closes the socket')
})

t.test('TLS listener with required client certificates refuses a proxied client without one', async t => {
  const dir = tempDir(t)
  const pki = makePki(dir)
  const { logger } = capture()
  const server = await start(t, { tlsPort: 0, cert: pki.cert, key: pki.key, ca: pki.ca, requireClientCert: true }, logger)
  let clients = 0
  server.broker.on('client', () => { clients++ })
  const p = port(server, 'mqtts')
  const other = makePki(tempDir(t)) // a client certificate from a CA the broker does not trust
  const attempt = async (withCert: boolean | 'other'): Promise<boolean> => {
    const raw = net.connect(p, '127.0.0.1')
    await once(raw, 'connect')
    raw.write('PROXY TCP4 192.0.2.5 192.0.2.6 7000 8883\r\n')
    const secure = tls.connect({ socket: raw, ca: pki.caPem, servername: 'localhost', ...(withCert === true ? { cert: pki.clientCertPem, key: pki.clientKeyPem } : withCert === 'other' ? { cert: other.clientCertPem, key: other.clientKeyPem } : {}) })
    secure.on('error', () => {})
    secure.write(rawConnect(4, `cert-${String(withCert)}`))
    const r = await new Promise<boolean>(resolve => {
      secure.once('data', (d: Buffer) => resolve(d[0] === 0x20))
      secure.once('close', () => resolve(false))
    })
    secure.destroy()
    return r
  }
  t.equal(await attempt(false), false, 'no certificate: refused')
  t.equal(await attempt('other'), false, 'a certificate of another CA: refused')
  t.equal(await attempt(true), true, 'with a certificate: CONNACK')
  t.equal(clients, 1)
})

t.test('off by default: a PROXY header is just bad MQTT', async t => {
  const { logger } = capture()
  const server = await start(t, { proxyProtocol: false }, logger)
  const seen: string[] = []
  server.broker.on('client', c => { seen.push(c.info.remoteAddress ?? '') })
  const r = await exchange(port(server, 'mqtt'), [rawConnect(4, 'plain')])
  t.equal(r.data[0], 0x20)
  t.same(seen, ['127.0.0.1'])
})
