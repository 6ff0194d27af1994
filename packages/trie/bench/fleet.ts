// Fleet-shaped subscriptions, shared by every bench. Per site: 100 devices each subscribed
// to its own `fleet/{site}/{device}/telemetry`, 5 site dashboards on `fleet/{site}/#`, and 5
// shared groups on `$share/g{k}/fleet/{site}/+/telemetry`; plus 20 alert consumers on
// `fleet/+/+/alerts` for the whole fleet. That is 110 subscriptions per site + 20.
import { parseShared, type SharedFilter } from '../src/index.ts'

export interface Sub {
  clientId: string
  qos: number
  /** the filter as the client sent it (may be `$share/...`) */
  topic: string
  /** the filter that goes into the matcher (`$share/` stripped) */
  filter: string
  group: string | null
}

export const DEVICES_PER_SITE = 100
export const ALERT_SUBSCRIBERS = 20

export function sitesFor (n: number): number {
  return Math.max(1, Math.round((n - ALERT_SUBSCRIBERS) / (DEVICES_PER_SITE + 10)))
}

// Flat (sequential) strings, so that no contestant pays for flattening cons strings.
function flat (s: string): string {
  return JSON.parse(JSON.stringify(s)) as string
}

/** About `n` fleet subscriptions (exactly 110 per site + 20), in a stable order. */
export function fleetSubscriptions (n: number): Sub[] {
  const subs: Sub[] = []
  const sites = sitesFor(n)
  for (let s = 0; s < sites; s++) {
    for (let d = 0; d < DEVICES_PER_SITE; d++) {
      const f = flat(`fleet/s${s}/d${d}/telemetry`)
      subs.push({ clientId: flat(`dev-${s}-${d}`), qos: 1, topic: f, filter: f, group: null })
    }
    for (let k = 0; k < 5; k++) {
      const f = flat(`fleet/s${s}/#`)
      subs.push({ clientId: flat(`dash-${s}-${k}`), qos: 0, topic: f, filter: f, group: null })
    }
    for (let k = 0; k < 5; k++) {
      const topic = flat(`$share/g${k}/fleet/s${s}/+/telemetry`)
      const shared = parseShared(topic) as SharedFilter
      subs.push({ clientId: flat(`worker-${s}-${k}`), qos: 1, topic, filter: flat(shared.filter), group: shared.group })
    }
  }
  for (let k = 0; k < ALERT_SUBSCRIBERS; k++) {
    const f = flat('fleet/+/+/alerts')
    subs.push({ clientId: flat(`ops-${k}`), qos: 2, topic: f, filter: f, group: null })
  }
  return subs
}

// xorshift32: the same pseudo-random topics in every run and for every contestant
export function rng (seed: number): () => number {
  let x = seed | 0 || 1
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 4294967296
  }
}

/** Topics that match: device telemetry (11 subscriptions each) and alerts (25 each). */
export function hitTopics (n: number, count: number): string[] {
  const sites = sitesFor(n)
  const r = rng(1)
  const out: string[] = []
  for (let i = 0; i < count; i++) {
    const s = Math.floor(r() * sites)
    const d = Math.floor(r() * DEVICES_PER_SITE)
    out.push(flat(i % 4 === 3 ? `fleet/s${s}/d${d}/alerts` : `fleet/s${s}/d${d}/telemetry`))
  }
  return out
}

/** Topics that match nothing but walk into the fleet branch (unknown site, not alerts). */
export function missTopics (count: number): string[] {
  const r = rng(2)
  const out: string[] = []
  for (let i = 0; i < count; i++) {
    out.push(flat(`fleet/x${Math.floor(r() * 1e6)}/d${Math.floor(r() * 100)}/status`))
  }
  return out
}
