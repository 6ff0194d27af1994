/**
 * Configuration: command-line flags, `CULEX_*` environment variables and a JSON or YAML
 * config file, merged with precedence flags > env > file > defaults, then checked as a whole.
 *
 * Everything here is a pure function of its inputs (argv, env, file text) except
 * {@link loadConfig}, which reads the config file. Every failure is an {@link AppError} whose
 * message names the option, where it came from, what was expected and what arrived.
 */
import { readFileSync } from 'node:fs'
import { resolve, extname } from 'node:path'
import { isIP } from 'node:net'
import { parse as parseYaml } from 'yaml'
import { AppError } from './errors.ts'
import { OPTIONS, BY_FLAG, BY_ENV, BY_KEY, envName, type OptionSpec, type OptionValues } from './options.ts'
import type { QueuePolicy } from '@culex/broker'
import type { PluginSpec } from './plugins/index.ts'
import { parseBridges, resolveBridgePaths, type BridgeSpec } from './bridge-config.ts'

/** Options as given by one source; absent keys were not given. */
export type PartialOptions = Partial<OptionValues>

/** Which store to use, parsed from `--store`. */
export type StoreChoice =
  | { kind: 'memory' }
  | { kind: 'level', dataDir: string, fsync: boolean }
  | { kind: 'redis', url: string }
  | { kind: 'mongo', url: string }

/** The resolved configuration the server starts from. */
export interface Config {
  /** Addresses every listener binds to (default: both loopback addresses). */
  hosts: string[]
  /** True when `hosts` is the default loopback pair; ::1 is then optional (IPv6 may be off). */
  defaultHosts: boolean
  port: number
  tlsPort: number | undefined
  wsPort: number | undefined
  wssPort: number | undefined
  cert: string | undefined
  key: string | undefined
  ca: string | undefined
  requireClientCert: boolean
  useIdentityAsUsername: boolean
  /** TCP and TLS listeners read a PROXY protocol v1/v2 header first. */
  proxyProtocol: boolean
  httpStatic: string | undefined
  allowAnonymous: boolean
  passwordFile: string | undefined
  aclFile: string | undefined
  store: StoreChoice
  nodeId: string | undefined
  /** Use a RedisBus on the store's Redis (only with a redis store). */
  cluster: boolean
  /** --cluster: ms without a heartbeat after which a node is dead (RedisBus deadAfterMs). */
  clusterDeadAfter: number
  /** --cluster without --node-id: the directory that keeps this node's id (--data-dir). */
  nodeIdDir: string | undefined
  sysInterval: number
  /** Engine persistInflight: store deliveries to connected persistent sessions too. */
  persistInflight: boolean
  /** Engine queuePolicy. */
  queuePolicy: QueuePolicy
  limits: {
    maxKeepalive?: number
    maxConnections?: number
    maxPendingConnections?: number
    maxPendingPerAddress?: number
    maxConnectPacketSize?: number
    maxUserProperties?: number
    maxUserPropertyBytes?: number
    maxTopicAliasBytes?: number
    maxAliasedTopicLength?: number
    maxPacketSize?: number
    maxTopicLevels?: number
    maxQueuedMessages?: number
    maxQueuedBytes?: number
    stallTimeout?: number
    maxStoredMessages?: number
    maxInflight?: number
    maxInflightOut?: number
    maxRetained?: number
    connectTimeout?: number
    publishRatePerSecond?: number
    topicAliasMaximum?: number
    maxBufferedBytes?: number
    maxSessionExpiryInterval?: number
  }
  verbose: boolean
  /** pino level. */
  logLevel: LogLevel
  /** undefined: pretty on a terminal, json otherwise. */
  logFormat: 'json' | 'pretty' | undefined
  /** The only WebSocket path accepted; undefined accepts any path. */
  wsPath: string | undefined
  /** Operator HTTP(S) listeners (off when both ports are undefined). */
  http: {
    port: number | undefined
    httpsPort: number | undefined
    hosts: string[]
    defaultHosts: boolean
    token: string | undefined
    maxBody: number
  }
  /** `plugins:` of the config file, in order (empty without). */
  plugins: PluginSpec[]
  /** `bridges:` of the config file (empty without). */
  bridges: BridgeSpec[]
  /** The CoAP gateway (off when undefined). */
  coap: { port: number, hosts: string[], defaultHosts: boolean, username: string | undefined } | undefined
}

/** Levels of --log-level. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = typeof LOG_LEVELS[number]

/** What the command line asks for besides options. */
export interface ParsedArgv {
  options: PartialOptions
  help: boolean
  version: boolean
}

const TRUE = new Set(['1', 'true', 'yes', 'on'])
const FALSE = new Set(['0', 'false', 'no', 'off'])

/**
 * Check and convert one raw value for `spec`.
 *
 * @param raw - a string (flag or env) or any JSON/YAML value (config file)
 * @param where - e.g. `flag --port`, `CULEX_PORT`, `config file a.yaml key "port"`
 * @throws AppError CULEX_ERR_INVALID_OPTION
 */
export function coerce (spec: OptionSpec, raw: unknown, where: string): string | number | boolean {
  const bad = (expected: string): AppError => new AppError('CULEX_ERR_INVALID_OPTION',
    `${where}: expected ${expected}, got ${JSON.stringify(raw)}`, { option: spec.key })
  switch (spec.kind) {
    case 'int': {
      let n: number
      if (typeof raw === 'number') n = raw
      else if (typeof raw === 'string' && /^\s*\d+\s*$/.test(raw)) n = Number(raw)
      else throw bad(`an integer from ${spec.min} to ${spec.max}`)
      if (!Number.isSafeInteger(n) || n < (spec.min ?? 0) || n > (spec.max ?? Number.MAX_SAFE_INTEGER)) {
        throw bad(`an integer from ${spec.min} to ${spec.max}`)
      }
      return n
    }
    case 'bool': {
      if (typeof raw === 'boolean') return raw
      if (typeof raw === 'string') {
        const s = raw.trim().toLowerCase()
        if (TRUE.has(s)) return true
        if (FALSE.has(s)) return false
      }
      throw bad('true or false (also 1/0, yes/no, on/off)')
    }
    case 'store': {
      if (typeof raw !== 'string') throw bad('memory, level, redis://..., rediss://..., redis+cluster://host:port,..., rediss+cluster://..., mongodb://... or mongodb+srv://...')
      const s = raw.trim()
      if (s === 'memory' || s === 'level') return s
      const cluster = /^rediss?\+cluster:\/\/(.*)$/i.exec(s)
      if (cluster !== null) {
        // startup nodes of a Redis Cluster: [user:password@]host:port[,host:port...]
        const rest = cluster[1]!.replace(/\/$/, '')
        const nodes = rest.slice(rest.lastIndexOf('@') + 1).split(',')
        const node = /^(?:\[[^\]]+\]|[^:[\]/?#@]+)(?::(\d{1,5}))?$/
        if (!nodes.every((n) => { const m = node.exec(n); return m !== null && (m[1] === undefined || (Number(m[1]) >= 1 && Number(m[1]) <= 65535)) })) {
          throw bad('redis+cluster://[user:password@]host:port[,host:port...] (Redis Cluster startup nodes, ports 1 to 65535, no database)')
        }
        return s
      }
      if (/^mongodb:\/\//.test(s)) {
        // a host list (replica set) is no WHATWG URL: checked here, parsed by the driver
        if (!/^mongodb:\/\/(?:[^@/?#]*@)?(?:\[[^\]]+\]|[^:,[\]/?#@]+)(?::\d{1,5})?(?:,(?:\[[^\]]+\]|[^:,[\]/?#@]+)(?::\d{1,5})?)*(?:\/[^?#]*)?(?:\?[^#]*)?$/.test(s)) {
          throw bad('mongodb://[user:password@]host[:port][,host[:port]...][/database][?options]')
        }
        return s
      }
      if (/^(rediss?|mongodb\+srv):\/\//.test(s)) {
        try {
          // eslint-disable-next-line no-new
          new URL(s)
        } catch {
          throw bad('a valid URL')
        }
        return s
      }
      throw bad('memory, level, redis://..., rediss://..., redis+cluster://host:port,..., rediss+cluster://..., mongodb://... or mongodb+srv://...')
    }
    default: {
      if (typeof raw !== 'string' || raw.trim() === '') throw bad(spec.choices === undefined ? 'a non-empty string' : `one of ${spec.choices.join(', ')}`)
      if (spec.choices !== undefined && !spec.choices.includes(raw.trim())) throw bad(`one of ${spec.choices.join(', ')}`)
      return raw.trim()
    }
  }
}

function set (out: PartialOptions, spec: OptionSpec, value: string | number | boolean): void {
  (out as Record<string, unknown>)[spec.key] = value
}

/**
 * Parse command-line arguments (without `node` and the script). Supports `--flag value`,
 * `--flag=value`, `-p value`, bare boolean flags (`--allow-anonymous`), `--no-<bool>` and
 * `--help`/`-h`, `--version`.
 *
 * @throws AppError CULEX_ERR_UNKNOWN_OPTION, CULEX_ERR_MISSING_VALUE, CULEX_ERR_INVALID_OPTION
 */
export function parseArgv (argv: readonly string[]): ParsedArgv {
  const options: PartialOptions = {}
  let help = false
  let version = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--help' || arg === '-h') { help = true; continue }
    if (arg === '--version') { version = true; continue }
    let name: string
    let inline: string | undefined
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=')
      name = eq === -1 ? arg.slice(2) : arg.slice(2, eq)
      inline = eq === -1 ? undefined : arg.slice(eq + 1)
    } else if (/^-[a-zA-Z]$/.test(arg)) {
      name = arg.slice(1)
    } else {
      throw new AppError('CULEX_ERR_UNKNOWN_OPTION', `unexpected argument ${JSON.stringify(arg)}: expected an option such as --port (see --help)`)
    }
    const spec = BY_FLAG.get(name)
    if (spec === undefined && name.startsWith('no-')) {
      const negated = BY_FLAG.get(name.slice(3))
      if (negated?.kind === 'bool' && inline === undefined) { set(options, negated, false); continue }
    }
    if (spec === undefined) {
      throw new AppError('CULEX_ERR_UNKNOWN_OPTION', `unknown option ${JSON.stringify(arg)} (see --help for the list)`)
    }
    const where = `option ${arg.startsWith('--') ? '--' + name : arg}`
    if (spec.kind === 'bool' && inline === undefined) {
      // A bare boolean flag; an explicit value must use --flag=value.
      set(options, spec, true)
      continue
    }
    let raw = inline
    if (raw === undefined) {
      const next = argv[i + 1]
      if (next === undefined) {
        throw new AppError('CULEX_ERR_MISSING_VALUE', `${where}: expected a value after it, got the end of the arguments`, { option: spec.key })
      }
      raw = next
      i++
    }
    set(options, spec, coerce(spec, raw, where))
  }
  return { options, help, version }
}

/**
 * Read `CULEX_*` variables. Any other `CULEX_` variable is an error (a typo must not be
 * silently ignored); empty values count as unset.
 *
 * @throws AppError CULEX_ERR_UNKNOWN_OPTION, CULEX_ERR_INVALID_OPTION
 */
export function parseEnv (env: Readonly<Record<string, string | undefined>>): PartialOptions {
  const out: PartialOptions = {}
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('CULEX_') || value === undefined || value === '') continue
    const spec = BY_ENV.get(name)
    if (spec === undefined) {
      throw new AppError('CULEX_ERR_UNKNOWN_OPTION', `unknown environment variable ${name} (known: ${[...BY_ENV.keys()].join(', ')})`)
    }
    set(out, spec, coerce(spec, value, `environment variable ${name}`))
  }
  return out
}

/**
 * Parse a config file's text: JSON when the name ends in `.json`, otherwise YAML (a superset
 * of JSON). The document must be a mapping of option keys (camelCase or kebab-case).
 *
 * @throws AppError CULEX_ERR_CONFIG_FILE, CULEX_ERR_UNKNOWN_OPTION, CULEX_ERR_INVALID_OPTION
 */
export function parseConfigText (text: string, file: string): PartialOptions {
  let doc: unknown
  try {
    doc = extname(file).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text)
  } catch (err) {
    throw new AppError('CULEX_ERR_CONFIG_FILE', `config file ${file}: expected valid ${extname(file).toLowerCase() === '.json' ? 'JSON' : 'YAML'}, got a parse error: ${(err as Error).message}`, { cause: err })
  }
  if (doc === null || doc === undefined) return {}
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new AppError('CULEX_ERR_CONFIG_FILE', `config file ${file}: expected a mapping of options, got ${Array.isArray(doc) ? 'a list' : typeof doc}`)
  }
  const out: PartialOptions = {}
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    if (key === 'plugins') {
      if (value !== null && value !== undefined) out.plugins = parsePlugins(value, file)
      continue
    }
    if (key === 'bridges') {
      if (value !== null && value !== undefined) out.bridges = parseBridges(value, file)
      continue
    }
    const spec = BY_KEY.get(key)
    if (spec === undefined || spec.key === 'config') {
      throw new AppError('CULEX_ERR_UNKNOWN_OPTION', `config file ${file}: unknown key ${JSON.stringify(key)} (known: ${OPTIONS.filter(o => o.key !== 'config').map(o => o.key).join(', ')})`)
    }
    if (value === null || value === undefined) continue
    set(out, spec, coerce(spec, value, `config file ${file} key ${JSON.stringify(key)}`))
  }
  return out
}

/**
 * The `plugins:` list of a config file: each entry a module name, or a mapping with
 * `module` and optional `options` (a mapping).
 *
 * @throws AppError CULEX_ERR_CONFIG_FILE
 */
function parsePlugins (value: unknown, file: string): NonNullable<PartialOptions['plugins']> {
  const bad = (where: string, got: unknown): AppError => new AppError('CULEX_ERR_CONFIG_FILE',
    `config file ${file} key "plugins"${where}: expected a module name or a mapping { module: <name or path>, options: { ... } }, got ${JSON.stringify(got)}`, { option: 'plugins' })
  if (!Array.isArray(value)) throw bad('', value)
  return value.map((entry: unknown, i) => {
    if (typeof entry === 'string' && entry.trim() !== '') return { module: entry.trim(), options: {} }
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw bad(`[${i}]`, entry)
    const { module, options, ...rest } = entry as Record<string, unknown>
    if (typeof module !== 'string' || module.trim() === '' || Object.keys(rest).length > 0) throw bad(`[${i}]`, entry)
    if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) throw bad(`[${i}].options`, options)
    return { module: module.trim(), options: (options ?? {}) as Record<string, unknown> }
  })
}

/** Merge sources, later ones winning: `merge(file, env, flags)`. */
export function merge (...sources: PartialOptions[]): PartialOptions {
  const out: PartialOptions = {}
  for (const s of sources) {
    for (const [k, v] of Object.entries(s)) if (v !== undefined) (out as Record<string, unknown>)[k] = v
  }
  return out
}

/** Whether `host` is a loopback address or `localhost`. */
export function isLoopback (host: string): boolean {
  if (host === 'localhost' || host === '::1') return true
  return isIP(host) === 4 && host.startsWith('127.')
}

/**
 * Apply defaults and cross-option rules to merged options.
 *
 * @param cwd - base of relative paths (default data dir is `<cwd>/.culex-data`)
 * @throws AppError CULEX_ERR_CONFLICT, CULEX_ERR_INSECURE
 */
export function finalize (o: PartialOptions, cwd: string): Config {
  const path = (p: string | undefined): string | undefined => p === undefined ? undefined : resolve(cwd, p)
  const conflict = (option: string, message: string): AppError => new AppError('CULEX_ERR_CONFLICT', message, { option })

  const hosts = o.host === undefined ? ['127.0.0.1', '::1'] : [o.host]
  const allowAnonymous = o.allowAnonymous ?? o.passwordFile === undefined
  if (o.host !== undefined && !isLoopback(o.host) && o.passwordFile === undefined && o.allowAnonymous !== true) {
    // Mosquitto 2.0's rule: without authentication, only local clients may connect.
    throw new AppError('CULEX_ERR_INSECURE', `option --host: to listen on ${o.host} (not a loopback address) expected --password-file or --allow-anonymous, got neither; ` +
      'without them culex listens on loopback only', { option: 'host' })
  }
  for (const k of ['tlsPort', 'wssPort'] as const) {
    if (o[k] !== undefined && (o.cert === undefined || o.key === undefined)) {
      throw conflict(k, `option ${k === 'tlsPort' ? '--tls-port' : '--wss-port'}: expected --cert and --key as well, got ${o.cert === undefined ? 'no --cert' : 'no --key'}`)
    }
  }
  if ((o.cert === undefined) !== (o.key === undefined)) {
    throw conflict(o.cert === undefined ? 'cert' : 'key', `options --cert and --key: expected both or neither, got only ${o.cert === undefined ? '--key' : '--cert'}`)
  }
  if (o.requireClientCert === true) {
    if (o.ca === undefined) throw conflict('requireClientCert', 'option --require-client-cert: expected --ca (the CA that signs client certificates), got none')
    if (o.tlsPort === undefined && o.wssPort === undefined) throw conflict('requireClientCert', 'option --require-client-cert: expected a --tls-port or --wss-port listener, got none')
  }
  if (o.useIdentityAsUsername === true && o.requireClientCert !== true) {
    throw conflict('useIdentityAsUsername', 'option --use-identity-as-username: expected --require-client-cert (only a verified certificate is an identity), got none')
  }
  if (o.httpStatic !== undefined && o.wsPort === undefined && o.wssPort === undefined) {
    throw conflict('httpStatic', 'option --http-static: expected a --ws-port or --wss-port listener to serve it on, got none')
  }
  const ports: Array<[string, number | undefined]> = [['--port', o.port ?? 1883], ['--tls-port', o.tlsPort], ['--ws-port', o.wsPort], ['--wss-port', o.wssPort]]
  const seen = new Map<number, string>()
  for (const [flag, p] of ports) {
    if (p === undefined || p === 0) continue
    const other = seen.get(p)
    if (other !== undefined) throw conflict(flag.slice(2), `option ${flag}: expected a port different from ${other}, got ${p} for both`)
    seen.set(p, flag)
  }

  if (o.httpsPort !== undefined && (o.cert === undefined || o.key === undefined)) {
    throw conflict('httpsPort', `option --https-port: expected --cert and --key as well, got ${o.cert === undefined ? 'no --cert' : 'no --key'}`)
  }
  for (const [key, flag, p] of [['httpPort', '--http-port', o.httpPort], ['httpsPort', '--https-port', o.httpsPort]] as const) {
    if (p === undefined || p === 0) continue
    const other = seen.get(p)
    if (other !== undefined) throw conflict(key, `option ${flag}: expected a port different from ${other}, got ${p} for both`)
    seen.set(p, flag)
  }
  const invalid = (key: string, flag: string, expected: string, got: unknown): AppError =>
    new AppError('CULEX_ERR_INVALID_OPTION', `option --${flag}: expected ${expected}, got ${JSON.stringify(got)}`, { option: key })
  if (o.logLevel !== undefined && !(LOG_LEVELS as readonly string[]).includes(o.logLevel)) throw invalid('logLevel', 'log-level', LOG_LEVELS.join(', '), o.logLevel)
  if (o.logFormat !== undefined && o.logFormat !== 'json' && o.logFormat !== 'pretty') throw invalid('logFormat', 'log-format', 'json or pretty', o.logFormat)
  if (o.wsPath !== undefined && (!o.wsPath.startsWith('/') || /[?#\s]/.test(o.wsPath))) throw invalid('wsPath', 'ws-path', 'a URL path starting with / (no query)', o.wsPath)
  if (o.httpToken !== undefined && o.httpToken.length < 16) throw invalid('httpToken', 'http-token', 'a token of at least 16 characters', '(' + String(o.httpToken.length) + ' characters)')
  if (o.httpHost !== undefined && !isLoopback(o.httpHost) && o.passwordFile === undefined && o.httpToken === undefined) {
    throw new AppError('CULEX_ERR_INSECURE', `option --http-host: to listen on ${o.httpHost} (not a loopback address) expected --password-file or --http-token, got neither`, { option: 'httpHost' })
  }

  if (o.coapHost !== undefined && !isLoopback(o.coapHost) && o.aclFile === undefined && o.allowAnonymous !== true) {
    throw new AppError('CULEX_ERR_INSECURE', `option --coap-host: to listen on ${o.coapHost} (not a loopback address) expected --acl-file or --allow-anonymous, got neither (CoAP requests carry no credentials)`, { option: 'coapHost' })
  }

  if (o.cluster === true && !(o.store ?? '').startsWith('redis')) {
    throw conflict('cluster', `option --cluster: expected --store redis://..., rediss://... or redis+cluster://... (the nodes meet through Redis), got --store ${o.store ?? 'level'}`)
  }
  if (o.clusterDeadAfter !== undefined && o.cluster !== true) {
    throw conflict('clusterDeadAfter', 'option --cluster-dead-after: expected --cluster (it is the failure detection time of cluster nodes), got no --cluster')
  }
  if (o.cluster === true) {
    // a node's wills are owned by its id: a random id per start would orphan a killed node's
    if (o.nodeId === undefined && o.dataDir === undefined) {
      throw conflict('nodeId', 'option --cluster: expected --node-id <id> (an id of this node that stays the same across restarts), or --data-dir <dir> to keep a generated one in <dir>/node-id; got neither')
    }
    if (o.nodeId !== undefined && !/^[^\s{}]{1,200}$/.test(o.nodeId)) throw invalid('nodeId', 'node-id', 'a cluster node id of 1 to 200 characters without spaces or braces', o.nodeId)
  }
  const storeRaw = o.store ?? 'level'
  let store: StoreChoice
  if (storeRaw === 'memory') store = { kind: 'memory' }
  else if (storeRaw === 'level') store = { kind: 'level', dataDir: resolve(cwd, o.dataDir ?? '.culex-data'), fsync: o.fsync ?? true }
  else if (storeRaw.startsWith('redis')) store = { kind: 'redis', url: storeRaw }
  else store = { kind: 'mongo', url: storeRaw }

  const limits: Config['limits'] = {}
  if (o.maxKeepalive !== undefined) limits.maxKeepalive = o.maxKeepalive
  if (o.maxConnections !== undefined) limits.maxConnections = o.maxConnections === 0 ? Infinity : o.maxConnections
  if (o.maxPacketSize !== undefined) limits.maxPacketSize = o.maxPacketSize
  if (o.maxPendingConnections !== undefined) limits.maxPendingConnections = o.maxPendingConnections
  if (o.maxPendingPerAddress !== undefined) limits.maxPendingPerAddress = o.maxPendingPerAddress
  if (o.maxConnectPacketSize !== undefined) limits.maxConnectPacketSize = o.maxConnectPacketSize
  if (o.maxUserProperties !== undefined) limits.maxUserProperties = o.maxUserProperties
  if (o.maxUserPropertyBytes !== undefined) limits.maxUserPropertyBytes = o.maxUserPropertyBytes
  if (o.maxTopicAliasBytes !== undefined) limits.maxTopicAliasBytes = o.maxTopicAliasBytes
  if (o.maxAliasedTopicLength !== undefined) limits.maxAliasedTopicLength = o.maxAliasedTopicLength
  if (o.maxTopicLevels !== undefined) limits.maxTopicLevels = o.maxTopicLevels
  if (o.maxQueuedMessages !== undefined) limits.maxQueuedMessages = o.maxQueuedMessages
  if (o.maxQueuedBytes !== undefined) limits.maxQueuedBytes = o.maxQueuedBytes
  if (o.stallTimeout !== undefined) limits.stallTimeout = o.stallTimeout
  if (o.maxStoredMessages !== undefined) limits.maxStoredMessages = o.maxStoredMessages
  if (o.maxInflight !== undefined) limits.maxInflight = o.maxInflight
  if (o.maxInflightOut !== undefined) limits.maxInflightOut = o.maxInflightOut
  if (o.maxRetained !== undefined) limits.maxRetained = o.maxRetained === 0 ? Infinity : o.maxRetained
  if (o.connectTimeout !== undefined) limits.connectTimeout = o.connectTimeout
  if (o.publishRate !== undefined) limits.publishRatePerSecond = o.publishRate
  if (o.topicAliasMaximum !== undefined) limits.topicAliasMaximum = o.topicAliasMaximum
  if (o.maxBufferedBytes !== undefined) limits.maxBufferedBytes = o.maxBufferedBytes
  if (o.maxSessionExpiry !== undefined) limits.maxSessionExpiryInterval = o.maxSessionExpiry

  return {
    hosts,
    defaultHosts: o.host === undefined,
    port: o.port ?? 1883,
    tlsPort: o.tlsPort,
    wsPort: o.wsPort,
    wssPort: o.wssPort,
    cert: path(o.cert),
    key: path(o.key),
    ca: path(o.ca),
    requireClientCert: o.requireClientCert ?? false,
    useIdentityAsUsername: o.useIdentityAsUsername ?? false,
    proxyProtocol: o.proxyProtocol ?? false,
    httpStatic: path(o.httpStatic),
    allowAnonymous,
    passwordFile: path(o.passwordFile),
    aclFile: path(o.aclFile),
    store,
    nodeId: o.nodeId,
    cluster: o.cluster ?? false,
    clusterDeadAfter: o.clusterDeadAfter ?? 3000,
    nodeIdDir: o.cluster === true && o.nodeId === undefined ? resolve(cwd, o.dataDir!) : undefined,
    sysInterval: o.sysInterval ?? 10,
    persistInflight: o.persistInflight ?? true,
    queuePolicy: (o.queuePolicy ?? 'block') as QueuePolicy,
    limits,
    verbose: o.verbose ?? false,
    logLevel: (o.logLevel as LogLevel | undefined) ?? (o.verbose === true ? 'debug' : 'info'),
    logFormat: o.logFormat as 'json' | 'pretty' | undefined,
    wsPath: o.wsPath,
    http: {
      port: o.httpPort,
      httpsPort: o.httpsPort,
      hosts: o.httpHost === undefined ? ['127.0.0.1', '::1'] : [o.httpHost],
      defaultHosts: o.httpHost === undefined,
      token: o.httpToken,
      maxBody: o.httpMaxBody ?? 1024 * 1024
    },
    plugins: (o.plugins ?? []).map(p => ({ ...p, baseDir: cwd })),
    bridges: resolveBridgePaths(o.bridges ?? [], cwd),
    coap: o.coapPort === undefined
      ? undefined
      : { port: o.coapPort, hosts: o.coapHost === undefined ? ['127.0.0.1', '::1'] : [o.coapHost], defaultHosts: o.coapHost === undefined, username: o.coapUsername }
  }
}

/** Inputs of {@link loadConfig}; `readFile` is injectable for tests. */
export interface LoadInput {
  argv: readonly string[]
  env: Readonly<Record<string, string | undefined>>
  cwd: string
  readFile?: (path: string) => string
}

/** The result of {@link loadConfig}: a config, or a request for help / version. */
export type LoadResult =
  | { action: 'run', config: Config }
  | { action: 'help' }
  | { action: 'version' }

/**
 * Everything the CLI needs: parse flags and env, read the config file named by `--config`
 * (or `CULEX_CONFIG`), merge flags > env > file > defaults, and check the whole.
 *
 * @throws AppError with one of the CULEX_ERR_* configuration codes
 */
export function loadConfig (input: LoadInput): LoadResult {
  // --help wins even over invalid options, so a user can always read the help.
  if (input.argv.includes('--help') || input.argv.includes('-h')) return { action: 'help' }
  const { options: flags, help, version } = parseArgv(input.argv)
  if (help) return { action: 'help' }
  if (version) return { action: 'version' }
  const env = parseEnv(input.env)
  const configPath = flags.config ?? env.config
  let file: PartialOptions = {}
  if (configPath !== undefined) {
    const abs = resolve(input.cwd, configPath)
    let text: string
    try {
      text = (input.readFile ?? ((p: string) => readFileSync(p, 'utf8')))(abs)
    } catch (err) {
      throw new AppError('CULEX_ERR_CONFIG_FILE', `option --config: expected a readable file, got ${abs} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { option: 'config', cause: err })
    }
    file = parseConfigText(text, abs)
  }
  return { action: 'run', config: finalize(merge(file, env, flags), input.cwd) }
}

export { envName }
