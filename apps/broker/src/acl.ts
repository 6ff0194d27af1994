/**
 * Mosquitto ACL files and the access checks built on them.
 *
 * File format (Mosquitto 2.0):
 * ```
 * # comment (only at the start of a line)
 * topic [read|write|readwrite|deny] <filter>    applies to anonymous clients until the first `user` line,
 * user <username>                               then to that user
 * pattern [read|write|readwrite|deny] <filter>  applies to every client; %c = client id, %u = username
 * ```
 * The access word is optional (default readwrite). Checks, as Mosquitto does them: the
 * client's own rules (its user's, or the anonymous ones) then the patterns; within each list
 * `deny` rules first; the first matching rule decides; nothing matching means denied. A topic
 * starting with `$` only matches rules whose filter starts with `$`. Pattern rules deny
 * clients whose id or username contains `+` or `#`; `%u` rules skip clients without a username.
 * Without an ACL file everything is allowed.
 *
 * Beyond Mosquitto 2.0 (whose file ACL does not check SUBSCRIBE), a SUBSCRIBE is checked here
 * so the refusal can be answered in the SUBACK: the filter is refused when a deny rule covers
 * it, and granted when a read rule covers it. Each delivered message is then checked again
 * with {@link Acl.canRead}, so a granted `#` still never delivers a denied topic.
 */
import { AppError } from './errors.ts'
import { isValidFilter, levelsCover, levelsIntersect, levelsMatch } from './topic-match.ts'

/** One ACL rule. */
export interface AclRule {
  access: 'read' | 'write' | 'readwrite' | 'deny'
  filter: string
  /** 1-based line in the file, for messages. */
  line: number
}

/** A parsed ACL file. */
export interface AclRules {
  /** Rules before any `user` line: anonymous clients. */
  anonymous: AclRule[]
  users: Map<string, AclRule[]>
  patterns: AclRule[]
}

/** Who is asking. */
export interface AclSubject {
  clientId: string
  username: string | undefined
}

const ACCESS = new Set(['read', 'write', 'readwrite', 'deny'])

/**
 * Parse an ACL file.
 *
 * @throws AppError CULEX_ERR_ACL_FILE naming the file and line
 */
export function parseAcl (text: string, file: string): AclRules {
  const rules: AclRules = { anonymous: [], users: new Map(), patterns: [] }
  let current: AclRule[] = rules.anonymous
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trimEnd()
    if (line.startsWith('#')) continue
    const trimmed = line.trimStart()
    if (trimmed === '') continue
    const fail = (expected: string): AppError => new AppError('CULEX_ERR_ACL_FILE',
      `ACL file ${file} line ${i + 1}: expected ${expected}, got ${JSON.stringify(line.slice(0, 60))}`)
    const sp = trimmed.indexOf(' ')
    const word = sp === -1 ? trimmed : trimmed.slice(0, sp)
    const rest = sp === -1 ? '' : trimmed.slice(sp + 1).trimStart()
    if (word === 'user') {
      if (rest === '') throw fail('a username after "user"')
      let list = rules.users.get(rest)
      if (list === undefined) { list = []; rules.users.set(rest, list) }
      current = list
    } else if (word === 'topic' || word === 'pattern') {
      if (rest === '') throw fail(`a topic filter after "${word}"`)
      const sp2 = rest.indexOf(' ')
      let access: AclRule['access'] = 'readwrite'
      let filter = rest
      if (sp2 !== -1) {
        const a = rest.slice(0, sp2)
        if (!ACCESS.has(a)) throw fail('read, write, readwrite or deny before the topic filter')
        access = a as AclRule['access']
        filter = rest.slice(sp2 + 1).trim()
      }
      if (!isValidFilter(filter)) throw fail('a valid topic filter')
      const rule = { access, filter, line: i + 1 }
      const list = word === 'topic' ? current : rules.patterns
      // deny rules are checked before grants, as in Mosquitto
      if (access === 'deny') list.splice(list.findIndex(r => r.access !== 'deny') === -1 ? list.length : list.findIndex(r => r.access !== 'deny'), 0, rule)
      else list.push(rule)
    } else {
      throw fail('a line starting with "user", "topic", "pattern" or "#"')
    }
  }
  return rules
}

type Want = 'read' | 'write'

const grants = (rule: AclRule, want: Want): boolean => rule.access === 'readwrite' || rule.access === want

/** A rule with its filter split into levels once, at load. */
interface Compiled {
  rule: AclRule
  levels: string[]
  dollar: boolean
  /** Pattern rules: which levels hold %c / %u (substituted per check). */
  subst: boolean
  needsUser: boolean
}

function compile (rule: AclRule, pattern: boolean): Compiled {
  return {
    rule,
    levels: rule.filter.split('/'),
    dollar: rule.filter.startsWith('$'),
    subst: pattern && (rule.filter.includes('%c') || rule.filter.includes('%u')),
    needsUser: pattern && rule.filter.includes('%u')
  }
}

/**
 * Access checks over parsed rules (or no rules: everything allowed). Rules are split into
 * levels once; a check splits the topic once and compares levels, instead of splitting
 * every rule's filter per check (a 1,000-rule file: 478 µs per check before, see
 * bench/acl-fanout.bench.ts for the current number).
 */
export class Acl {
  readonly #rules: AclRules | undefined
  readonly #anonymous: Compiled[] = []
  readonly #users = new Map<string, Compiled[]>()
  readonly #patterns: Compiled[] = []

  /** @param rules - from {@link parseAcl}; undefined allows everything */
  constructor (rules?: AclRules) {
    this.#rules = rules
    if (rules === undefined) return
    this.#anonymous = rules.anonymous.map((r) => compile(r, false))
    for (const [user, list] of rules.users) this.#users.set(user, list.map((r) => compile(r, false)))
    this.#patterns = rules.patterns.map((r) => compile(r, true))
  }

  /** Whether the client may publish to `topic`. */
  canWrite (who: AclSubject, topic: string): boolean {
    return this.#check(who, topic, 'write', levelsMatch)
  }

  /** Whether the client may receive a message on `topic`. */
  canRead (who: AclSubject, topic: string): boolean {
    return this.#check(who, topic, 'read', levelsMatch)
  }

  /**
   * Whether the client may subscribe to `filter` (a `$share/group/` prefix is removed first).
   * Refused when a deny rule covers the filter or no read rule covers it.
   */
  canSubscribe (who: AclSubject, filter: string): boolean {
    if (filter.startsWith('$share/')) {
      const parts = filter.split('/')
      filter = parts.slice(2).join('/')
    }
    return this.#check(who, filter, 'read', levelsCover)
  }

  /**
   * Whether the client may read **every** topic `filter` matches (false when that cannot be
   * told from the rules alone): a rule granting read covers the filter and no deny rule can
   * match any of its topics. Lets the engine skip the per-topic check for such subscriptions.
   */
  canReadFilter (who: AclSubject, filter: string): boolean {
    if (this.#rules === undefined) return true
    if (filter.startsWith('$share/')) filter = filter.split('/').slice(2).join('/')
    const f = filter.split('/')
    // a filter starting with a wildcard never matches `$` topics; one starting with `$` only
    // `$` topics, which only rules starting with `$` match
    const dollar = filter.startsWith('$')
    let covered = false
    const own = who.username === undefined ? this.#anonymous : this.#users.get(who.username)
    if (own !== undefined) {
      for (const c of own) {
        if (c.dollar !== dollar) continue
        if (c.rule.access === 'deny') {
          if (levelsIntersect(c.levels, f)) return false
        } else if (grants(c.rule, 'read') && levelsCover(c.levels, f)) {
          covered = true
        }
      }
    }
    if (this.#patterns.length > 0 && !/[+#]/.test(who.clientId) && (who.username === undefined || !/[+#]/.test(who.username))) {
      for (const c of this.#patterns) {
        if (c.needsUser && who.username === undefined) continue
        const pf = c.subst ? c.rule.filter.replaceAll('%c', who.clientId).replaceAll('%u', who.username ?? '') : c.rule.filter
        if (pf.startsWith('$') !== dollar) continue
        const levels = c.subst ? pf.split('/') : c.levels
        if (c.rule.access === 'deny') {
          if (levelsIntersect(levels, f)) return false
        } else if (grants(c.rule, 'read') && levelsCover(levels, f)) {
          covered = true
        }
      }
    }
    return covered
  }

  #check (who: AclSubject, topic: string, want: Want, relation: (rule: string[], topic: string[]) => boolean): boolean {
    if (this.#rules === undefined) return true
    const own = who.username === undefined ? this.#anonymous : this.#users.get(who.username)
    const dollar = topic.startsWith('$')
    const levels = topic.split('/')
    if (own !== undefined) {
      for (const c of own) {
        if (dollar && !c.dollar) continue
        if (relation(c.levels, levels)) {
          if (c.rule.access === 'deny') return false
          if (grants(c.rule, want)) return true
        }
      }
    }
    if (this.#patterns.length === 0) return false
    // A client id or username with wildcards could reach other clients' trees.
    if (/[+#]/.test(who.clientId) || (who.username !== undefined && /[+#]/.test(who.username))) return false
    for (const c of this.#patterns) {
      if (c.needsUser && who.username === undefined) continue
      let f = c.levels
      if (c.subst) {
        const filter = c.rule.filter.replaceAll('%c', who.clientId).replaceAll('%u', who.username ?? '')
        if (dollar && !filter.startsWith('$')) continue
        f = filter.split('/')
      } else if (dollar && !c.dollar) {
        continue
      }
      if (relation(f, levels)) {
        if (c.rule.access === 'deny') return false
        if (grants(c.rule, want)) return true
      }
    }
    return false
  }
}
