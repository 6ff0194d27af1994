/**
 * `culex:jwt-auth` — clients authenticate with a JSON Web Token in the CONNECT password
 * field, verified with `jose`: the signature (an HMAC secret, or a public key from a PEM
 * file), `exp` and `nbf` (with `clockTolerance`), and optionally `iss`, `aud` and the
 * username (`usernameClaim`). A token without `exp` is refused unless `requireExp: false`.
 *
 * Optional claims mapping: `publishClaim` / `subscribeClaim` name claims holding a topic
 * filter or a list of filters. With `publishClaim` set, a client may publish only to topics
 * those filters match; with `subscribeClaim` set, it may subscribe only to filters they
 * cover and receives only topics they match (checked per delivery). A token without the
 * claim grants nothing. Once the token's `exp` has passed, every publish, subscribe and
 * delivery of that connection is refused.
 */
import { readFileSync } from 'node:fs'
import { createPublicKey, type KeyObject } from 'node:crypto'
import { jwtVerify, type JWTPayload, type JWTVerifyOptions } from 'jose'
import type { Client } from '@culex/broker'
import type { PluginContext, PluginHooks } from './index.ts'
import { PluginOptionError, checkKnown, levelsMatch, optBool, optInt, optString, optStrings, unshare } from './options.ts'
import { filterMatches, filterCovers } from '../topic-match.ts'

const KNOWN = ['secret', 'secretFile', 'publicKeyFile', 'algorithms', 'issuer', 'audience', 'clockTolerance', 'requireExp', 'usernameClaim', 'publishClaim', 'subscribeClaim'] as const

interface Grant {
  /** exp in ms since epoch, or Infinity */
  expires: number
  publish: string[] | undefined
  subscribe: string[] | undefined
  /** `subscribe` split into levels once, for the per-delivery check */
  read: string[][] | undefined
}

function claimFilters (payload: JWTPayload, claim: string | undefined): string[] | undefined {
  if (claim === undefined) return undefined
  const v = payload[claim]
  if (typeof v === 'string') return [v]
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string')
  return [] // configured but absent or malformed: no rights
}

/** As in ACL files: a `$` topic is only matched by a filter that starts with `$` too. */
function dollarOk (filter: string, topic: string): boolean {
  return topic.charCodeAt(0) !== 0x24 || filter.charCodeAt(0) === 0x24
}

function defaultAlgorithms (key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case 'rsa': return ['RS256', 'RS384', 'RS512']
    case 'rsa-pss': return ['PS256', 'PS384', 'PS512']
    case 'ec': return ['ES256', 'ES384', 'ES512']
    case 'ed25519': case 'ed448': return ['EdDSA', 'Ed25519']
    default: return []
  }
}

/**
 * Build the hooks of the JWT plugin.
 *
 * @throws Error naming the option when `options` are invalid (culex: CULEX_ERR_PLUGIN)
 */
export default function jwtAuth (ctx: Pick<PluginContext, 'logger' | 'options' | 'resolvePath'>, clock: () => number = Date.now): PluginHooks {
  const o = ctx.options
  checkKnown(o, KNOWN, 'culex:jwt-auth')
  const secret = optString(o, 'secret')
  const secretFile = optString(o, 'secretFile')
  const publicKeyFile = optString(o, 'publicKeyFile')
  if ([secret, secretFile, publicKeyFile].filter(x => x !== undefined).length !== 1) {
    throw new PluginOptionError('secret/secretFile/publicKeyFile', 'exactly one of them', [secret === undefined ? null : '<secret>', secretFile ?? null, publicKeyFile ?? null])
  }
  const read = (key: string, file: string): Buffer => {
    try {
      return readFileSync(ctx.resolvePath(file))
    } catch (err) {
      throw new PluginOptionError(key, 'a readable file', `${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
    }
  }
  let key: Uint8Array | KeyObject
  let algorithms: string[]
  if (publicKeyFile !== undefined) {
    try {
      key = createPublicKey(read('publicKeyFile', publicKeyFile))
    } catch (err) {
      if (err instanceof PluginOptionError) throw err
      throw new PluginOptionError('publicKeyFile', 'a PEM public key or certificate', `${publicKeyFile} (${(err as Error).message})`)
    }
    algorithms = optStrings(o, 'algorithms') ?? defaultAlgorithms(key)
  } else {
    key = new TextEncoder().encode(secret ?? read('secretFile', secretFile!).toString('utf8').trim())
    if (key.length < 32) throw new PluginOptionError(secret !== undefined ? 'secret' : 'secretFile', 'at least 32 bytes (HS256 needs a 256-bit key)', `${key.length} bytes`)
    algorithms = optStrings(o, 'algorithms') ?? ['HS256']
  }
  const verifyOptions: JWTVerifyOptions = {
    algorithms,
    clockTolerance: optInt(o, 'clockTolerance', 0, 86_400, 0),
    ...(optBool(o, 'requireExp', true) ? { requiredClaims: ['exp'] } : {})
  }
  const issuer = optStrings(o, 'issuer')
  if (issuer !== undefined) verifyOptions.issuer = issuer
  const audience = optStrings(o, 'audience')
  if (audience !== undefined) verifyOptions.audience = audience
  const usernameClaim = optString(o, 'usernameClaim')
  const publishClaim = optString(o, 'publishClaim')
  const subscribeClaim = optString(o, 'subscribeClaim')
  const log = ctx.logger
  const grants = new WeakMap<Client, Grant>()

  /** The client's grant while its token is valid. */
  const valid = (client: Client): Grant | undefined => {
    const g = grants.get(client)
    if (g === undefined || g.expires <= clock()) return undefined
    return g
  }

  const hooks: PluginHooks = {
    name: 'culex:jwt-auth',
    authenticate: async (client, username, password) => {
      if (password === undefined || password.length === 0) return false
      let payload: JWTPayload
      try {
        ({ payload } = await jwtVerify(password.toString('utf8'), key, { ...verifyOptions, currentDate: new Date(clock()) }))
      } catch (err) {
        log.debug({ clientId: client.id, username, code: (err as { code?: string }).code, reason: (err as Error).message }, 'JWT refused')
        return false
      }
      if (usernameClaim !== undefined && payload[usernameClaim] !== username) {
        log.debug({ clientId: client.id, username, claim: usernameClaim }, 'JWT refused: username does not match the claim')
        return false
      }
      const subscribe = claimFilters(payload, subscribeClaim)
      grants.set(client, {
        expires: typeof payload.exp === 'number' ? payload.exp * 1000 + (verifyOptions.clockTolerance as number) * 1000 : Infinity,
        publish: claimFilters(payload, publishClaim),
        subscribe,
        read: subscribe?.map(f => f.split('/'))
      })
      return true
    },
    authorizePublish: (client, packet) => {
      const g = valid(client)
      if (g === undefined) return false
      return g.publish === undefined || g.publish.some(f => dollarOk(f, packet.topic) && filterMatches(f, packet.topic))
    },
    authorizeSubscribe: (client, sub) => {
      const g = valid(client)
      if (g === undefined) return false
      const filter = unshare(sub.topic)
      return g.subscribe === undefined || g.subscribe.some(f => dollarOk(f, filter) && filterCovers(f, filter))
    },
    authorizeRead: (client, topic) => {
      const g = valid(client)
      if (g === undefined) return false
      if (g.read === undefined) return true
      for (let i = 0; i < g.read.length; i++) {
        const levels = g.read[i]!
        if (dollarOk(levels[0]!, topic) && levelsMatch(levels, topic)) return true
      }
      return false
    }
  }
  return hooks
}
