/**
 * The `bridges:` list of the config file (config file only, like `plugins:`): each entry
 * connects this broker to one remote broker and maps topics in, out or both ways, as
 * Mosquitto's `connection` / `address` / `topic` lines do.
 *
 * Every failure is an {@link AppError} `CULEX_ERR_BRIDGE` naming the entry and the key,
 * what was expected and what arrived.
 */
import { resolve } from 'node:path'
import { checkTopicFilter } from '@culex/client'
import { AppError } from './errors.ts'

/** One `topics:` mapping of a bridge (Mosquitto: `topic <pattern> <direction> <qos> <local prefix> <remote prefix>`). */
export interface BridgeTopic {
  /** A topic filter, relative to both prefixes. */
  pattern: string
  /** `out`: local → remote; `in`: remote → local; `both`. */
  direction: 'in' | 'out' | 'both'
  /** Highest QoS both ways (the lower of this and the message's). Default 1. */
  qos: 0 | 1 | 2
  /** Prepended on the local side (default ''). */
  localPrefix: string
  /** Prepended on the remote side (default ''). */
  remotePrefix: string
}

/** One bridge, as parsed from the config file. */
export interface BridgeSpec {
  name: string
  /** mqtt://, mqtts://, ws://, wss:// */
  url: string
  protocolVersion: 4 | 5
  clientId: string
  username: string | undefined
  password: string | undefined
  /** Session Expiry Interval (seconds) asked of a 5.0 remote; 3.1.1 sessions do not expire. */
  sessionExpiry: number
  keepalive: number
  tls: { ca: string | undefined, cert: string | undefined, key: string | undefined, rejectUnauthorized: boolean }
  /** Reconnect backoff (ms): capped exponential with jitter. */
  reconnect: { initialDelay: number, maxDelay: number }
  /** Most messages taken for the remote and not yet acknowledged by it; past it they are dropped and counted. */
  queueLimit: number
  topics: BridgeTopic[]
}

const KEYS = ['name', 'url', 'protocolVersion', 'clientId', 'username', 'password', 'sessionExpiry', 'keepalive', 'tls', 'reconnect', 'queueLimit', 'topics']
const TOPIC_KEYS = ['pattern', 'direction', 'qos', 'localPrefix', 'remotePrefix']

/** kebab-case keys are accepted like the rest of the config file. */
function camel (key: string): string {
  return key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())
}

function mapping (v: unknown): Record<string, unknown> | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined
  const out: Record<string, unknown> = {}
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[camel(k)] = x
  return out
}

/**
 * Parse and check `bridges:`.
 *
 * @param value - the raw YAML/JSON value
 * @param file - the config file (for messages)
 * @throws AppError CULEX_ERR_BRIDGE
 */
export function parseBridges (value: unknown, file: string): BridgeSpec[] {
  const bad = (where: string, expected: string, got: unknown): AppError => new AppError('CULEX_ERR_BRIDGE',
    `config file ${file} key "bridges"${where}: expected ${expected}, got ${JSON.stringify(got) ?? String(got)}`, { option: 'bridges' })
  if (!Array.isArray(value)) throw bad('', 'a list of bridges ({ name, url, topics: [...] , ... })', value)
  const names = new Set<string>()
  return value.map((raw: unknown, i): BridgeSpec => {
    const at = `[${i}]`
    const e = mapping(raw)
    if (e === undefined) throw bad(at, 'a mapping { name, url, topics, ... }', raw)
    for (const k of Object.keys(e)) if (!KEYS.includes(k)) throw bad(`${at}.${k}`, `one of the keys ${KEYS.join(', ')}`, k)
    const str = (k: string, required: boolean): string | undefined => {
      const v = e[k]
      if (v === undefined || v === null) {
        if (required) throw bad(`${at}.${k}`, 'a non-empty string', v)
        return undefined
      }
      if (typeof v !== 'string' || v.trim() === '') throw bad(`${at}.${k}`, 'a non-empty string', v)
      return v.trim()
    }
    const int = (k: string, min: number, max: number, dflt: number): number => {
      const v = e[k]
      if (v === undefined || v === null) return dflt
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw bad(`${at}.${k}`, `an integer from ${min} to ${max}`, v)
      return v
    }
    const name = str('name', true)!
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw bad(`${at}.name`, 'letters, digits, _ . - (1 to 64; it names the $SYS topic and metrics)', name)
    if (names.has(name)) throw bad(`${at}.name`, 'a name no other bridge has', name)
    names.add(name)
    const url = str('url', true)!
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      throw bad(`${at}.url`, 'a URL mqtt://host:port, mqtts://, ws:// or wss://', url)
    }
    if (!['mqtt:', 'mqtts:', 'ws:', 'wss:', 'tcp:', 'tls:'].includes(parsed.protocol)) throw bad(`${at}.url`, 'a URL mqtt://host:port, mqtts://, ws:// or wss://', url)
    const pv = e.protocolVersion ?? 5
    if (pv !== 4 && pv !== 5) throw bad(`${at}.protocolVersion`, '4 (MQTT 3.1.1) or 5 (MQTT 5.0)', pv)
    const clientId = str('clientId', false) ?? `culex-bridge-${name}`
    if (Buffer.byteLength(clientId) > 65535) throw bad(`${at}.clientId`, 'at most 65535 bytes', clientId.length)
    const password = e.password
    if (password !== undefined && password !== null && typeof password !== 'string') throw bad(`${at}.password`, 'a string', password)
    const tlsRaw = e.tls === undefined || e.tls === null ? {} : mapping(e.tls)
    if (tlsRaw === undefined) throw bad(`${at}.tls`, 'a mapping { ca, cert, key, rejectUnauthorized }', e.tls)
    for (const k of Object.keys(tlsRaw)) if (!['ca', 'cert', 'key', 'rejectUnauthorized'].includes(k)) throw bad(`${at}.tls.${k}`, 'one of the keys ca, cert, key, rejectUnauthorized', k)
    const tlsPath = (k: string): string | undefined => {
      const v = tlsRaw[k]
      if (v === undefined || v === null) return undefined
      if (typeof v !== 'string' || v.trim() === '') throw bad(`${at}.tls.${k}`, 'the path of a PEM file', v)
      return v.trim()
    }
    const ru = tlsRaw.rejectUnauthorized ?? true
    if (typeof ru !== 'boolean') throw bad(`${at}.tls.rejectUnauthorized`, 'true or false', ru)
    const tls = { ca: tlsPath('ca'), cert: tlsPath('cert'), key: tlsPath('key'), rejectUnauthorized: ru }
    if ((tls.cert === undefined) !== (tls.key === undefined)) throw bad(`${at}.tls`, 'both cert and key, or neither', tlsRaw)
    const rcRaw = e.reconnect === undefined || e.reconnect === null ? {} : mapping(e.reconnect)
    if (rcRaw === undefined) throw bad(`${at}.reconnect`, 'a mapping { initialDelay, maxDelay } (milliseconds)', e.reconnect)
    const ms = (k: string, dflt: number): number => {
      const v = rcRaw[k] ?? dflt
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 10 || v > 3_600_000) throw bad(`${at}.reconnect.${k}`, 'milliseconds from 10 to 3600000', v)
      return v
    }
    const reconnect = { initialDelay: ms('initialDelay', 500), maxDelay: ms('maxDelay', 30_000) }
    if (reconnect.maxDelay < reconnect.initialDelay) throw bad(`${at}.reconnect.maxDelay`, `at least initialDelay (${reconnect.initialDelay})`, reconnect.maxDelay)
    if (!Array.isArray(e.topics) || e.topics.length === 0) throw bad(`${at}.topics`, 'a non-empty list of { pattern, direction, qos, localPrefix, remotePrefix }', e.topics)
    const topics = e.topics.map((rawTopic: unknown, j): BridgeTopic => {
      const tat = `${at}.topics[${j}]`
      const m = typeof rawTopic === 'string' ? { pattern: rawTopic } : mapping(rawTopic)
      if (m === undefined) throw bad(tat, 'a topic filter or a mapping { pattern, direction, qos, localPrefix, remotePrefix }', rawTopic)
      for (const k of Object.keys(m)) if (!TOPIC_KEYS.includes(k)) throw bad(`${tat}.${k}`, `one of the keys ${TOPIC_KEYS.join(', ')}`, k)
      const pattern = m.pattern
      if (typeof pattern !== 'string' || pattern === '') throw bad(`${tat}.pattern`, 'a topic filter such as sensors/#', pattern)
      const direction = m.direction ?? 'out'
      if (direction !== 'in' && direction !== 'out' && direction !== 'both') throw bad(`${tat}.direction`, 'in, out or both', direction)
      const qos = m.qos ?? 1
      if (qos !== 0 && qos !== 1 && qos !== 2) throw bad(`${tat}.qos`, '0, 1 or 2', qos)
      const prefix = (k: 'localPrefix' | 'remotePrefix'): string => {
        const v = m[k] ?? ''
        if (typeof v !== 'string' || /[+#]/.test(v) || v.includes('\u0000')) throw bad(`${tat}.${k}`, 'a topic prefix without wildcards (e.g. "site1/")', v)
        return v
      }
      const localPrefix = prefix('localPrefix')
      const remotePrefix = prefix('remotePrefix')
      for (const [side, full] of [['local', localPrefix + pattern], ['remote', remotePrefix + pattern]] as const) {
        const err = checkTopicFilter(full)
        if (err !== undefined) throw bad(`${tat}.pattern`, `a valid topic filter (${side} side ${JSON.stringify(full)}: ${err})`, pattern)
        if (full.startsWith('$share/')) throw bad(`${tat}.pattern`, 'a filter without $share/', full)
      }
      return { pattern, direction, qos, localPrefix, remotePrefix }
    })
    return {
      name,
      url,
      protocolVersion: pv,
      clientId,
      username: str('username', false),
      password: password === null ? undefined : password as string | undefined,
      sessionExpiry: int('sessionExpiry', 1, 0xFFFFFFFF, 0xFFFFFFFF),
      keepalive: int('keepalive', 0, 65535, 60),
      tls,
      reconnect,
      queueLimit: int('queueLimit', 1, 10_000_000, 10_000),
      topics
    }
  })
}

/** Make the TLS paths of `specs` absolute against `cwd` (like every other path option). */
export function resolveBridgePaths (specs: readonly BridgeSpec[], cwd: string): BridgeSpec[] {
  const abs = (p: string | undefined): string | undefined => p === undefined ? undefined : resolve(cwd, p)
  return specs.map(b => ({ ...b, tls: { ...b.tls, ca: abs(b.tls.ca), cert: abs(b.tls.cert), key: abs(b.tls.key) } }))
}
