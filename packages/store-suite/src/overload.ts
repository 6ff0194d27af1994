/**
 * End-to-end overload through the real `culex` process and MQTT.js clients: 4 publishers
 * each keep 100 QoS 1 or 2 PUBLISH unacknowledged, one persistent wildcard subscriber
 * acknowledges slowly, and its queue bound (`--max-queued-messages`) is small, so the queue
 * is full most of the run. Every acknowledged message must arrive, exactly once for QoS 2,
 * in order per publisher: a full queue holds back its publishers' acks, it never drops.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import mqtt from 'mqtt'
import { culexSkip, startCulex } from './culex.ts'

/** Options of {@link overloadSuite}. */
export interface OverloadOptions {
  /** e.g. 'LevelStore' */
  name: string
  /** culex arguments selecting the store, given a fresh temp dir. */
  storeArgs: (dir: string, t: Test) => Promise<string[]> | string[]
  /** Messages per publisher. Default 500. */
  count?: number
}

const PUBLISHERS = 4
const WINDOW = 100

/** Add the overload tests (QoS 1 and QoS 2, persistent subscriber) to `t`. */
export function overloadSuite (t: Test, opts: OverloadOptions): void {
  const skip = culexSkip(t, 'the overload tests')
  if (skip === null) return
  const count = opts.count ?? 500
  for (const qos of [1, 2] as const) {
    void t.test(`${opts.name}: overload, QoS ${qos}, persistent slow subscriber: 0 acknowledged messages lost${qos === 2 ? ', no duplicate' : ''}`, { skip, timeout: 120_000 }, async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'culex-overload-'))
      t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
      const args = await opts.storeArgs(dir, t)
      const culex = await startCulex(t, ['--max-queued-messages', '50', ...args], dir)
      const url = `mqtt://127.0.0.1:${culex.port}`
      const got: string[] = []
      const sub = await mqtt.connectAsync(url, { clientId: `overload-sub-${qos}`, clean: false, reconnectPeriod: 0, connectTimeout: 5000 })
      t.teardown(() => { sub.end(true) })
      // a slow subscriber: each ack leaves 1 ms after the message arrived (every 10th: 5 ms)
      let n = 0
      sub.handleMessage = (packet, done) => {
        got.push(String(packet.payload))
        setTimeout(done, ++n % 10 === 0 ? 5 : 1)
      }
      await sub.subscribeAsync('load/#', { qos })
      const pubs = await Promise.all(Array.from({ length: PUBLISHERS }, async () => await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000 })))
      t.teardown(() => { for (const p of pubs) p.end(true) })
      const acked = await Promise.all(pubs.map(async (p, i) => {
        const ok: string[] = []
        let next = 0
        const one = async (): Promise<void> => {
          while (next < count) {
            const payload = `${i}:${next++}`
            await p.publishAsync(`load/${i}`, payload, { qos })
            ok.push(payload)
          }
        }
        await Promise.all(Array.from({ length: WINDOW }, one))
        return ok
      }))
      const want = acked.flat()
      t.equal(want.length, PUBLISHERS * count, `all ${PUBLISHERS * count} acknowledged`)
      // wait until everything arrived, or nothing new came for 3 s
      const seen = new Set<string>()
      let last = got.length
      let quietSince = Date.now()
      while (Date.now() - quietSince < 3000) {
        for (const m of got) seen.add(m)
        if (want.every((m) => seen.has(m))) break
        if (got.length !== last) {
          last = got.length
          quietSince = Date.now()
        }
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      await new Promise((resolve) => setTimeout(resolve, 300)) // late duplicates would show
      for (const m of got) seen.add(m)
      t.same(want.filter((m) => !seen.has(m)), [], `every acknowledged message delivered (${got.length} received)`)
      if (qos === 2) t.equal(got.length, seen.size, 'QoS 2: no duplicate')
      for (let p = 0; p < PUBLISHERS; p++) {
        const mine = got.filter((m) => m.startsWith(`${p}:`)).map((m) => Number(m.slice(m.indexOf(':') + 1)))
        const firsts = mine.filter((v, i) => mine.indexOf(v) === i)
        t.same(firsts, [...firsts].sort((a, b) => a - b), `publisher ${p}: in order`)
      }
    })
  }
}
