/**
 * QoS 2 exactly once across repeated SIGKILLs of the real `culex` process: a persistent
 * 5.0 subscriber with a small Receive Maximum (so messages wait in its queue and get their
 * packet ids when they are sent) is a raw client that keeps its receiver state across the
 * crashes as a correct receiver must [MQTT-4.3.3-9]: a QoS 2 PUBLISH whose packet id it holds
 * (PUBREC sent, PUBREL not yet received) is the same message again, not a new one. Publishers
 * (MQTT.js) send QoS 2 while the subscriber is offline, then while it drains; culex is
 * killed at a random moment in each cycle and restarted on the same store. In the end every
 * acknowledged message arrived once, and no message twice: a packet id the client holds is
 * never given to another message, and no delivery is sent again under a new id.
 */
import { connect as tcpConnect, type Socket } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import mqtt, { type MqttClient } from 'mqtt'
import { encode, Parser, type Packet } from '@culex/packet'
import { within } from '@culex/test-kit'
import { culexSkip, startCulex, type Running } from './culex.ts'
import type { DurabilityOptions } from './durability.ts'

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** The subscriber's side of QoS 2, kept across connections (it outlives the broker). */
class Receiver {
  /** Packet ids held: PUBREC sent, PUBREL not yet received. */
  readonly held = new Set<number>()
  /** Deliveries by payload. */
  readonly got = new Map<string, number>()
  /** PUBLISHes with a held id (the same message again). */
  repeats = 0
  sock: Socket | null = null

  /** Connect (Clean Start 0), resolve with Session Present once CONNACK arrived. */
  async connect (port: number, clientId: string, subscribe: boolean): Promise<boolean> {
    const sock = tcpConnect(port, '127.0.0.1')
    this.sock = sock
    let onConnack!: (present: boolean) => void
    let onFail!: (err: Error) => void
    const connack = new Promise<boolean>((resolve, reject) => { onConnack = resolve; onFail = reject })
    const parser = new Parser({
      protocolVersion: 5,
      onPacket: (p: Packet) => {
        if (p.cmd === 'connack') {
          if ((p.reasonCode ?? 0) !== 0) onFail(new Error(`CONNACK 0x${(p.reasonCode ?? 0).toString(16)}`))
          else onConnack(p.sessionPresent)
        } else if (p.cmd === 'publish' && p.qos === 2) {
          if (this.held.has(p.messageId!)) {
            this.repeats++
          } else {
            this.held.add(p.messageId!)
            const body = p.payload.toString()
            this.got.set(body, (this.got.get(body) ?? 0) + 1)
          }
          // PUBREC a little later, so ids stay held across the next kill
          const id = p.messageId!
          setTimeout(() => { this.#send(sock, { cmd: 'pubrec', messageId: id }) }, Math.floor(Math.random() * 3))
        } else if (p.cmd === 'pubrel') {
          this.held.delete(p.messageId)
          this.#send(sock, { cmd: 'pubcomp', messageId: p.messageId })
        }
      },
      onError: (err) => { onFail(err); sock.destroy() }
    })
    sock.on('data', (chunk: Buffer) => { parser.parse(chunk) })
    sock.on('error', (err) => { onFail(err) })
    sock.on('close', () => { onFail(new Error('closed')) })
    await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject) })
    const props = { sessionExpiryInterval: 3600, receiveMaximum: 8 }
    this.#send(sock, { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: false, clientId, keepalive: 0, properties: props })
    const present = await connack
    if (subscribe) this.#send(sock, { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'held/#', qos: 2, nl: false, rap: false, rh: 0 }] })
    return present
  }

  #send (sock: Socket, p: Packet): void {
    if (!sock.destroyed) sock.write(encode(p, 5))
  }

  drop (): void {
    this.sock?.destroy()
    this.sock = null
  }
}

/**
 * Add the QoS 2 test over `cycles` SIGKILLs (default 4; the environment variable
 * CULEX_DURABILITY_CYCLES sets it, e.g. 20 for a longer run).
 */
export function heldQos2Suite (t: Test, opts: DurabilityOptions & { cycles?: number }): void {
  const skip = culexSkip(t, 'the QoS 2 durability test')
  if (skip === null) return
  const env = Number(process.env.CULEX_DURABILITY_CYCLES)
  const cycles = Number.isInteger(env) && env > 0 ? env : opts.cycles ?? 4
  void t.test(`${opts.name}: QoS 2 exactly once over ${cycles} SIGKILLs of culex, with a subscriber that holds PUBREL state across them`, { skip, timeout: 30_000 + cycles * 8_000 }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'culex-held-'))
    t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
    const args = await opts.storeArgs(dir, t)
    const clientId = 'held-sub'
    const r = new Receiver()
    t.teardown(() => { r.drop() })
    let culex: Running = await startCulex(t, args, dir)
    await r.connect(culex.port, clientId, true)
    await sleep(100) // SUBACK
    const n = opts.publishers ?? 3
    const acked = new Set<string>()
    let seq = 0
    let clients: MqttClient[] = []
    t.teardown(() => { for (const c of clients) c.end(true) })
    for (let cycle = 0; cycle < cycles; cycle++) {
      const url = `mqtt://127.0.0.1:${culex.port}`
      clients = await Promise.all(Array.from({ length: n }, async () => await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000 })))
      const run = { stop: false }
      const loops = clients.map(async (c, p) => {
        while (!run.stop) {
          const body = `${cycle}:${p}:${seq++}`
          try {
            await c.publishAsync(`held/${p}`, body, { qos: 2 })
          } catch {
            return
          }
          if (!run.stop) acked.add(body)
        }
      })
      // the subscriber is offline for a while (its queue fills), then drains while the
      // publishers go on; the kill falls anywhere in that
      const offline = 50 + Math.floor(Math.random() * 150)
      const kill = offline + Math.floor(Math.random() * 400)
      await sleep(offline)
      if (r.sock === null) {
        try { await r.connect(culex.port, clientId, false) } catch { /* killed meanwhile */ }
      }
      await sleep(kill - offline)
      run.stop = true
      culex.proc.kill('SIGKILL')
      await culex.exited
      for (const c of clients) c.end(true)
      await within(Promise.all(loops), 2000, [])
      r.drop()
      culex = await startCulex(t, args, dir)
      // every other cycle the subscriber comes back at once; otherwise after the publishers began
      if (cycle % 2 === 0) t.equal(await r.connect(culex.port, clientId, false), true, `cycle ${cycle}: session present`)
    }
    if (r.sock === null) t.equal(await r.connect(culex.port, clientId, false), true, 'session present at the end')
    // drain until quiet
    let last = -1
    const deadline = Date.now() + 8_000
    while (Date.now() < deadline) {
      const total = [...r.got.values()].reduce((a, b) => a + b, 0)
      if ([...acked].every((b) => r.got.has(b)) && total === last && r.held.size === 0) break
      last = total
      await sleep(300)
    }
    const missing = [...acked].filter((b) => !r.got.has(b))
    const twice = [...r.got].filter(([, k]) => k > 1).map(([b]) => b)
    t.ok(acked.size > 0, `${acked.size} QoS 2 messages acknowledged over ${cycles} kills`)
    t.same(missing, [], `every acknowledged message delivered (${missing.length} missing; ${r.got.size} delivered, ${r.repeats} repeated under a held id)`)
    t.same(twice, [], `no message delivered twice (${twice.length} twice)`)
    t.equal(r.held.size, 0, 'every held id released')
  })
}
