/**
 * Who may use the operator HTTP(S) listener, and which topics they may touch.
 *
 * Identities: a bearer token (`--http-token`: full access, for scrapers and admin tools), or
 * HTTP Basic with a user of the MQTT password file. A Basic user's topic access is the ACL
 * file's, exactly as for an MQTT client of that username (write to publish, read to read);
 * the admin API needs write access to the topic `$CULEX/admin` when there is an ACL file.
 *
 * The password database and ACL are swapped as a whole on reload (SIGHUP): a request sees
 * either the old files or the new ones.
 */
import { readFileSync } from 'node:fs'
import { timingSafeEqual, createHash } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { AppError } from './errors.ts'
import { PasswordDb, parsePasswordFile } from './passwd.ts'
import { Acl, parseAcl } from './acl.ts'

/** The topic whose write right makes a Basic user an admin (with an ACL file). */
export const ADMIN_TOPIC = '$CULEX/admin'

/** An authenticated HTTP caller. */
export interface HttpIdentity {
  /** `token` for the bearer token, else the Basic username. */
  kind: 'token' | 'user'
  username: string | undefined
}

/** The files HTTP access is built from. */
export interface AccessFiles {
  passwordFile: string | undefined
  aclFile: string | undefined
}

function read (file: string, code: 'CULEX_ERR_PASSWORD_FILE' | 'CULEX_ERR_ACL_FILE', what: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    throw new AppError(code, `${what} ${file}: expected a readable file, got ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
  }
}

/** Parsed files, replaced as one. */
interface Loaded {
  db: PasswordDb | undefined
  acl: Acl | undefined
}

/**
 * Read the password and ACL files.
 *
 * @throws AppError CULEX_ERR_PASSWORD_FILE, CULEX_ERR_ACL_FILE
 */
function load (files: AccessFiles): Loaded {
  const db = files.passwordFile === undefined ? undefined : new PasswordDb(parsePasswordFile(read(files.passwordFile, 'CULEX_ERR_PASSWORD_FILE', 'password file'), files.passwordFile))
  const acl = files.aclFile === undefined ? undefined : new Acl(parseAcl(read(files.aclFile, 'CULEX_ERR_ACL_FILE', 'ACL file'), files.aclFile))
  return { db, acl }
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest()

/** Authentication and topic rights of HTTP callers. */
export class HttpAccess {
  readonly #files: AccessFiles
  readonly #token: Buffer | undefined
  #loaded: Loaded

  /**
   * @param token - the bearer token, if configured
   * @throws AppError CULEX_ERR_PASSWORD_FILE, CULEX_ERR_ACL_FILE
   */
  constructor (files: AccessFiles, token: string | undefined) {
    this.#files = files
    this.#token = token === undefined ? undefined : digest(token)
    this.#loaded = load(files)
  }

  /** Whether any identity can log in at all. */
  get canLogIn (): boolean {
    return this.#token !== undefined || this.#loaded.db !== undefined
  }

  /**
   * Read the files again without using them yet: `commit()` swaps them in, so a reload of
   * several files succeeds or fails as a whole.
   *
   * @throws AppError CULEX_ERR_PASSWORD_FILE, CULEX_ERR_ACL_FILE (the old files stay in use)
   */
  prepare (): { commit: () => void } {
    const next = load(this.#files)
    return { commit: () => { this.#loaded = next } }
  }

  /** The caller of `req`, or null when its credentials are missing or wrong. */
  identify (req: IncomingMessage): HttpIdentity | null {
    const h = req.headers.authorization
    if (h === undefined) return null
    const sp = h.indexOf(' ')
    if (sp === -1) return null
    const scheme = h.slice(0, sp).toLowerCase()
    const value = h.slice(sp + 1).trim()
    if (scheme === 'bearer') {
      if (this.#token === undefined) return null
      // compared as digests: constant time, whatever the length
      return timingSafeEqual(digest(value), this.#token) ? { kind: 'token', username: undefined } : null
    }
    if (scheme === 'basic') {
      const db = this.#loaded.db
      if (db === undefined) return null
      const text = Buffer.from(value, 'base64').toString('utf8')
      const colon = text.indexOf(':')
      if (colon <= 0) return null
      const username = text.slice(0, colon)
      return db.check(username, text.slice(colon + 1)) ? { kind: 'user', username } : null
    }
    return null
  }

  /** Whether `who` may publish to `topic` (ACL write right; the token may do anything). */
  canWrite (who: HttpIdentity, topic: string): boolean {
    if (who.kind === 'token') return true
    const acl = this.#loaded.acl
    return acl === undefined || acl.canWrite({ clientId: '', username: who.username }, topic)
  }

  /** Whether `who` may read messages of `topic`. */
  canRead (who: HttpIdentity, topic: string): boolean {
    if (who.kind === 'token') return true
    const acl = this.#loaded.acl
    return acl === undefined || acl.canRead({ clientId: '', username: who.username }, topic)
  }

  /** Whether `who` may use the admin API (see {@link ADMIN_TOPIC}). */
  isAdmin (who: HttpIdentity): boolean {
    return this.canWrite(who, ADMIN_TOPIC)
  }
}
