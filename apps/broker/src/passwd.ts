/**
 * Mosquitto password files: `username:hash` per line, where the hash is
 * `$7$<iterations>$<base64 salt>$<base64 PBKDF2-HMAC-SHA512 of 64 bytes>` (mosquitto 2.0's
 * default, 101 iterations, 12-byte salt) or the older `$6$<base64 salt>$<base64
 * SHA512(password || salt)>`. Both verify; new hashes are `$7$` unless asked otherwise.
 *
 * Verification is constant-time in the hash comparison. Usernames cannot contain `:`.
 */
import { pbkdf2Sync, createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { AppError } from './errors.ts'

/** Hash algorithms, named as `mosquitto_passwd -H` names them. */
export type HashAlgorithm = 'sha512-pbkdf2' | 'sha512'

/** Mosquitto 2.0's default PBKDF2 iteration count. */
export const DEFAULT_ITERATIONS = 101
const SALT_LEN = 12
const KEY_LEN = 64

/**
 * Hash a password in Mosquitto's format.
 *
 * @param password - the clear password (UTF-8)
 * @param opts - `algorithm` (default `sha512-pbkdf2`), `iterations` (default 101), `salt` (default 12 random bytes)
 * @returns `$7$101$...$...` or `$6$...$...`
 * @example
 * ```ts
 * const line = `alice:${hashPassword('secret')}`
 * ```
 */
export function hashPassword (password: string, opts: { algorithm?: HashAlgorithm, iterations?: number, salt?: Buffer } = {}): string {
  const salt = opts.salt ?? randomBytes(SALT_LEN)
  if ((opts.algorithm ?? 'sha512-pbkdf2') === 'sha512') {
    const digest = createHash('sha512').update(password, 'utf8').update(salt).digest()
    return `$6$${salt.toString('base64')}$${digest.toString('base64')}`
  }
  const iterations = opts.iterations ?? DEFAULT_ITERATIONS
  const key = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, KEY_LEN, 'sha512')
  return `$7$${iterations}$${salt.toString('base64')}$${key.toString('base64')}`
}

/** A parsed hash, ready to verify against. */
export interface ParsedHash {
  algorithm: HashAlgorithm
  iterations: number
  salt: Buffer
  hash: Buffer
}

const B64 = /^[A-Za-z0-9+/]+={0,2}$/

/**
 * Parse `$6$salt$hash` or `$7$iterations$salt$hash`; null when it is neither.
 */
export function parseHash (text: string): ParsedHash | null {
  const parts = text.split('$')
  if (parts[0] !== '') return null
  if (parts[1] === '6' && parts.length === 4 && B64.test(parts[2] as string) && B64.test(parts[3] as string)) {
    return { algorithm: 'sha512', iterations: 0, salt: Buffer.from(parts[2] as string, 'base64'), hash: Buffer.from(parts[3] as string, 'base64') }
  }
  if (parts[1] === '7' && parts.length === 5 && /^[1-9]\d{0,8}$/.test(parts[2] as string) && B64.test(parts[3] as string) && B64.test(parts[4] as string)) {
    return { algorithm: 'sha512-pbkdf2', iterations: Number(parts[2]), salt: Buffer.from(parts[3] as string, 'base64'), hash: Buffer.from(parts[4] as string, 'base64') }
  }
  return null
}

/**
 * Whether `password` matches a stored hash (`$6$` or `$7$`, string or parsed).
 *
 * @example
 * ```ts
 * verifyPassword('secret', hashPassword('secret')) // true
 * ```
 */
export function verifyPassword (password: string | Buffer, stored: string | ParsedHash): boolean {
  const h = typeof stored === 'string' ? parseHash(stored) : stored
  if (h === null || h.hash.length === 0) return false
  const pw = typeof password === 'string' ? Buffer.from(password, 'utf8') : password
  const got = h.algorithm === 'sha512'
    ? createHash('sha512').update(pw).update(h.salt).digest()
    : pbkdf2Sync(pw, h.salt, h.iterations, h.hash.length, 'sha512')
  return got.length === h.hash.length && timingSafeEqual(got, h.hash)
}

/** One line of a password file; `hash` is the raw text after the first `:`. */
export interface PasswordEntry {
  username: string
  hash: string
}

/**
 * Split a password file into entries, keeping order. Blank lines and `#` comments are
 * skipped. With `requireHashed` (the broker's use) every entry must be a `$6$`/`$7$` hash.
 *
 * @throws AppError CULEX_ERR_PASSWORD_FILE naming the file and line
 */
export function parsePasswordFile (text: string, file: string, requireHashed = true): PasswordEntry[] {
  const out: PasswordEntry[] = []
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).replace(/\r$/, '')
    if (line.trim() === '' || line.startsWith('#')) continue
    const colon = line.indexOf(':')
    if (colon <= 0) {
      throw new AppError('CULEX_ERR_PASSWORD_FILE', `password file ${file} line ${i + 1}: expected "username:hash", got ${JSON.stringify(line.slice(0, 40))}`)
    }
    const username = line.slice(0, colon)
    const hash = line.slice(colon + 1)
    if (requireHashed && parseHash(hash) === null) {
      throw new AppError('CULEX_ERR_PASSWORD_FILE', `password file ${file} line ${i + 1}: expected a $6$ or $7$ hash for user ${JSON.stringify(username)}, got ${JSON.stringify(hash.slice(0, 12) + (hash.length > 12 ? '...' : ''))} (plain-text files can be converted with culex passwd -U)`)
    }
    out.push({ username, hash })
  }
  return out
}

/** Render entries back to file text (one `user:hash` per line, trailing newline). */
export function formatPasswordFile (entries: readonly PasswordEntry[]): string {
  return entries.map(e => `${e.username}:${e.hash}\n`).join('')
}

/**
 * Username → parsed hash, as the broker checks credentials. A later line for the same user
 * wins, as in mosquitto.
 */
export class PasswordDb {
  readonly #users = new Map<string, ParsedHash>()

  /** @param entries - from {@link parsePasswordFile} with `requireHashed` */
  constructor (entries: readonly PasswordEntry[]) {
    for (const e of entries) {
      const h = parseHash(e.hash)
      if (h !== null) this.#users.set(e.username, h)
    }
  }

  /** Number of users. */
  get size (): number { return this.#users.size }

  /** Whether `username` exists and `password` matches its hash. */
  check (username: string, password: Buffer | string | undefined): boolean {
    const h = this.#users.get(username)
    if (h === undefined || password === undefined) return false
    return verifyPassword(password, h)
  }
}
