/**
 * End-to-end durability through the real `culex` process (apps/broker/dist/cli.js) and real
 * MQTT.js clients: a persistent-session subscriber goes offline; several publishers send
 * QoS 1 or 2 messages and record which were acknowledged; the broker is SIGKILLed at a random
 * moment while they publish; it restarts on the same store; the subscriber reconnects and
 * must receive every acknowledged message, in order per publisher, QoS 2 exactly once; the
 * retained message and the session survive.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import mqtt from 'mqtt'
import { within } from '@culex/test-kit'
import { culexSkip, startCulex } from './culex.ts'

/** Options of {@link durabilitySuite}. */
export interface DurabilityOptions {
  /** e.g. 'LevelStore' */
  name: string
  /** culex arguments selecting the store, given a fresh temp dir. */
  storeArgs: (dir: string, t: Test) => Promise<string[]> | string[]
  /** Publishers per run. Default 3. */
  publishers?: number
}

/**
 * Add the SIGKILL durability tests (QoS 1 and QoS 2) to `t`. When apps/broker is not built
 * they are skipped with the reason printed, except under CI (`CI` set), where turbo builds the
 * app before these tests and a missing build is a failure, not a silent gap.
 */
export function durabilitySuite (t: Test, opts: DurabilityOptions): void {
  const skip = culexSkip(t, 'the durability tests')
  if (skip === null) return
  for (const qos of [1, 2] as const) {
    void t.test(`${opts.name}: QoS ${qos} acknowledged messages survive a SIGKILL of culex at a random moment`, { skip, timeout: 60_000 }, async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'culex-durability-'))
      t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
      const args = await opts.storeArgs(dir, t)
      const clientId = `durable-sub-${qos}`
      const first = await startCulex(t, args, dir)
      const url1 = `mqtt://127.0.0.1:${first.port}`
      const sub = await mqtt.connectAsync(url1, { clientId, clean: false, reconnectPeriod: 0, connectTimeout: 5000 })
      await sub.subscribeAsync('dur/#', { qos })
      await sub.endAsync()
      const setup = await mqtt.connectAsync(url1, { reconnectPeriod: 0, connectTimeout: 5000 })
      await setup.publishAsync('kept/retained', 'r', { qos: 1, retain: true })
      await setup.endAsync()

      const n = opts.publishers ?? 3
      const acked: number[][] = Array.from({ length: n }, () => [])
      const clients = await Promise.all(Array.from({ length: n }, async () => await mqtt.connectAsync(url1, { reconnectPeriod: 0, connectTimeout: 5000 })))
      t.teardown(() => { for (const c of clients) c.end(true) })
      const run = { stop: false }
      const loops: Array<Promise<void>> = []
      for (let p = 0; p < n; p++) {
        loops.push((async () => {
          for (let i = 0; !run.stop; i++) {
            try {
              await clients[p]!.publishAsync(`dur/${p}`, `${p}:${i}`, { qos })
            } catch {
              return
            }
            if (!run.stop) acked[p]!.push(i)
          }
        })())
      }
      const delay = 150 + Math.floor(Math.random() * 600)
      t.comment(`SIGKILL after ${delay} ms`)
      await new Promise((resolve) => setTimeout(resolve, delay))
      // acks that arrive after this line are not counted: the kill may race them
      const snapshot = acked.map((a) => a.slice())
      first.proc.kill('SIGKILL')
      run.stop = true
      await first.exited
      for (const c of clients) c.end(true)
      await within(Promise.all(loops), 2000, [])
      const total = snapshot.reduce((s, a) => s + a.length, 0)
      t.ok(total > 0, `${total} messages acknowledged before the kill`)

      const second = await startCulex(t, args, dir)
      const url2 = `mqtt://127.0.0.1:${second.port}`
      const got: string[] = []
      const back = mqtt.connect(url2, { clientId, clean: false, reconnectPeriod: 0, connectTimeout: 5000 })
      t.teardown(() => { back.end(true) })
      back.on('message', (_topic, payload) => { got.push(payload.toString()) })
      const present = await new Promise<boolean>((resolve, reject) => {
        back.once('connect', (ack) => { resolve(ack.sessionPresent) })
        back.once('error', reject)
      })
      t.equal(present, true, 'session present after the restart')
      const want = new Set(snapshot.flatMap((a, p) => a.map((i) => `${p}:${i}`)))
      const deadline = Date.now() + 20_000
      while (Date.now() < deadline && [...want].some((m) => !got.includes(m))) await new Promise((resolve) => setTimeout(resolve, 50))
      // QoS 2: a quiet period, so late duplicates would show (QoS 1 allows duplicates, and a
      // late one cannot change what is checked for it: nothing missing, first copies in order)
      if (qos === 2) await new Promise((resolve) => setTimeout(resolve, 500))
      const missing = [...want].filter((m) => !got.includes(m))
      t.same(missing, [], `every acknowledged message delivered (${want.size} acknowledged, ${got.length} received)`)
      for (let p = 0; p < n; p++) {
        const seen = got.filter((m) => m.startsWith(`${p}:`)).map((m) => Number(m.slice(m.indexOf(':') + 1)))
        const firsts = seen.filter((v, i) => seen.indexOf(v) === i)
        t.same(firsts, [...firsts].sort((a, b) => a - b), `publisher ${p}: in order`)
        if (qos === 2) t.equal(seen.length, firsts.length, `publisher ${p}: QoS 2 exactly once`)
      }
      const reader = await mqtt.connectAsync(url2, { reconnectPeriod: 0, connectTimeout: 5000 })
      t.teardown(() => { reader.end(true) })
      const retained = new Promise<string>((resolve) => { reader.once('message', (_t, p) => { resolve(p.toString()) }) })
      await reader.subscribeAsync('kept/#', { qos: 1 })
      t.equal(await retained, 'r', 'retained message survived')
    })
  }
}
